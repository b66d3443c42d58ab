//! `LayerNorm` as torch.nn.LayerNorm (biased variance, weight 1 and bias 0 at init) over the
//! last axis or a chosen one (axis 1 of `[N, C, L]` is Conv-TasNet's cLN), on the layer_norm
//! kernels that save each line's mean and rstd for backward.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::norm::{layer_norm, layer_norm_backward_input, layer_norm_backward_params};
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Weight 1 and bias 0 over `len` features, named as torch's.
pub(crate) fn affine(ctx: &Context, name: &str, len: usize) -> Result<(Param, Param)> {
    Ok((
        Param::new(ctx, format!("{name}.weight"), &[len], &vec![1.0; len])?,
        Param::new(ctx, format!("{name}.bias"), &[len], &vec![0.0; len])?,
    ))
}

/// The statistics and buffers both norms keep between forward and backward.
pub(crate) struct NormState {
    ctx: Context,
    mean: Option<Tensor>,
    rstd: Option<Tensor>,
    pub(crate) saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl NormState {
    pub(crate) fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            mean: None,
            rstd: None,
            saved_input: None,
            output: None,
            grad_input: None,
        }
    }

    /// (output, mean, rstd) for input `x` with `blocks` statistics.
    pub(crate) fn forward_tensors(
        &mut self,
        x: &Tensor,
        blocks: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        Ok((
            reuse(&self.ctx, &mut self.output, x.shape())?,
            reuse(&self.ctx, &mut self.mean, &[blocks])?,
            reuse(&self.ctx, &mut self.rstd, &[blocks])?,
        ))
    }

    /// (saved input, mean, rstd, input gradient) for backward.
    pub(crate) fn backward_tensors(&mut self, kernel: &'static str) -> Result<[Tensor; 4]> {
        let (Some(x), Some(mean), Some(rstd)) = (&self.saved_input, &self.mean, &self.rstd) else {
            return Err(HarkError::invalid(
                kernel,
                "backward without a training forward",
            ));
        };
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        Ok([x.clone(), mean.clone(), rstd.clone(), grad_x])
    }
}

/// torch.nn.LayerNorm(features) over the last axis, or over a chosen axis with
/// [`LayerNorm::over_axis`] (axis 1 of `[N, C, L]` is Conv-TasNet's cLN).
pub struct LayerNorm {
    pub weight: Param,
    pub bias: Param,
    pub eps: f32,
    /// `None`: the last axis, as torch.
    axis: Option<usize>,
    state: NormState,
}

impl LayerNorm {
    /// `torch.nn.LayerNorm(features, eps)` (torch's eps is 1e-5).
    pub fn new(ctx: &Context, name: &str, features: usize, eps: f32) -> Result<Self> {
        if features == 0 || eps.is_nan() || eps < 0.0 {
            return Err(HarkError::invalid(
                "layer_norm",
                format!("{features} features and eps {eps}: need at least 1 and eps >= 0"),
            ));
        }
        let (weight, bias) = affine(ctx, name, features)?;
        Ok(Self {
            weight,
            bias,
            eps,
            axis: None,
            state: NormState::new(ctx),
        })
    }

    /// Normalises over `axis` (counted from the front) instead of the last one.
    pub fn over_axis(mut self, axis: usize) -> Self {
        self.axis = Some(axis);
        self
    }

    /// The normalised axis of `shape`, checked against the feature count.
    fn axis_of(&self, shape: &[usize]) -> Result<usize> {
        let features = self.weight.value.numel();
        let axis = self.axis.or(shape.len().checked_sub(1));
        match axis {
            Some(a) if shape.get(a) == Some(&features) => Ok(a),
            _ => Err(HarkError::shape(
                "layer_norm",
                format!(
                    "input {shape:?} has no {features}-long axis {}",
                    self.axis.map_or("last".into(), |a| a.to_string())
                ),
            )),
        }
    }
}

impl Layer for LayerNorm {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let axis = self.axis_of(x.shape())?;
        let lines = x.numel() / self.weight.value.numel();
        let (y, mean, rstd) = self.state.forward_tensors(x, lines)?;
        let (w, b) = (Some(&self.weight.value), Some(&self.bias.value));
        layer_norm(rec, x, axis, self.eps, w, b, &y, &mean, &rstd)?;
        self.state.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let [x, mean, rstd, grad_x] = self.state.backward_tensors("layer_norm")?;
        let axis = self.axis_of(x.shape())?;
        let w = Some(&self.weight.value);
        layer_norm_backward_input(rec, &x, grad_output, axis, w, &mean, &rstd, &grad_x)?;
        layer_norm_backward_params(
            rec,
            &x,
            grad_output,
            axis,
            &mean,
            &rstd,
            &self.weight.grad,
            &self.bias.grad,
        )?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
}
