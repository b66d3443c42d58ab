//! `GroupNorm` as torch.nn.GroupNorm(groups, channels) over `[N, C, ...]` (biased variance,
//! weight 1 and bias 0 at init); one group is Conv-TasNet's gLN.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::norm::{group_norm, group_norm_backward_input, group_norm_backward_params};
use crate::nn::layer::{Layer, Mode, Param};
use crate::nn::layer_norm::{affine, NormState};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// torch.nn.GroupNorm(groups, channels) over `[N, C, ...]`; one group is Conv-TasNet's gLN.
pub struct GroupNorm {
    pub weight: Param,
    pub bias: Param,
    pub groups: usize,
    pub eps: f32,
    state: NormState,
}

impl GroupNorm {
    /// `torch.nn.GroupNorm(groups, channels, eps)` (torch's eps is 1e-5).
    pub fn new(
        ctx: &Context,
        name: &str,
        groups: usize,
        channels: usize,
        eps: f32,
    ) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) || eps.is_nan() || eps < 0.0 {
            return Err(HarkError::invalid(
                "group_norm",
                format!("{channels} channels in {groups} groups with eps {eps}"),
            ));
        }
        let (weight, bias) = affine(ctx, name, channels)?;
        Ok(Self {
            weight,
            bias,
            groups,
            eps,
            state: NormState::new(ctx),
        })
    }
}

impl Layer for GroupNorm {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let channels = self.weight.value.numel();
        let &[batch, c, ..] = x.shape() else {
            return Err(HarkError::shape(
                "group_norm",
                format!("input {:?} must be [N, C, ...]", x.shape()),
            ));
        };
        if c != channels {
            return Err(HarkError::shape(
                "group_norm",
                format!("input {:?} for {channels} channels", x.shape()),
            ));
        }
        let (y, mean, rstd) = self.state.forward_tensors(x, batch * self.groups)?;
        let (w, b) = (Some(&self.weight.value), Some(&self.bias.value));
        group_norm(rec, x, self.groups, self.eps, w, b, &y, &mean, &rstd)?;
        self.state.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let [x, mean, rstd, grad_x] = self.state.backward_tensors("group_norm")?;
        let (groups, w) = (self.groups, Some(&self.weight.value));
        group_norm_backward_input(rec, &x, grad_output, groups, w, &mean, &rstd, &grad_x)?;
        group_norm_backward_params(
            rec,
            &x,
            grad_output,
            groups,
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
