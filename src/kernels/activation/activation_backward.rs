//! Launcher for `shaders/activation/activation_backward.wgsl`: gradients of LeakyReLU, sigmoid,
//! tanh, softplus and ReLU6 from what their forward passes saved.

use bytemuck::{Pod, Zeroable};

use super::same_numel;
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

pub use crate::params::activation::ActivationGrad;

/// Keep in sync with `Params` in shaders/activation/activation_backward.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ActivationBackwardParams {
    n: u32,
    alpha: f32,
    threshold: f32,
}

/// One thread per element; 256 is the largest workgroup every WebGPU device accepts.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "activation_backward",
    shader: Shader::ActivationBackward,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// `grad_in = grad_out * f'`, elementwise, with `f'` computed from `saved` (see
/// [`ActivationGrad`]). All three tensors hold the same number of elements.
pub fn activation_backward(
    rec: &mut Recorder,
    op: ActivationGrad,
    saved: &Tensor,
    grad_out: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    let n = same_numel(KERNEL.name, saved, &[grad_out, grad_in])?;
    let (alpha, threshold) = match op {
        ActivationGrad::LeakyRelu(slope) => (slope, 0.0),
        ActivationGrad::Softplus { beta, threshold } => {
            if beta.is_nan() || beta <= 0.0 {
                return Err(HarkError::invalid(
                    KERNEL.name,
                    format!("softplus beta {beta} must be positive"),
                ));
            }
            (beta, threshold)
        }
        ActivationGrad::Sigmoid | ActivationGrad::Tanh | ActivationGrad::Relu6 => (0.0, 0.0),
    };
    let params = ActivationBackwardParams {
        n,
        alpha,
        threshold,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("OP", op.code())],
        params: bytemuck::bytes_of(&params),
        tensors: &[saved, grad_out, grad_in],
        workgroups: grid_1d(n.div_ceil(WORKGROUP)),
    })
}

/// LeakyReLU backward from the forward input `x`: `grad_out` where `x > 0`, else
/// `slope * grad_out` (torch's convention at 0).
pub fn leaky_relu_backward(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    slope: f32,
    grad_in: &Tensor,
) -> Result<()> {
    activation_backward(rec, ActivationGrad::LeakyRelu(slope), x, grad_out, grad_in)
}

/// Sigmoid backward from the forward output `y`: `grad_out * y * (1 - y)`.
pub fn sigmoid_backward(
    rec: &mut Recorder,
    y: &Tensor,
    grad_out: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    activation_backward(rec, ActivationGrad::Sigmoid, y, grad_out, grad_in)
}

/// Tanh backward from the forward output `y`: `grad_out * (1 - y^2)`.
pub fn tanh_backward(
    rec: &mut Recorder,
    y: &Tensor,
    grad_out: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    activation_backward(rec, ActivationGrad::Tanh, y, grad_out, grad_in)
}

/// Softplus backward from the forward input `x`: `grad_out * sigmoid(beta x)`, or `grad_out`
/// where `beta x > threshold`.
pub fn softplus_backward(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    beta: f32,
    threshold: f32,
    grad_in: &Tensor,
) -> Result<()> {
    let op = ActivationGrad::Softplus { beta, threshold };
    activation_backward(rec, op, x, grad_out, grad_in)
}

/// ReLU6 backward from the forward input `x`: `grad_out` where `0 < x < 6`, else 0 (torch's
/// hardtanh_backward: zero at both kinks).
pub fn relu6_backward(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    activation_backward(rec, ActivationGrad::Relu6, x, grad_out, grad_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<ActivationBackwardParams>(
            Shader::ActivationBackward,
            "Params",
        );
    }
}
