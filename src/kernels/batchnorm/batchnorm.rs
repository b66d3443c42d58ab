//! Launchers for `shaders/batchnorm/batchnorm.wgsl` and `batchnorm_backward.wgsl`: BatchNorm over
//! `[N, C]` or `[N, C, L]` with training statistics and running averages (torch semantics), eval
//! mode, and an optional fused ReLU.
//!
//! Channels of up to [`ONE_WORKGROUP_CHANNEL`] values (N * L) are reduced by one workgroup
//! each; longer ones are split into chunks reduced by many workgroups, then merged in chunk
//! order (deterministic): more parallel on a GPU, and within the per-invocation loop budget at
//! every size (lavapipe silently ends an invocation's loops after 65,535 iterations; README,
//! "Portability: loop budget per invocation"). The chunked form allocates a scratch of
//! `2 * channels * chunks` floats per call.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::LOOP_BUDGET;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder, MAX_GROUPS_PER_DIM};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/common/batchnorm_params.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct BatchNormParams {
    n: u32,
    channels: u32,
    len: u32,
    eps: f32,
    momentum: f32,
    chunk: u32,
    chunks: u32,
}

/// The most values (N * L) one workgroup reduces for a channel: 256 strided steps per thread
/// and pass. Longer channels take the chunked entries.
pub const ONE_WORKGROUP_CHANNEL: usize = 65_536;

/// Values per chunk of the chunked entries (16 strided steps per thread), unless a channel
/// needs longer chunks to keep the per-channel merge within [`LOOP_BUDGET`] chunks.
const CHUNK: usize = 4096;

/// Threads per workgroup (`WG` in the shaders).
const WG: usize = 256;

const FORWARD_CHUNKED_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

static STATS_PARTIALS: Kernel = Kernel {
    name: "batchnorm_stats_partials",
    shader: Shader::BatchNorm,
    entry: "stats_partials",
    bindings: FORWARD_CHUNKED_BINDINGS,
};

static STATS_FINISH: Kernel = Kernel {
    name: "batchnorm_stats_finish",
    shader: Shader::BatchNorm,
    entry: "stats_finish",
    bindings: FORWARD_CHUNKED_BINDINGS,
};

static APPLY: Kernel = Kernel {
    name: "batchnorm_apply",
    shader: Shader::BatchNorm,
    entry: "apply",
    bindings: FORWARD_CHUNKED_BINDINGS,
};

const BACKWARD_CHUNKED_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

static GRAD_PARTIALS: Kernel = Kernel {
    name: "batchnorm_grad_partials",
    shader: Shader::BatchNormBackward,
    entry: "grad_partials",
    bindings: BACKWARD_CHUNKED_BINDINGS,
};

static GRAD_FINISH: Kernel = Kernel {
    name: "batchnorm_grad_finish",
    shader: Shader::BatchNormBackward,
    entry: "grad_finish",
    bindings: BACKWARD_CHUNKED_BINDINGS,
};

static GRAD_APPLY: Kernel = Kernel {
    name: "batchnorm_grad_apply",
    shader: Shader::BatchNormBackward,
    entry: "grad_apply",
    bindings: BACKWARD_CHUNKED_BINDINGS,
};

/// `p` with the chunking of its channels when they are longer than [`ONE_WORKGROUP_CHANNEL`]
/// (`None` otherwise): chunks of [`CHUNK`] values, longer when a channel would need more than
/// [`LOOP_BUDGET`] of them.
fn chunked(p: BatchNormParams) -> Result<Option<BatchNormParams>> {
    let count = p.n as usize * p.len as usize;
    if count <= ONE_WORKGROUP_CHANNEL {
        return Ok(None);
    }
    if p.channels > MAX_GROUPS_PER_DIM {
        return Err(HarkError::invalid(
            "batchnorm",
            format!(
                "{} channels of {count} values: at most {MAX_GROUPS_PER_DIM} channels",
                p.channels
            ),
        ));
    }
    let most = LOOP_BUDGET.min(MAX_GROUPS_PER_DIM as usize);
    let chunk = CHUNK.max(count.div_ceil(most).next_multiple_of(WG));
    Ok(Some(BatchNormParams {
        chunk: chunk as u32,
        chunks: count.div_ceil(chunk) as u32,
        ..p
    }))
}

/// Workgroups of the one-thread-per-element entries.
fn element_groups(x: &Tensor) -> Result<[u32; 3]> {
    let groups = u32::try_from(x.numel().div_ceil(WG))
        .map_err(|_| HarkError::invalid("batchnorm", "input exceeds u32 elements"))?;
    Ok(grid_1d(groups))
}

static FORWARD: Kernel = Kernel {
    name: "batchnorm",
    shader: Shader::BatchNorm,
    entry: "main",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

static BACKWARD: Kernel = Kernel {
    name: "batchnorm_backward",
    shader: Shader::BatchNormBackward,
    entry: "main",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

/// Settings of one BatchNorm.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormConfig {
    pub eps: f32,
    /// torch's momentum: `running = (1 - m) running + m batch`.
    pub momentum: f32,
    /// Apply ReLU to the output (and mask the gradient by it in backward).
    pub relu: bool,
}

/// The per-channel tensors of a BatchNorm: affine weight and bias, running statistics.
pub struct BatchNormState<'t> {
    pub gamma: &'t Tensor,
    pub beta: &'t Tensor,
    pub running_mean: &'t Tensor,
    pub running_var: &'t Tensor,
}

fn dims(x: &Tensor) -> Result<(usize, usize, usize)> {
    match *x.shape() {
        [n, c] => Ok((n, c, 1)),
        [n, c, l] => Ok((n, c, l)),
        _ => Err(HarkError::shape(
            "batchnorm",
            format!("expected [N, C] or [N, C, L], got {:?}", x.shape()),
        )),
    }
}

fn params(x: &Tensor, config: &BatchNormConfig) -> Result<(BatchNormParams, usize)> {
    let (n, c, l) = dims(x)?;
    let to_u32 = |v: usize| {
        u32::try_from(v).map_err(|_| HarkError::invalid("batchnorm", "dimension exceeds u32"))
    };
    if n * l == 0 || c == 0 {
        return Err(HarkError::invalid("batchnorm", "empty input"));
    }
    Ok((
        BatchNormParams {
            n: to_u32(n)?,
            channels: to_u32(c)?,
            len: to_u32(l)?,
            eps: config.eps,
            momentum: config.momentum,
            chunk: 0,
            chunks: 0,
        },
        c,
    ))
}

fn check_channels(c: usize, tensors: &[(&str, &Tensor)]) -> Result<()> {
    for (name, t) in tensors {
        t.expect_dtype("batchnorm", DType::F32)?;
        if t.numel() != c {
            return Err(HarkError::shape(
                "batchnorm",
                format!("{name} {:?} must hold {c} channels", t.shape()),
            ));
        }
    }
    Ok(())
}

/// Forward: `y = [relu](gamma (x - mean) rstd + beta)`. In training (`train`), batch statistics
/// normalise and the running statistics are updated; otherwise the running ones normalise.
/// `saved` (`[C, 2]`: mean, rstd) is what [`batchnorm_backward`] needs.
pub fn batchnorm(
    rec: &mut Recorder,
    x: &Tensor,
    state: &BatchNormState,
    config: &BatchNormConfig,
    train: bool,
    y: &Tensor,
    saved: &Tensor,
) -> Result<()> {
    let (p, c) = params(x, config)?;
    check_channels(
        c,
        &[
            ("gamma", state.gamma),
            ("beta", state.beta),
            ("running_mean", state.running_mean),
            ("running_var", state.running_var),
        ],
    )?;
    if y.shape() != x.shape() || saved.numel() != 2 * c {
        return Err(HarkError::shape(
            "batchnorm",
            format!(
                "y {:?} / saved {:?} for x {:?}",
                y.shape(),
                saved.shape(),
                x.shape()
            ),
        ));
    }
    let constants = || {
        vec![
            ("RELU", f64::from(u8::from(config.relu))),
            ("TRAIN", f64::from(u8::from(train))),
        ]
    };
    if let Some(p) = chunked(p)? {
        let partials = rec
            .context()
            .scratch("batchnorm partials", &[c, p.chunks as usize, 2])?;
        let tensors = [
            x,
            state.gamma,
            state.beta,
            y,
            saved,
            state.running_mean,
            state.running_var,
            &partials,
        ];
        if train {
            rec.dispatch(Launch {
                kernel: &STATS_PARTIALS,
                constants: constants(),
                params: bytemuck::bytes_of(&p),
                tensors: &tensors,
                workgroups: [p.chunks, p.channels, 1],
            })?;
            rec.dispatch(Launch {
                kernel: &STATS_FINISH,
                constants: constants(),
                params: bytemuck::bytes_of(&p),
                tensors: &tensors,
                workgroups: grid_1d(p.channels.div_ceil(WG as u32)),
            })?;
        }
        return rec.dispatch(Launch {
            kernel: &APPLY,
            constants: constants(),
            params: bytemuck::bytes_of(&p),
            tensors: &tensors,
            workgroups: element_groups(x)?,
        });
    }
    rec.dispatch(Launch {
        kernel: &FORWARD,
        constants: constants(),
        params: bytemuck::bytes_of(&p),
        tensors: &[
            x,
            state.gamma,
            state.beta,
            y,
            saved,
            state.running_mean,
            state.running_var,
        ],
        // One workgroup per channel.
        workgroups: grid_1d(p.channels),
    })
}

/// Backward of a training-mode [`batchnorm`]: `dx`, and `dgamma`, `dbeta` (overwritten).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    rec: &mut Recorder,
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    gamma: &Tensor,
    saved: &Tensor,
    config: &BatchNormConfig,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
) -> Result<()> {
    let (p, c) = params(x, config)?;
    check_channels(c, &[("gamma", gamma), ("dgamma", dgamma), ("dbeta", dbeta)])?;
    if y.shape() != x.shape() || dy.shape() != x.shape() || dx.shape() != x.shape() {
        return Err(HarkError::shape(
            "batchnorm_backward",
            format!(
                "x {:?}, y {:?}, dy {:?}, dx {:?}",
                x.shape(),
                y.shape(),
                dy.shape(),
                dx.shape()
            ),
        ));
    }
    let constants = || vec![("RELU", f64::from(u8::from(config.relu)))];
    if let Some(p) = chunked(p)? {
        let partials = rec
            .context()
            .scratch("batchnorm_backward partials", &[c, p.chunks as usize, 2])?;
        let tensors = [x, y, dy, gamma, saved, dx, dgamma, dbeta, &partials];
        for (kernel, workgroups) in [
            (&GRAD_PARTIALS, [p.chunks, p.channels, 1]),
            (&GRAD_FINISH, grid_1d(p.channels.div_ceil(WG as u32))),
            (&GRAD_APPLY, element_groups(x)?),
        ] {
            rec.dispatch(Launch {
                kernel,
                constants: constants(),
                params: bytemuck::bytes_of(&p),
                tensors: &tensors,
                workgroups,
            })?;
        }
        return Ok(());
    }
    rec.dispatch(Launch {
        kernel: &BACKWARD,
        constants: constants(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, y, dy, gamma, saved, dx, dgamma, dbeta],
        // One workgroup per channel.
        workgroups: grid_1d(p.channels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        for shader in [Shader::BatchNorm, Shader::BatchNormBackward] {
            assert_eq!(
                Some(std::mem::size_of::<BatchNormParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params")
            );
        }
    }
}
