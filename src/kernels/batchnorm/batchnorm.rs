//! Launchers for `shaders/batchnorm/batchnorm.wgsl` and `batchnorm_backward.wgsl`: BatchNorm over
//! `[N, C]` or `[N, C, L]` with training statistics and running averages (torch semantics), eval
//! mode, and an optional fused ReLU.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/batchnorm/batchnorm*.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct BatchNormParams {
    n: u32,
    channels: u32,
    len: u32,
    eps: f32,
    momentum: f32,
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
    rec.dispatch(Launch {
        kernel: &FORWARD,
        constants: vec![
            ("RELU", f64::from(u8::from(config.relu))),
            ("TRAIN", f64::from(u8::from(train))),
        ],
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
    rec.dispatch(Launch {
        kernel: &BACKWARD,
        constants: vec![("RELU", f64::from(u8::from(config.relu)))],
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
