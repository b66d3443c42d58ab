//! CPU twin of `shaders/optim/adam.wgsl` (torch.optim.Adam / AdamW semantics).

use crate::params::optim::AdamConfig;

/// One step (`step` from 1) in place.
pub fn adam_step(
    config: &AdamConfig,
    step: u64,
    grad_scale: f32,
    grad: &[f32],
    param: &mut [f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
) {
    let t = step.min(i32::MAX as u64) as i32;
    let c1 = (1.0 - f64::from(config.beta1).powi(t)) as f32;
    let c2 = (1.0 - f64::from(config.beta2).powi(t)) as f32;
    for i in 0..param.len() {
        let mut p = param[i];
        let mut g = grad[i] * grad_scale;
        if config.decoupled {
            p -= config.lr * config.weight_decay * p;
        } else {
            g += config.weight_decay * p;
        }
        let m = config.beta1 * exp_avg[i] + (1.0 - config.beta1) * g;
        let v = config.beta2 * exp_avg_sq[i] + (1.0 - config.beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        param[i] = p - config.lr * (m / c1) / ((v / c2).sqrt() + config.eps);
    }
}
