//! Launchers for `shaders/norm/group_norm.wgsl`: GroupNorm over `[batch, channels, ...]` with
//! per-channel affine parameters, forward (saving mean and rstd per (sample, group)) and
//! backward (input; weight and bias). One group is Conv-TasNet's gLN.
//!
//! Short reductions run one workgroup per block (or channel). Longer ones, where a thread's
//! strided loops would pass [`LOOP_BUDGET`] iterations (lavapipe silently ends an invocation's
//! loops after 65,535; README, "Portability: loop budget per invocation"), are split into
//! chunks reduced by many workgroups: the forward pass through the chunked
//! [`prelu_group_norm`] kernels with no slope, the backward passes through chunk partials
//! summed in a fixed order. Blocks of more than 1,398,016 values (forward, backward input) and
//! channels of more than 4,194,304 batch x spatial values (backward params) take the chunked
//! form; it allocates a scratch tensor per call.

use bytemuck::{Pod, Zeroable};

use super::prelu_group_norm::{
    partials_len, prelu_group_norm, PreluGroupNormArgs, PreluGroupNormOutputs, DEFAULT_CHUNK,
};
use super::{check_f32, check_numel, to_u32};
use crate::error::{HarkError, Result};
use crate::kernels::reduce;
use crate::kernels::LOOP_BUDGET;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder, MAX_GROUPS_PER_DIM};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/norm/group_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GroupNormParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    groups: u32,
    eps: f32,
    has_weight: u32,
    has_bias: u32,
    chunk: u32,
    chunks: u32,
}

/// Threads per workgroup (`WG` in the shader).
const WG: usize = 256;

/// The longest block one workgroup normalises: three strided passes forward (two backward) of
/// at most [`LOOP_BUDGET`] / 3 steps per thread.
const ONE_WORKGROUP_BLOCK: usize = LOOP_BUDGET / 3 * WG;

/// The most batch x spatial values one workgroup reduces for a channel's parameter gradients.
const ONE_WORKGROUP_CHANNEL: usize = LOOP_BUDGET * WG;

/// (chunk, chunks) for a reduction over `len` values with at most `max_chunks` chunks: chunks
/// of [`DEFAULT_CHUNK`] values (16 strided steps per thread), longer when `len` needs it.
fn chunking(len: usize, max_chunks: usize) -> (usize, usize) {
    let chunk = DEFAULT_CHUNK.max(len.div_ceil(max_chunks).next_multiple_of(WG));
    (chunk, len.div_ceil(chunk))
}

/// Bindings of the chunked entries: the six of the others, then the partial sums.
const CHUNKED_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

static BACKWARD_PARTIALS: Kernel = Kernel {
    name: "group_norm_backward_partials",
    shader: Shader::NormGroupNorm,
    entry: "backward_partials",
    bindings: CHUNKED_BINDINGS,
};

static BACKWARD_APPLY: Kernel = Kernel {
    name: "group_norm_backward_apply",
    shader: Shader::NormGroupNorm,
    entry: "backward_apply",
    bindings: CHUNKED_BINDINGS,
};

static PARAMS_PARTIALS: Kernel = Kernel {
    name: "group_norm_params_partials",
    shader: Shader::NormGroupNorm,
    entry: "params_partials",
    bindings: CHUNKED_BINDINGS,
};

static PARAMS_FINISH: Kernel = Kernel {
    name: "group_norm_params_finish",
    shader: Shader::NormGroupNorm,
    entry: "params_finish",
    bindings: CHUNKED_BINDINGS,
};

// All three entries share one layout: three read-only bindings, then three read-write ones
// (mean and rstd sit in read-write slots in `backward_input`, which only reads them).
const BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

static FORWARD: Kernel = Kernel {
    name: "group_norm",
    shader: Shader::NormGroupNorm,
    entry: "forward",
    bindings: BINDINGS,
};

static BACKWARD_INPUT: Kernel = Kernel {
    name: "group_norm_backward_input",
    shader: Shader::NormGroupNorm,
    entry: "backward_input",
    bindings: BINDINGS,
};

static BACKWARD_PARAMS: Kernel = Kernel {
    name: "group_norm_backward_params",
    shader: Shader::NormGroupNorm,
    entry: "backward_params",
    bindings: BINDINGS,
};

fn params(
    kernel: &'static str,
    x: &Tensor,
    groups: usize,
    eps: f32,
    has_weight: bool,
    has_bias: bool,
) -> Result<GroupNormParams> {
    let (batch, channels, spatial) = match x.shape() {
        [n, c, rest @ ..] => (*n, *c, rest.iter().product::<usize>()),
        _ => {
            return Err(HarkError::shape(
                kernel,
                format!("expected [batch, channels, ...], got {:?}", x.shape()),
            ))
        }
    };
    if groups == 0 || channels % groups != 0 {
        return Err(HarkError::invalid(
            kernel,
            format!("{channels} channels do not split into {groups} groups"),
        ));
    }
    if x.numel() == 0 {
        return Err(HarkError::invalid(kernel, "x is empty"));
    }
    to_u32(kernel, x.numel())?;
    Ok(GroupNormParams {
        // Each divides numel, which fits.
        batch: batch as u32,
        channels: channels as u32,
        spatial: spatial as u32,
        groups: groups as u32,
        eps,
        has_weight: u32::from(has_weight),
        has_bias: u32::from(has_bias),
        chunk: 0,
        chunks: 0,
    })
}

/// Values per (sample, group) block.
fn block_len(p: &GroupNormParams) -> usize {
    (p.channels / p.groups) as usize * p.spatial as usize
}

/// GroupNorm of `x` (`[batch, channels]` or `[batch, channels, ...]`) with `groups` groups:
/// every (sample, group) block becomes `(x - mean) * rstd * weight[c] + bias[c]` with
/// `rstd = 1 / sqrt(var + eps)` (biased variance, as torch). `weight` and `bias` (each optional)
/// hold `channels` values; `mean` and `rstd` receive `batch * groups` values for backward.
#[allow(clippy::too_many_arguments)] // The tensors of one torch call; a struct would only rename them.
pub fn group_norm(
    rec: &mut Recorder,
    x: &Tensor,
    groups: usize,
    eps: f32,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    out: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
) -> Result<()> {
    let name = FORWARD.name;
    let w = weight.unwrap_or(x);
    let b = bias.unwrap_or(x);
    check_f32(name, &[x, w, b, out, mean, rstd])?;
    let p = params(name, x, groups, eps, weight.is_some(), bias.is_some())?;
    if eps.is_nan() || eps < 0.0 {
        return Err(HarkError::invalid(name, format!("eps {eps} must be >= 0")));
    }
    let blocks = (p.batch * p.groups) as usize;
    check_numel(name, "out", out, x.numel())?;
    check_numel(name, "mean", mean, blocks)?;
    check_numel(name, "rstd", rstd, blocks)?;
    if let Some(w) = weight {
        check_numel(name, "weight", w, p.channels as usize)?;
    }
    if let Some(b) = bias {
        check_numel(name, "bias", b, p.channels as usize)?;
    }
    let len = block_len(&p);
    if len > ONE_WORKGROUP_BLOCK {
        let (chunk, _) = chunking(len, MAX_GROUPS_PER_DIM as usize);
        let scratch = partials_len(x.shape(), groups, chunk)?;
        let partials = rec.context().scratch("group_norm partials", &[scratch])?;
        let args = PreluGroupNormArgs {
            x,
            slope: None,
            groups,
            eps,
            weight,
            bias,
            chunk,
        };
        let outputs = PreluGroupNormOutputs {
            out,
            activated: None,
            mean,
            rstd,
            partials: &partials,
        };
        return prelu_group_norm(rec, &args, &outputs);
    }
    rec.dispatch(Launch {
        kernel: &FORWARD,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, w, b, out, mean, rstd],
        // One workgroup per (sample, group) block.
        workgroups: grid_1d(p.batch * p.groups),
    })
}

/// Gradient of [`group_norm`] with respect to its input: from `x`, `grad_out`, the optional
/// `weight` and the saved `mean` and `rstd`, writes `grad_in` (shape of `x`).
#[allow(clippy::too_many_arguments)] // The saved tensors of the forward pass plus the gradients.
pub fn group_norm_backward_input(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    let name = BACKWARD_INPUT.name;
    let w = weight.unwrap_or(x);
    check_f32(name, &[x, grad_out, w, mean, rstd, grad_in])?;
    let p = params(name, x, groups, 0.0, weight.is_some(), false)?;
    let blocks = (p.batch * p.groups) as usize;
    check_numel(name, "grad_out", grad_out, x.numel())?;
    check_numel(name, "grad_in", grad_in, x.numel())?;
    check_numel(name, "mean", mean, blocks)?;
    check_numel(name, "rstd", rstd, blocks)?;
    if let Some(w) = weight {
        check_numel(name, "weight", w, p.channels as usize)?;
    }
    let len = block_len(&p);
    if len > ONE_WORKGROUP_BLOCK {
        if blocks > MAX_GROUPS_PER_DIM as usize {
            return Err(HarkError::invalid(
                name,
                format!("{blocks} blocks of {len} values: at most {MAX_GROUPS_PER_DIM} blocks"),
            ));
        }
        let (chunk, chunks) = chunking(len, MAX_GROUPS_PER_DIM as usize);
        let p = GroupNormParams {
            chunk: chunk as u32,
            chunks: chunks as u32,
            ..p
        };
        let partials = rec
            .context()
            .scratch("group_norm_backward partials", &[blocks, chunks, 2])?;
        let sums = rec
            .context()
            .scratch("group_norm_backward sums", &[blocks, 2])?;
        rec.dispatch(Launch::new(
            &BACKWARD_PARTIALS,
            &p,
            &[x, grad_out, w, mean, rstd, grad_in, &partials],
            [chunks as u32, blocks as u32, 1],
        ))?;
        reduce::sum(rec, &partials, 1, &sums)?;
        return rec.dispatch(Launch::new(
            &BACKWARD_APPLY,
            &p,
            &[x, grad_out, w, mean, rstd, grad_in, &sums],
            grid_1d(to_u32(name, x.numel().div_ceil(WG))?),
        ));
    }
    rec.dispatch(Launch::new(
        &BACKWARD_INPUT,
        &p,
        &[x, grad_out, w, mean, rstd, grad_in],
        grid_1d(p.batch * p.groups),
    ))
}

/// Gradients of [`group_norm`] with respect to its affine parameters: `grad_weight[c]` is the
/// sum over batch and spatial positions of `grad_out * xhat`, `grad_bias[c]` the sum of
/// `grad_out` (each `channels` values, overwritten, not accumulated).
#[allow(clippy::too_many_arguments)] // The saved tensors of the forward pass plus the gradients.
pub fn group_norm_backward_params(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    groups: usize,
    mean: &Tensor,
    rstd: &Tensor,
    grad_weight: &Tensor,
    grad_bias: &Tensor,
) -> Result<()> {
    let name = BACKWARD_PARAMS.name;
    check_f32(name, &[x, grad_out, mean, rstd, grad_weight, grad_bias])?;
    let p = params(name, x, groups, 0.0, true, true)?;
    let blocks = (p.batch * p.groups) as usize;
    check_numel(name, "grad_out", grad_out, x.numel())?;
    check_numel(name, "mean", mean, blocks)?;
    check_numel(name, "rstd", rstd, blocks)?;
    check_numel(name, "grad_weight", grad_weight, p.channels as usize)?;
    check_numel(name, "grad_bias", grad_bias, p.channels as usize)?;
    let per_channel = p.batch as usize * p.spatial as usize;
    if per_channel > ONE_WORKGROUP_CHANNEL {
        let channels = p.channels as usize;
        if channels > MAX_GROUPS_PER_DIM as usize {
            return Err(HarkError::invalid(
                name,
                format!(
                    "{channels} channels of {per_channel} values: at most {MAX_GROUPS_PER_DIM}"
                ),
            ));
        }
        // params_finish walks every chunk of a channel in one thread.
        let (chunk, chunks) = chunking(per_channel, LOOP_BUDGET.min(MAX_GROUPS_PER_DIM as usize));
        let p = GroupNormParams {
            chunk: chunk as u32,
            chunks: chunks as u32,
            ..p
        };
        let partials = rec
            .context()
            .scratch("group_norm_params partials", &[channels, chunks, 2])?;
        let tensors = [x, grad_out, mean, rstd, grad_weight, grad_bias, &partials];
        rec.dispatch(Launch::new(
            &PARAMS_PARTIALS,
            &p,
            &tensors,
            [chunks as u32, p.channels, 1],
        ))?;
        return rec.dispatch(Launch::new(
            &PARAMS_FINISH,
            &p,
            &tensors,
            grid_1d(p.channels.div_ceil(WG as u32)),
        ));
    }
    rec.dispatch(Launch {
        kernel: &BACKWARD_PARAMS,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, grad_out, mean, rstd, grad_weight, grad_bias],
        // One workgroup per channel, each summing over batch and spatial positions.
        workgroups: grid_1d(p.channels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<GroupNormParams>(Shader::NormGroupNorm, "Params");
    }
}
