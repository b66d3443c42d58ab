//! Launchers for `shaders/activation/prelu_backward.wgsl`: PReLU's input gradient and its slope
//! gradient (one shared slope, or one per channel on axis 1 as torch).
//!
//! The slope gradient reduces a channel of up to [`ONE_WORKGROUP_CHANNEL`] values in one
//! workgroup; longer channels (Conv-TasNet's shared slope over a whole batch) are reduced in
//! chunks by many workgroups, then the chunks added in order: faster on a GPU, and within the
//! per-invocation loop budget at every size (README, "Portability: loop budget per
//! invocation"; lavapipe silently ends loops after 65,535 iterations per invocation).

use bytemuck::{Pod, Zeroable};

use super::same_numel;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::prelu_layout;
use crate::kernels::LOOP_BUDGET;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder, MAX_GROUPS_PER_DIM};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/activation/prelu_backward.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct PreluBackwardParams {
    n: u32,
    outer: u32,
    channels: u32,
    inner: u32,
    chunk: u32,
    chunks: u32,
}

/// The most values one workgroup reduces for a slope (256 strided steps per thread); longer
/// channels take the chunked form.
pub const ONE_WORKGROUP_CHANNEL: usize = 65_536;

/// Values per chunk of the chunked slope gradient, unless the channel needs longer chunks to
/// keep `weight_finish`'s loop within [`LOOP_BUDGET`] chunks.
const CHUNK: usize = 4096;

const CHUNKED_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
];

static WEIGHT_PARTIALS: Kernel = Kernel {
    name: "prelu_backward_weight_partials",
    shader: Shader::ActivationPreluBackward,
    entry: "weight_partials",
    bindings: CHUNKED_BINDINGS,
};

static WEIGHT_FINISH: Kernel = Kernel {
    name: "prelu_backward_weight_finish",
    shader: Shader::ActivationPreluBackward,
    entry: "weight_finish",
    bindings: CHUNKED_BINDINGS,
};

/// One thread per element in `input_grad`; 256 is the largest workgroup every device accepts.
const WORKGROUP: u32 = 256;

const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::Read, Access::ReadWrite];

static INPUT: Kernel = Kernel {
    name: "prelu_backward_input",
    shader: Shader::ActivationPreluBackward,
    entry: "input_grad",
    bindings: BINDINGS,
};

static WEIGHT: Kernel = Kernel {
    name: "prelu_backward_weight",
    shader: Shader::ActivationPreluBackward,
    entry: "weight_grad",
    bindings: BINDINGS,
};

/// `[outer, channels, inner]` for `slopes` slopes on `x`: one shared slope is the whole tensor
/// as one run of one channel.
fn layout(kernel: &'static str, x: &Tensor, slopes: usize) -> Result<PreluBackwardParams> {
    let n =
        u32::try_from(x.numel()).map_err(|_| HarkError::invalid(kernel, "over 2^32 elements"))?;
    let (channels, inner) = prelu_layout(x.shape());
    if slopes == 1 {
        return Ok(PreluBackwardParams {
            n,
            outer: 1,
            channels: 1,
            inner: n.max(1),
            chunk: 0,
            chunks: 0,
        });
    }
    if slopes != channels {
        return Err(HarkError::shape(
            kernel,
            format!(
                "{slopes} slopes for x {:?}: need 1 or {channels}",
                x.shape()
            ),
        ));
    }
    // All divide n, which fits.
    Ok(PreluBackwardParams {
        n,
        outer: (x.numel() / (channels * inner).max(1)) as u32,
        channels: channels as u32,
        inner: inner.max(1) as u32,
        chunk: 0,
        chunks: 0,
    })
}

/// PReLU input gradient: `grad_in = grad_out` where `x > 0`, else `weight[c] * grad_out`.
/// `weight` holds one slope per channel (axis 1) or one shared slope.
pub fn prelu_backward_input(
    rec: &mut Recorder,
    x: &Tensor,
    weight: &Tensor,
    grad_out: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    same_numel(INPUT.name, x, &[grad_out, grad_in])?;
    weight.expect_dtype(INPUT.name, DType::F32)?;
    let params = layout(INPUT.name, x, weight.numel())?;
    rec.dispatch(Launch::new(
        &INPUT,
        &params,
        &[x, weight, grad_out, grad_in],
        grid_1d(params.n.div_ceil(WORKGROUP)),
    ))
}

/// PReLU slope gradient: `grad_weight[c]` = sum of `x * grad_out` over channel `c`'s elements
/// with `x <= 0` (overwritten, not accumulated). `grad_weight` holds 1 value (shared slope) or
/// one per channel. Channels longer than [`ONE_WORKGROUP_CHANNEL`] values are reduced in
/// chunks (two dispatches and a scratch of `channels * chunks` floats).
pub fn prelu_backward_weight(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    grad_weight: &Tensor,
) -> Result<()> {
    same_numel(WEIGHT.name, x, &[grad_out])?;
    grad_weight.expect_dtype(WEIGHT.name, DType::F32)?;
    let params = layout(WEIGHT.name, x, grad_weight.numel())?;
    let per_channel = params.outer as usize * params.inner as usize;
    if per_channel > ONE_WORKGROUP_CHANNEL {
        let channels = params.channels as usize;
        let max_grid = MAX_GROUPS_PER_DIM as usize;
        if channels > max_grid {
            return Err(HarkError::invalid(
                WEIGHT.name,
                format!("{channels} slopes of {per_channel} values: at most {max_grid} slopes"),
            ));
        }
        // weight_finish walks a channel's chunks in one thread.
        let most = LOOP_BUDGET.min(max_grid);
        let chunk = CHUNK.max(
            per_channel
                .div_ceil(most)
                .next_multiple_of(WORKGROUP as usize),
        );
        let chunks = per_channel.div_ceil(chunk);
        let params = PreluBackwardParams {
            chunk: chunk as u32,
            chunks: chunks as u32,
            ..params
        };
        let partials = rec
            .context()
            .scratch("prelu_weight_grad partials", &[channels, chunks])?;
        let tensors = [x, x, grad_out, grad_weight, &partials];
        rec.dispatch(Launch::new(
            &WEIGHT_PARTIALS,
            &params,
            &tensors,
            [chunks as u32, params.channels, 1],
        ))?;
        return rec.dispatch(Launch::new(
            &WEIGHT_FINISH,
            &params,
            &tensors,
            grid_1d(params.channels.div_ceil(WORKGROUP)),
        ));
    }
    rec.dispatch(Launch {
        kernel: &WEIGHT,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        // The slopes are not needed: x fills their (read-only) slot.
        tensors: &[x, x, grad_out, grad_weight],
        // One workgroup per slope, each summing its channel.
        workgroups: grid_1d(params.channels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<PreluBackwardParams>(
            Shader::ActivationPreluBackward,
            "Params",
        );
    }
}
