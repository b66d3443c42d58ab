//! CPU twin of `shaders/elementwise/unary.wgsl`, including its overflow-free sigmoid and its
//! series-or-exponential tanh, so that GPU and CPU agree to a few ulp.

use crate::params::elementwise::UnaryOp;

/// Same threshold as `TANH_SERIES_MAX` in the shader.
const TANH_SERIES_MAX: f32 = 0.25;

fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + (-v).exp());
    }
    let e = v.exp();
    e / (1.0 + e)
}

fn tanh_stable(v: f32) -> f32 {
    let a = v.abs();
    let r = if a < TANH_SERIES_MAX {
        let a2 = a * a;
        a * (1.0
            + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0)))))
    } else {
        let t = (-2.0 * a).exp();
        (1.0 - t) / (1.0 + t)
    };
    if v < 0.0 {
        -r
    } else {
        r
    }
}

/// `out[i] = op(x[i])`.
pub fn unary(op: UnaryOp, x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| match op {
            UnaryOp::Scale(alpha) => v * alpha,
            UnaryOp::Relu => v.max(0.0),
            UnaryOp::LeakyRelu(alpha) => {
                if v >= 0.0 {
                    v
                } else {
                    v * alpha
                }
            }
            UnaryOp::Sigmoid => sigmoid(v),
            UnaryOp::Tanh => tanh_stable(v),
            UnaryOp::Relu6 => v.clamp(0.0, 6.0),
        })
        .collect()
}
