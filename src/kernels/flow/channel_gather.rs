//! Launchers for `shaders/flow/channel_gather.wgsl`: `out[n, j, p] = x[n, index[j], p]` and its
//! adjoint `out[n, index[j], p] += x[n, j, p]` (distinct indices).

use bytemuck::{Pod, Zeroable};

use super::{expect_sizes, layout_u32};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/flow/channel_gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ChannelGatherParams {
    n: u32,
    channels: u32,
    picked: u32,
    inner: u32,
}

const WORKGROUP: u32 = 256;

static GATHER: Kernel = Kernel {
    name: "flow_channel_gather",
    shader: Shader::FlowChannelGather,
    entry: "gather",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static SCATTER_ADD: Kernel = Kernel {
    name: "flow_channel_scatter_add",
    shader: Shader::FlowChannelGather,
    entry: "scatter_add",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Channel numbers as a GPU tensor (u32 bits in f32 words, as the kernels read them).
pub fn index_tensor(ctx: &Context, channels: &[usize]) -> Result<Tensor> {
    let bits = channels
        .iter()
        .map(|&c| to_u32("flow_index", c).map(f32::from_bits))
        .collect::<Result<Vec<f32>>>()?;
    Tensor::from_slice(ctx, &[bits.len()], &bits)
}

/// Checks `full` `[N, C, ..]` against `picked` `[N, K, ..]` and `index` (`K` entries).
fn params(
    kernel: &'static str,
    full: &Tensor,
    picked: &Tensor,
    index: &Tensor,
) -> Result<ChannelGatherParams> {
    let (n, channels, inner) = layout_u32(kernel, full.shape())?;
    let (pn, k, pinner) = layout_u32(kernel, picked.shape())?;
    if pn != n || pinner != inner || index.numel() != k as usize {
        return Err(HarkError::shape(
            kernel,
            format!(
                "{:?} vs {:?} with {} indices",
                full.shape(),
                picked.shape(),
                index.numel()
            ),
        ));
    }
    expect_sizes(
        kernel,
        &[
            ("full", full, full.numel()),
            ("picked", picked, picked.numel()),
            ("index", index, k as usize),
        ],
    )?;
    Ok(ChannelGatherParams {
        n,
        channels,
        picked: k,
        inner,
    })
}

fn launch(
    kernel: &'static Kernel,
    rec: &mut Recorder,
    p: ChannelGatherParams,
    tensors: &[&Tensor],
) -> Result<()> {
    let total = p.n * p.picked * p.inner;
    rec.dispatch(Launch {
        kernel,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors,
        workgroups: grid_1d(total.div_ceil(WORKGROUP)),
    })
}

/// `out[n, j, ..] = x[n, index[j], ..]`: `x` `[N, C, ..]`, `out` `[N, K, ..]`, K indices < C.
/// The caller guarantees the indices are below C (the flow builds them).
pub fn channel_gather(rec: &mut Recorder, x: &Tensor, index: &Tensor, out: &Tensor) -> Result<()> {
    let p = params(GATHER.name, x, out, index)?;
    launch(&GATHER, rec, p, &[x, index, out])
}

/// `out[n, index[j], ..] += x[n, j, ..]`: `x` `[N, K, ..]`, `out` `[N, C, ..]`; the K indices
/// must be distinct and below C.
pub fn channel_scatter_add(
    rec: &mut Recorder,
    x: &Tensor,
    index: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let p = params(SCATTER_ADD.name, out, x, index)?;
    launch(&SCATTER_ADD, rec, p, &[x, index, out])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<ChannelGatherParams>(
            Shader::FlowChannelGather,
            "Params",
        );
    }
}
