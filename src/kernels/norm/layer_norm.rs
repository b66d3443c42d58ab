//! Launchers for `shaders/norm/layer_norm.wgsl`: LayerNorm over a chosen axis, forward (saving
//! mean and rstd per line) and backward (input; weight and bias).

use bytemuck::{Pod, Zeroable};

use super::{check_f32, check_numel, to_u32};
use crate::error::{HarkError, Result};
use crate::kernels::reduce::AxisView;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/norm/layer_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LayerNormParams {
    lines: u32,
    axis_len: u32,
    inner: u32,
    eps: f32,
    has_weight: u32,
    has_bias: u32,
}

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
    name: "layer_norm",
    shader: Shader::NormLayerNorm,
    entry: "forward",
    bindings: BINDINGS,
};

static BACKWARD_INPUT: Kernel = Kernel {
    name: "layer_norm_backward_input",
    shader: Shader::NormLayerNorm,
    entry: "backward_input",
    bindings: BINDINGS,
};

static BACKWARD_PARAMS: Kernel = Kernel {
    name: "layer_norm_backward_params",
    shader: Shader::NormLayerNorm,
    entry: "backward_params",
    bindings: BINDINGS,
};

fn params(
    kernel: &'static str,
    x: &Tensor,
    axis: usize,
    eps: f32,
    has_weight: bool,
    has_bias: bool,
) -> Result<LayerNormParams> {
    let view = AxisView::new(kernel, x.shape(), axis)?;
    to_u32(kernel, x.numel())?;
    // One workgroup per line (forward: 3 strided passes, backward input: 2) or per axis element
    // (backward params: 1 pass over the lines), each pass followed by an 8-level tree; past the
    // per-invocation loop budget an invalid-argument error.
    let (passes, len) = match kernel {
        "layer_norm" => (3, view.axis_len),
        "layer_norm_backward_input" => (2, view.axis_len),
        _ => (1, view.rows()),
    };
    crate::kernels::check_loop_budget(
        kernel,
        passes * (len.div_ceil(256) + 8),
        &format!(
            "a LayerNorm over {} values of {} lines",
            view.axis_len,
            view.rows()
        ),
    )?;
    Ok(LayerNormParams {
        // Each divides numel, which fits.
        lines: view.rows() as u32,
        axis_len: view.axis_len as u32,
        inner: view.inner.max(1) as u32,
        eps,
        has_weight: u32::from(has_weight),
        has_bias: u32::from(has_bias),
    })
}

/// LayerNorm of `x` over `axis`: each line along the axis becomes
/// `(x - mean) * rstd * weight[a] + bias[a]` with `rstd = 1 / sqrt(var + eps)` (biased variance,
/// as torch). `weight` and `bias` (each optional) hold `shape[axis]` values. `mean` and `rstd`
/// receive one value per line (`x.numel() / shape[axis]`, in `[outer, inner]` order) for the
/// backward pass.
#[allow(clippy::too_many_arguments)] // The tensors of one torch call; a struct would only rename them.
pub fn layer_norm(
    rec: &mut Recorder,
    x: &Tensor,
    axis: usize,
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
    let p = params(name, x, axis, eps, weight.is_some(), bias.is_some())?;
    if eps.is_nan() || eps < 0.0 {
        return Err(HarkError::invalid(name, format!("eps {eps} must be >= 0")));
    }
    check_numel(name, "out", out, x.numel())?;
    check_numel(name, "mean", mean, p.lines as usize)?;
    check_numel(name, "rstd", rstd, p.lines as usize)?;
    if let Some(w) = weight {
        check_numel(name, "weight", w, p.axis_len as usize)?;
    }
    if let Some(b) = bias {
        check_numel(name, "bias", b, p.axis_len as usize)?;
    }
    rec.dispatch(Launch {
        kernel: &FORWARD,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, w, b, out, mean, rstd],
        // One workgroup per line.
        workgroups: grid_1d(p.lines),
    })
}

/// Gradient of [`layer_norm`] with respect to its input: from `x`, `grad_out`, the optional
/// `weight` and the saved `mean` and `rstd`, writes `grad_in` (shape of `x`).
#[allow(clippy::too_many_arguments)] // The saved tensors of the forward pass plus the gradients.
pub fn layer_norm_backward_input(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    axis: usize,
    weight: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    grad_in: &Tensor,
) -> Result<()> {
    let name = BACKWARD_INPUT.name;
    let w = weight.unwrap_or(x);
    check_f32(name, &[x, grad_out, w, mean, rstd, grad_in])?;
    let p = params(name, x, axis, 0.0, weight.is_some(), false)?;
    check_numel(name, "grad_out", grad_out, x.numel())?;
    check_numel(name, "grad_in", grad_in, x.numel())?;
    check_numel(name, "mean", mean, p.lines as usize)?;
    check_numel(name, "rstd", rstd, p.lines as usize)?;
    if let Some(w) = weight {
        check_numel(name, "weight", w, p.axis_len as usize)?;
    }
    rec.dispatch(Launch::new(
        &BACKWARD_INPUT,
        &p,
        &[x, grad_out, w, mean, rstd, grad_in],
        grid_1d(p.lines),
    ))
}

/// Gradients of [`layer_norm`] with respect to its affine parameters: `grad_weight[a]` is the sum
/// over lines of `grad_out * xhat`, `grad_bias[a]` the sum of `grad_out` (each `shape[axis]`
/// values, overwritten, not accumulated).
#[allow(clippy::too_many_arguments)] // The saved tensors of the forward pass plus the gradients.
pub fn layer_norm_backward_params(
    rec: &mut Recorder,
    x: &Tensor,
    grad_out: &Tensor,
    axis: usize,
    mean: &Tensor,
    rstd: &Tensor,
    grad_weight: &Tensor,
    grad_bias: &Tensor,
) -> Result<()> {
    let name = BACKWARD_PARAMS.name;
    check_f32(name, &[x, grad_out, mean, rstd, grad_weight, grad_bias])?;
    let p = params(name, x, axis, 0.0, true, true)?;
    check_numel(name, "grad_out", grad_out, x.numel())?;
    check_numel(name, "mean", mean, p.lines as usize)?;
    check_numel(name, "rstd", rstd, p.lines as usize)?;
    check_numel(name, "grad_weight", grad_weight, p.axis_len as usize)?;
    check_numel(name, "grad_bias", grad_bias, p.axis_len as usize)?;
    rec.dispatch(Launch {
        kernel: &BACKWARD_PARAMS,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, grad_out, mean, rstd, grad_weight, grad_bias],
        // One workgroup per axis element, each summing over every line.
        workgroups: grid_1d(p.axis_len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<LayerNormParams>(Shader::NormLayerNorm, "Params");
    }
}
