//! One conv block of Conv-TasNet's temporal convolution network (torchaudio's `ConvBlock`):
//! 1x1 conv B->H -> PReLU -> gLN -> depthwise conv (kernel P, dilation d, padding d) -> PReLU
//! -> gLN, then `res_out` (1x1 H->B, absent in the very last block) and `skip_out` (1x1 H->Sc).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv1d::Conv1dParams;
use crate::kernels::elementwise::add;
use crate::nn::{Conv1d, GroupNorm, Layer, Mode, PRelu, Param, SeededInit, Sequential};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// gLN's epsilon in torchaudio.
pub(crate) const GLN_EPS: f32 = 1e-8;

pub(crate) struct ConvBlock {
    /// `conv_layers.{0..5}`.
    body: Sequential,
    res_out: Option<Conv1d>,
    skip_out: Conv1d,
    grad_feature: Option<Tensor>,
}

/// A 1x1 convolution `inputs -> outputs` with bias (torch's default initialisation).
pub(crate) fn pointwise(
    ctx: &Context,
    name: &str,
    inputs: usize,
    outputs: usize,
    init: &mut SeededInit,
) -> Result<Conv1d> {
    Conv1d::new(
        ctx,
        name,
        inputs,
        outputs,
        1,
        Conv1dParams::default(),
        true,
        init,
    )
}

impl ConvBlock {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        io: usize,
        hidden: usize,
        kernel: usize,
        dilation: usize,
        residual: bool,
        init: &mut SeededInit,
    ) -> Result<Self> {
        let depthwise = Conv1dParams {
            stride: 1,
            padding: dilation * (kernel - 1) / 2,
            dilation,
            groups: hidden,
        };
        let body = Sequential::new(vec![
            Box::new(pointwise(
                ctx,
                &format!("{name}.conv_layers.0"),
                io,
                hidden,
                init,
            )?),
            Box::new(PRelu::new(ctx, &format!("{name}.conv_layers.1"), 1)?),
            Box::new(GroupNorm::new(
                ctx,
                &format!("{name}.conv_layers.2"),
                1,
                hidden,
                GLN_EPS,
            )?),
            Box::new(Conv1d::new(
                ctx,
                &format!("{name}.conv_layers.3"),
                hidden,
                hidden,
                kernel,
                depthwise,
                true,
                init,
            )?),
            Box::new(PRelu::new(ctx, &format!("{name}.conv_layers.4"), 1)?),
            Box::new(GroupNorm::new(
                ctx,
                &format!("{name}.conv_layers.5"),
                1,
                hidden,
                GLN_EPS,
            )?),
        ]);
        let res_out = if residual {
            Some(pointwise(
                ctx,
                &format!("{name}.res_out"),
                hidden,
                io,
                init,
            )?)
        } else {
            None
        };
        let skip_out = pointwise(ctx, &format!("{name}.skip_out"), hidden, io, init)?;
        Ok(Self {
            body,
            res_out,
            skip_out,
            grad_feature: None,
        })
    }

    /// (residual, skip) of `x [batch, B, frames]`.
    pub(crate) fn forward(
        &mut self,
        rec: &mut Recorder,
        x: &Tensor,
        mode: Mode,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let feature = self.body.forward(rec, x, mode)?;
        let residual = match &mut self.res_out {
            Some(conv) => Some(conv.forward(rec, &feature, mode)?),
            None => None,
        };
        let skip = self.skip_out.forward(rec, &feature, mode)?;
        Ok((residual, skip))
    }

    /// The input gradient from the gradients of the residual (none for the last block) and
    /// skip outputs.
    pub(crate) fn backward(
        &mut self,
        rec: &mut Recorder,
        grad_residual: Option<&Tensor>,
        grad_skip: &Tensor,
    ) -> Result<Tensor> {
        let from_skip = self.skip_out.backward(rec, grad_skip)?;
        let grad_feature = match (&mut self.res_out, grad_residual) {
            (Some(conv), Some(g)) => {
                let from_res = conv.backward(rec, g)?;
                let sum = super::reuse(rec.context(), &mut self.grad_feature, from_skip.shape())?;
                add(rec, &from_skip, &from_res, &sum)?;
                sum
            }
            (None, None) => from_skip,
            _ => {
                return Err(HarkError::invalid(
                    "conv_tasnet",
                    "a residual gradient for a block without res_out, or none for one with it",
                ))
            }
        };
        self.body.backward(rec, &grad_feature)
    }

    pub(crate) fn params(&self) -> Vec<&Param> {
        let mut params = self.body.params();
        if let Some(conv) = &self.res_out {
            params.extend(conv.params());
        }
        params.extend(self.skip_out.params());
        params
    }
}
