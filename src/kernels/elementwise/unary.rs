//! Launcher for `shaders/elementwise/unary.wgsl`: scale, ReLU, LeakyReLU, sigmoid, tanh and ReLU6, one
//! output element per input element. Sigmoid and tanh are evaluated in overflow-free forms.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::elementwise::UnaryOp;

/// Keep in sync with `Params` in shaders/elementwise/unary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct UnaryParams {
    n: u32,
    alpha: f32,
}

/// One thread per element; 256 is the largest workgroup every WebGPU device accepts.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "elementwise_unary",
    shader: Shader::ElementwiseUnary,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// `out = op(x)`, elementwise; `out` has `x`'s element count (any shape).
pub fn unary(rec: &mut Recorder, op: UnaryOp, x: &Tensor, out: &Tensor) -> Result<()> {
    for t in [x, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} but out {:?}", x.shape(), out.shape()),
        ));
    }
    let n = u32::try_from(x.numel())
        .map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 elements"))?;
    let params = UnaryParams {
        n,
        alpha: op.alpha(),
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("OP", op.code())],
        params: bytemuck::bytes_of(&params),
        tensors: &[x, out],
        workgroups: grid_1d(n.div_ceil(WORKGROUP)),
    })
}

/// `out = x * factor`.
pub fn scale(rec: &mut Recorder, x: &Tensor, factor: f32, out: &Tensor) -> Result<()> {
    unary(rec, UnaryOp::Scale(factor), x, out)
}

/// `out = max(x, 0)`.
pub fn relu(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    unary(rec, UnaryOp::Relu, x, out)
}

/// `out = x` where `x >= 0`, else `slope * x`.
pub fn leaky_relu(rec: &mut Recorder, x: &Tensor, slope: f32, out: &Tensor) -> Result<()> {
    unary(rec, UnaryOp::LeakyRelu(slope), x, out)
}

/// `out = 1 / (1 + e^-x)`, finite for every finite `x`.
pub fn sigmoid(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    unary(rec, UnaryOp::Sigmoid, x, out)
}

/// `out = tanh(x)`, finite for every finite `x`.
pub fn tanh(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    unary(rec, UnaryOp::Tanh, x, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<UnaryParams>(Shader::ElementwiseUnary, "Params");
    }
}
