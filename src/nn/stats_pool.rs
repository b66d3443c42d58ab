//! `StatsPool`: the x-vector statistics pooling layer, `[N, C, L]` -> `[N, 2C]` (per-channel mean
//! over time, then standard deviation), on the stats_pool kernel and its backward.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::reduce::{stats_pool, stats_pool_backward, STATS_POOL_EPS};
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Mean and `sqrt(var + eps)` over the last axis, concatenated along channels; no parameters.
pub struct StatsPool {
    ctx: Context,
    pub eps: f32,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl StatsPool {
    /// With the variance floor [`STATS_POOL_EPS`].
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            eps: STATS_POOL_EPS,
            saved_input: None,
            output: None,
            grad_input: None,
        }
    }
}

impl Layer for StatsPool {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[batch, channels, _] = x.shape() else {
            return Err(HarkError::shape(
                "stats_pool",
                format!("input {:?} must be [N, C, L]", x.shape()),
            ));
        };
        let y = reuse(&self.ctx, &mut self.output, &[batch, 2 * channels])?;
        stats_pool(rec, x, self.eps, &y)?;
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let (Some(x), Some(y)) = (&self.saved_input, &self.output) else {
            return Err(HarkError::invalid(
                "stats_pool",
                "backward without a training forward",
            ));
        };
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        stats_pool_backward(rec, x, y, grad_output, &grad_x)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
