//! Launcher for `shaders/elementwise/binary.wgsl`: add and mul, with `b` broadcast over the
//! leading axes when it is shorter.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::elementwise::BinaryOp;

/// Keep in sync with `Params` in shaders/elementwise/binary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct BinaryParams {
    n: u32,
    b_len: u32,
}

const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "elementwise_binary",
    shader: Shader::ElementwiseBinary,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// `out = a op b`, where `b.numel()` divides `a.numel()` (equal for the plain case).
pub fn binary(
    rec: &mut Recorder,
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
) -> Result<()> {
    for t in [a, b, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let n = a.numel();
    if out.numel() != n {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("a {:?} but out {:?}", a.shape(), out.shape()),
        ));
    }
    if b.numel() == 0 || !n.is_multiple_of(b.numel()) {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "b {:?} does not broadcast over a {:?}",
                b.shape(),
                a.shape()
            ),
        ));
    }
    let n = u32::try_from(n).map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 elements"))?;
    let params = BinaryParams {
        n,
        b_len: b.numel() as u32,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("OP", op.code())],
        params: bytemuck::bytes_of(&params),
        tensors: &[a, b, out],
        workgroups: grid_1d(n.div_ceil(WORKGROUP)),
    })
}

/// `out = a + b`.
pub fn add(rec: &mut Recorder, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    binary(rec, BinaryOp::Add, a, b, out)
}

/// `out = a * b`.
pub fn mul(rec: &mut Recorder, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    binary(rec, BinaryOp::Mul, a, b, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<BinaryParams>(Shader::ElementwiseBinary, "Params");
    }
}
