//! Launchers for `shaders/flow/nll.wgsl`: per-sample negative log-likelihood of a flow output
//! under N(0, I) (with `shifted` leading channels under N(mean[n], 1)), the anomaly score from the
//! unshifted channels, and the gradient of `scale * sum nll`.

use bytemuck::{Pod, Zeroable};

use super::{expect_sizes, layout_u32};
use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/flow/nll.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct NllParams {
    n: u32,
    channels: u32,
    inner: u32,
    shifted: u32,
    scale: f32,
}

const WORKGROUP: u32 = 256;
const BINDINGS: [Access; 5] = [
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
];

static FORWARD: Kernel = Kernel {
    name: "flow_nll",
    shader: Shader::FlowNll,
    entry: "forward",
    bindings: &BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "flow_nll_backward",
    shader: Shader::FlowNll,
    entry: "backward",
    bindings: &BINDINGS,
};

fn params(
    kernel: &'static str,
    z: &Tensor,
    logdet: &Tensor,
    mean: &Tensor,
    shifted: usize,
    outputs: [(&str, &Tensor, bool); 2],
    scale: f32,
) -> Result<NllParams> {
    let (n, channels, inner) = layout_u32(kernel, z.shape())?;
    if shifted > channels as usize {
        return Err(HarkError::invalid(
            kernel,
            format!("{shifted} shifted channels of {channels}"),
        ));
    }
    let rows = n as usize;
    let mut checks = vec![("logdet", logdet, rows), ("mean", mean, rows)];
    for (name, t, per_element) in outputs {
        checks.push((name, t, if per_element { z.numel() } else { rows }));
    }
    expect_sizes(kernel, &checks)?;
    Ok(NllParams {
        n,
        channels,
        inner,
        shifted: to_u32(kernel, shifted)?,
        scale,
    })
}

/// Per sample: `nll = 0.5 ||z - mu||^2 + (D / 2) log(2 pi) - logdet` with `mu = mean[n]` on the
/// first `shifted` channels and 0 elsewhere, and `score` the same over the other channels only.
pub fn flow_nll(
    rec: &mut Recorder,
    z: &Tensor,
    logdet: &Tensor,
    mean: &Tensor,
    shifted: usize,
    nll: &Tensor,
    score: &Tensor,
) -> Result<()> {
    let outputs = [("nll", nll, false), ("score", score, false)];
    let p = params(FORWARD.name, z, logdet, mean, shifted, outputs, 1.0)?;
    rec.dispatch(Launch::new(
        &FORWARD,
        &p,
        &[z, logdet, mean, nll, score],
        grid_1d(p.n),
    ))
}

/// Gradient of `scale * sum_n nll[n]`: `grad_z = scale (z - mu)`, `grad_logdet = -scale`.
#[allow(clippy::too_many_arguments)] // three inputs, the layout, the scale, two outputs.
pub fn flow_nll_backward(
    rec: &mut Recorder,
    z: &Tensor,
    logdet: &Tensor,
    mean: &Tensor,
    shifted: usize,
    scale: f32,
    grad_z: &Tensor,
    grad_logdet: &Tensor,
) -> Result<()> {
    let outputs = [
        ("grad_z", grad_z, true),
        ("grad_logdet", grad_logdet, false),
    ];
    let p = params(BACKWARD.name, z, logdet, mean, shifted, outputs, scale)?;
    let total = p.n * p.channels * p.inner;
    rec.dispatch(Launch::new(
        &BACKWARD,
        &p,
        &[z, logdet, mean, grad_z, grad_logdet],
        grid_1d(total.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<NllParams>(Shader::FlowNll, "Params");
    }
}
