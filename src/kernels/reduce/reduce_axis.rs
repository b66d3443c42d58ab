//! Launcher for `shaders/reduce/reduce_axis.wgsl`: sum, mean or max along one axis, one
//! workgroup per output element, or one thread per output element when the axis is short; axes
//! longer than [`CHUNKED_MIN_AXIS`] in two passes (chunk partials from many workgroups, then
//! their reduction), so that every length stays within the per-invocation loop budget (README,
//! "Portability: loop budget per invocation").

use bytemuck::{Pod, Zeroable};

use super::{check_reduction, AxisView};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::reduce::ReduceOp;
pub(crate) use crate::params::reduce::SERIAL_MAX_AXIS;

/// Keep in sync with `Params` in shaders/reduce/reduce_axis.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct ReduceParams {
    rows: u32,
    axis_len: u32,
    inner: u32,
    chunk: u32,
    chunks: u32,
}

/// Axes longer than this are reduced in chunks by many workgroups (`chunked`), then over the
/// chunks: 256 strided steps per thread at most in one workgroup.
pub const CHUNKED_MIN_AXIS: usize = 65_536;

/// Axis values per chunk of `chunked` (16 strided steps per thread).
const CHUNK: usize = 4096;

static KERNEL_CHUNKED: Kernel = Kernel {
    name: "reduce_axis_chunked",
    shader: Shader::ReduceAxis,
    entry: "chunked",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Threads per workgroup of both entry points (`WG` in the shader).
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "reduce_axis",
    shader: Shader::ReduceAxis,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

static KERNEL_SERIAL: Kernel = Kernel {
    name: "reduce_axis_serial",
    shader: Shader::ReduceAxis,
    entry: "serial",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Reduces `x` along `axis` into `out`, whose shape is `x`'s with that axis removed or kept as 1.
/// Errors: axis out of range or of length 0 (`InvalidArgument`), `out` of the wrong size
/// (`Shape`).
pub fn reduce_axis(
    rec: &mut Recorder,
    op: ReduceOp,
    x: &Tensor,
    axis: usize,
    out: &Tensor,
) -> Result<()> {
    for t in [x, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let view = AxisView::new(KERNEL.name, x.shape(), axis)?;
    let (rows, axis_len, inner) = check_reduction(KERNEL.name, x, &view, out)?;
    let mut params = ReduceParams {
        rows,
        axis_len,
        inner,
        chunk: 0,
        chunks: 0,
    };
    if view.axis_len > CHUNKED_MIN_AXIS {
        let chunks = view.axis_len.div_ceil(CHUNK);
        params.chunk = CHUNK as u32;
        params.chunks = chunks as u32;
        let outer = rows as usize / inner.max(1) as usize;
        let partials = Tensor::zeros(
            rec.context(),
            &[outer, chunks, inner.max(1) as usize],
            DType::F32,
        )?;
        let groups = (rows as usize)
            .checked_mul(chunks)
            .and_then(|g| u32::try_from(g).ok())
            .ok_or_else(|| crate::error::HarkError::invalid(KERNEL.name, "over 2^32 chunks"))?;
        rec.dispatch(Launch {
            kernel: &KERNEL_CHUNKED,
            constants: vec![("OP", op.code())],
            params: bytemuck::bytes_of(&params),
            tensors: &[x, &partials],
            workgroups: grid_1d(groups),
        })?;
        // The chunk partials of a mean are already divided by the axis length.
        let second = if op == ReduceOp::Max {
            ReduceOp::Max
        } else {
            ReduceOp::Sum
        };
        return reduce_axis(rec, second, &partials, 1, out);
    }
    // Both grids may pass 65535 groups (a [70000, 100] tensor reduced along its last axis has
    // 70000 rows); grid_1d folds them into 2-D and the shader rebuilds the linear id.
    let (kernel, workgroups) = if view.axis_len <= SERIAL_MAX_AXIS {
        (&KERNEL_SERIAL, grid_1d(rows.div_ceil(WORKGROUP)))
    } else {
        (&KERNEL, grid_1d(rows))
    };
    rec.dispatch(Launch {
        kernel,
        constants: vec![("OP", op.code())],
        params: bytemuck::bytes_of(&params),
        tensors: &[x, out],
        workgroups,
    })
}

/// Sum along `axis`.
pub fn sum(rec: &mut Recorder, x: &Tensor, axis: usize, out: &Tensor) -> Result<()> {
    reduce_axis(rec, ReduceOp::Sum, x, axis, out)
}

/// Mean along `axis`.
pub fn mean(rec: &mut Recorder, x: &Tensor, axis: usize, out: &Tensor) -> Result<()> {
    reduce_axis(rec, ReduceOp::Mean, x, axis, out)
}

/// Maximum along `axis`.
pub fn max(rec: &mut Recorder, x: &Tensor, axis: usize, out: &Tensor) -> Result<()> {
    reduce_axis(rec, ReduceOp::Max, x, axis, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<ReduceParams>(Shader::ReduceAxis, "Params");
    }
}
