//! CPU twin of `shaders/activation/activation_backward.wgsl`.

use crate::params::activation::ActivationGrad;

/// `grad_out * f'` from `saved` (the input for LeakyReLU and softplus, the output for sigmoid
/// and tanh).
pub fn activation_backward(op: ActivationGrad, saved: &[f64], grad_out: &[f64]) -> Vec<f64> {
    saved
        .iter()
        .zip(grad_out)
        .map(|(&s, &g)| match op {
            ActivationGrad::LeakyRelu(slope) => {
                if s > 0.0 {
                    g
                } else {
                    g * f64::from(slope)
                }
            }
            ActivationGrad::Sigmoid => g * s * (1.0 - s),
            ActivationGrad::Tanh => g * (1.0 - s * s),
            ActivationGrad::Relu6 => {
                if s > 0.0 && s < 6.0 {
                    g
                } else {
                    0.0
                }
            }
            ActivationGrad::Softplus { beta, threshold } => {
                let z = f64::from(beta) * s;
                if z > f64::from(threshold) {
                    g
                } else {
                    g / (1.0 + (-z).exp())
                }
            }
        })
        .collect()
}
