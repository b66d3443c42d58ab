//! Launchers for the fused PReLU + GroupNorm (`shaders/norm/prelu_group_norm_stats.wgsl`,
//! `group_norm_finalize.wgsl`, `prelu_group_norm_apply.wgsl`): Conv-TasNet's `PReLU -> gLN`
//! pair in three passes that read the input twice and write the output once, with the block
//! statistics reduced by many workgroups (chunks) instead of one per (sample, group).
//! The plain [`super::group_norm`] runs one workgroup per block, which serialises a gLN over
//! `[1, 512, 20000]` onto a single GPU core.

use bytemuck::{Pod, Zeroable};

use super::{check_f32, check_numel, to_u32};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Values per partial-statistics workgroup unless [`PreluGroupNormArgs::chunk`] says otherwise:
/// 16 per thread, enough work to amortise the reduction, small enough to keep a `[1, 512,
/// 20000]` gLN on ~2,500 workgroups.
pub const DEFAULT_CHUNK: usize = 4096;

/// Keep in sync with `Params` in shaders/common/prelu_group_norm_params.wgsl (the three shaders).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct PreluGroupNormParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    groups: u32,
    chunk: u32,
    chunks: u32,
    slopes: u32,
    eps: f32,
    has_weight: u32,
    has_bias: u32,
    has_activated: u32,
}

static STATS: Kernel = Kernel {
    name: "prelu_group_norm_stats",
    shader: Shader::NormPreluGroupNormStats,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static FINALIZE: Kernel = Kernel {
    name: "group_norm_finalize",
    shader: Shader::NormGroupNormFinalize,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

static APPLY: Kernel = Kernel {
    name: "prelu_group_norm_apply",
    shader: Shader::NormPreluGroupNormApply,
    entry: "main",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

/// The inputs of [`prelu_group_norm`].
#[derive(Clone, Copy, Debug)]
pub struct PreluGroupNormArgs<'t> {
    /// `[batch, channels, ...]`.
    pub x: &'t Tensor,
    /// PReLU slopes applied before normalising: one shared or one per channel; `None` for a
    /// plain GroupNorm.
    pub slope: Option<&'t Tensor>,
    pub groups: usize,
    pub eps: f32,
    /// Per-channel scale and shift (each optional).
    pub weight: Option<&'t Tensor>,
    pub bias: Option<&'t Tensor>,
    /// Values per partial-statistics workgroup ([`DEFAULT_CHUNK`]); tests use small chunks.
    pub chunk: usize,
}

/// The outputs of [`prelu_group_norm`].
#[derive(Clone, Copy, Debug)]
pub struct PreluGroupNormOutputs<'t> {
    /// Shape of `x`.
    pub out: &'t Tensor,
    /// `prelu(x)`, the GroupNorm input the backward pass needs (training only).
    pub activated: Option<&'t Tensor>,
    /// `batch * groups` values each.
    pub mean: &'t Tensor,
    pub rstd: &'t Tensor,
    /// Workspace of [`partials_len`] values.
    pub partials: &'t Tensor,
}

/// `(batch, channels, spatial)` of a `[batch, channels, ...]` shape.
fn layout(kernel: &'static str, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match shape {
        [n, c, rest @ ..] => Ok((*n, *c, rest.iter().product())),
        _ => Err(HarkError::shape(
            kernel,
            format!("expected [batch, channels, ...], got {shape:?}"),
        )),
    }
}

/// Values of the partial-statistics workspace for input `shape` in `groups` groups with
/// `chunk`-value chunks: two per chunk of every (sample, group) block.
pub fn partials_len(shape: &[usize], groups: usize, chunk: usize) -> Result<usize> {
    let (batch, channels, spatial) = layout(STATS.name, shape)?;
    if groups == 0 || !channels.is_multiple_of(groups) || chunk == 0 {
        return Err(HarkError::invalid(
            STATS.name,
            format!("{channels} channels in {groups} groups, chunk {chunk}"),
        ));
    }
    let len = channels / groups * spatial;
    Ok(batch * groups * len.div_ceil(chunk) * 2)
}

/// `out = GroupNorm(PReLU(x))` (torch's `GroupNorm(groups, C)(PReLU()(x))`, biased variance):
/// per-chunk statistics, their exact combination into each block's mean and rstd (saved for
/// backward), then the elementwise normalisation, recomputing PReLU instead of storing it unless
/// `activated` asks for it.
pub fn prelu_group_norm(
    rec: &mut Recorder,
    args: &PreluGroupNormArgs,
    outputs: &PreluGroupNormOutputs,
) -> Result<()> {
    let name = STATS.name;
    let x = args.x;
    let slope = args.slope.unwrap_or(x);
    let weight = args.weight.unwrap_or(x);
    let bias = args.bias.unwrap_or(x);
    // Not written without `activated`; any buffer other than `out` holds its binding.
    let activated = outputs.activated.unwrap_or(outputs.partials);
    check_f32(
        name,
        &[x, slope, weight, bias, outputs.out, activated, outputs.mean],
    )?;
    check_f32(name, &[outputs.rstd, outputs.partials])?;
    let (batch, channels, spatial) = layout(name, x.shape())?;
    let partials = partials_len(x.shape(), args.groups, args.chunk)?;
    if x.numel() == 0 {
        return Err(HarkError::invalid(name, "x is empty"));
    }
    if args.eps.is_nan() || args.eps < 0.0 {
        return Err(HarkError::invalid(
            name,
            format!("eps {} must be >= 0", args.eps),
        ));
    }
    let blocks = batch * args.groups;
    let len = channels / args.groups * spatial;
    let chunks = len.div_ceil(args.chunk);
    // Stats: two strided passes over a chunk; finalize: two over a block's chunks; each then an
    // 8-level tree (README, "Portability: loop budget per invocation").
    crate::kernels::check_loop_budget(
        name,
        2 * (args.chunk.min(len).max(chunks).div_ceil(256) + 8),
        &format!("chunks of {} values, {chunks} per block", args.chunk),
    )?;
    let max_grid = crate::runtime::MAX_GROUPS_PER_DIM as usize;
    if blocks > max_grid || chunks > max_grid {
        return Err(HarkError::invalid(
            name,
            format!("{blocks} blocks of {chunks} chunks: at most {max_grid} of each"),
        ));
    }
    check_numel(name, "out", outputs.out, x.numel())?;
    if let Some(a) = outputs.activated {
        check_numel(name, "activated", a, x.numel())?;
    }
    check_numel(name, "mean", outputs.mean, blocks)?;
    check_numel(name, "rstd", outputs.rstd, blocks)?;
    check_numel(name, "partials", outputs.partials, partials)?;
    let slopes = match args.slope {
        None => 0,
        Some(s) if s.numel() == 1 || s.numel() == channels => s.numel(),
        Some(s) => {
            return Err(HarkError::shape(
                name,
                format!("{} PReLU slopes for {channels} channels", s.numel()),
            ))
        }
    };
    for (what, t) in [("weight", args.weight), ("bias", args.bias)] {
        if let Some(t) = t {
            check_numel(name, what, t, channels)?;
        }
    }
    to_u32(name, x.numel())?;
    to_u32(name, partials)?;
    let p = PreluGroupNormParams {
        // Each fits: they divide or are bounded by numel, checked above.
        batch: batch as u32,
        channels: channels as u32,
        spatial: spatial as u32,
        groups: args.groups as u32,
        chunk: args.chunk.min(len) as u32,
        chunks: chunks as u32,
        slopes: slopes as u32,
        eps: args.eps,
        has_weight: u32::from(args.weight.is_some()),
        has_bias: u32::from(args.bias.is_some()),
        has_activated: u32::from(outputs.activated.is_some()),
    };
    let params = bytemuck::bytes_of(&p);
    rec.dispatch(Launch {
        kernel: &STATS,
        constants: Vec::new(),
        params,
        tensors: &[x, slope, outputs.partials],
        workgroups: [p.chunks, blocks as u32, 1],
    })?;
    rec.dispatch(Launch {
        kernel: &FINALIZE,
        constants: Vec::new(),
        params,
        tensors: &[outputs.partials, outputs.mean, outputs.rstd],
        workgroups: grid_1d(blocks as u32),
    })?;
    rec.dispatch(Launch {
        kernel: &APPLY,
        constants: Vec::new(),
        params,
        tensors: &[
            x,
            slope,
            weight,
            bias,
            outputs.mean,
            outputs.rstd,
            outputs.out,
            activated,
        ],
        workgroups: grid_1d(x.numel().div_ceil(256) as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [
            Shader::NormPreluGroupNormStats,
            Shader::NormGroupNormFinalize,
            Shader::NormPreluGroupNormApply,
        ] {
            assert_eq!(
                Some(std::mem::size_of::<PreluGroupNormParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params")
            );
        }
    }
}
