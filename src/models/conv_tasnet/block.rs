//! One conv block of Conv-TasNet's temporal convolution network (torchaudio's `ConvBlock`):
//! 1x1 conv B->H -> PReLU -> gLN -> depthwise conv (kernel P, dilation d, padding d) -> PReLU
//! -> gLN, then `res_out` (1x1 H->B, absent in the very last block) and `skip_out` (1x1 H->Sc).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv1d::conv1d;
use crate::kernels::conv1d::Conv1dParams;
use crate::kernels::elementwise::add;
use crate::kernels::norm::{
    partials_len, prelu_group_norm, PreluGroupNormArgs, PreluGroupNormOutputs, DEFAULT_CHUNK,
};
use crate::nn::{Conv1d, GroupNorm, Layer, Mode, PRelu, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Buffers shared by every block in eval mode: two hidden maps `[batch, H, frames]`, one
/// `[batch, B, frames]` for the residual and skip convolutions, gLN statistics and the fused
/// PReLU + gLN's chunk partials ([`prelu_group_norm_partials`]).
pub(crate) struct EvalScratch {
    pub hidden: [Tensor; 2],
    pub io: Tensor,
    pub mean: Tensor,
    pub rstd: Tensor,
    pub partials: Tensor,
}

/// Values of the partial-statistics workspace of the fused PReLU + gLN over `hidden_shape`.
pub(crate) fn prelu_group_norm_partials(hidden_shape: &[usize]) -> Result<usize> {
    partials_len(hidden_shape, 1, DEFAULT_CHUNK)
}

/// gLN's epsilon in torchaudio.
pub(crate) const GLN_EPS: f32 = 1e-8;

pub(crate) struct ConvBlock {
    /// `conv_layers.{0..5}`: 1x1 conv, PReLU, gLN, depthwise conv, PReLU, gLN.
    conv_in: Conv1d,
    prelu_in: PRelu,
    norm_in: GroupNorm,
    depthwise: Conv1d,
    prelu_out: PRelu,
    norm_out: GroupNorm,
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
        let conv_in = pointwise(ctx, &format!("{name}.conv_layers.0"), io, hidden, init)?;
        let prelu_in = PRelu::new(ctx, &format!("{name}.conv_layers.1"), 1)?;
        let norm_in = GroupNorm::new(ctx, &format!("{name}.conv_layers.2"), 1, hidden, GLN_EPS)?;
        let depthwise = Conv1d::new(
            ctx,
            &format!("{name}.conv_layers.3"),
            hidden,
            hidden,
            kernel,
            depthwise,
            true,
            init,
        )?;
        let prelu_out = PRelu::new(ctx, &format!("{name}.conv_layers.4"), 1)?;
        let norm_out = GroupNorm::new(ctx, &format!("{name}.conv_layers.5"), 1, hidden, GLN_EPS)?;
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
            conv_in,
            prelu_in,
            norm_in,
            depthwise,
            prelu_out,
            norm_out,
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
        let h = self.conv_in.forward(rec, x, mode)?;
        let h = self.prelu_in.forward(rec, &h, mode)?;
        let h = self.norm_in.forward(rec, &h, mode)?;
        let h = self.depthwise.forward(rec, &h, mode)?;
        let h = self.prelu_out.forward(rec, &h, mode)?;
        let feature = self.norm_out.forward(rec, &h, mode)?;
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
        let g = self.norm_out.backward(rec, &grad_feature)?;
        let g = self.prelu_out.backward(rec, &g)?;
        let g = self.depthwise.backward(rec, &g)?;
        let g = self.norm_in.backward(rec, &g)?;
        let g = self.prelu_in.backward(rec, &g)?;
        self.conv_in.backward(rec, &g)
    }

    /// Eval-mode forward through shared scratch buffers (no per-layer activations kept):
    /// writes `x + residual` into `next` (when the block has a residual) and `skip_in + skip`
    /// (or the skip alone) into `skip_out`.
    pub(crate) fn forward_eval(
        &self,
        rec: &mut Recorder,
        x: &Tensor,
        scratch: &EvalScratch,
        next: Option<&Tensor>,
        skip_in: Option<&Tensor>,
        skip_out: &Tensor,
    ) -> Result<()> {
        let (a, b) = (&scratch.hidden[0], &scratch.hidden[1]);
        let conv = |rec: &mut Recorder, layer: &Conv1d, x: &Tensor, out: &Tensor| {
            conv1d(
                rec,
                x,
                &layer.weight.value,
                layer.bias.as_ref().map(|p| &p.value),
                &layer.params,
                out,
            )
        };
        // PReLU -> gLN in one fused kernel (chunked statistics, PReLU recomputed on apply).
        let prelu_norm =
            |rec: &mut Recorder, prelu: &PRelu, layer: &GroupNorm, x: &Tensor, out: &Tensor| {
                let args = PreluGroupNormArgs {
                    x,
                    slope: Some(&prelu.weight.value),
                    groups: layer.groups,
                    eps: layer.eps,
                    weight: Some(&layer.weight.value),
                    bias: Some(&layer.bias.value),
                    chunk: DEFAULT_CHUNK,
                };
                let outputs = PreluGroupNormOutputs {
                    out,
                    activated: None,
                    mean: &scratch.mean,
                    rstd: &scratch.rstd,
                    partials: &scratch.partials,
                };
                prelu_group_norm(rec, &args, &outputs)
            };
        conv(rec, &self.conv_in, x, a)?;
        prelu_norm(rec, &self.prelu_in, &self.norm_in, a, b)?;
        conv(rec, &self.depthwise, b, a)?;
        prelu_norm(rec, &self.prelu_out, &self.norm_out, a, b)?;
        match (&self.res_out, next) {
            (Some(res), Some(next)) => {
                conv(rec, res, b, &scratch.io)?;
                add(rec, x, &scratch.io, next)?;
            }
            (None, None) => {}
            _ => {
                return Err(HarkError::invalid(
                    "conv_tasnet",
                    "residual output requested from a block without res_out, or missing",
                ))
            }
        }
        match skip_in {
            Some(sum) => {
                conv(rec, &self.skip_out, b, &scratch.io)?;
                add(rec, sum, &scratch.io, skip_out)
            }
            None => conv(rec, &self.skip_out, b, skip_out),
        }
    }

    pub(crate) fn has_residual(&self) -> bool {
        self.res_out.is_some()
    }

    /// H.
    pub(crate) fn hidden(&self) -> usize {
        self.conv_in.weight.value.shape()[0]
    }

    pub(crate) fn params(&self) -> Vec<&Param> {
        let mut params: Vec<&Param> = [
            &self.conv_in as &dyn Layer,
            &self.prelu_in,
            &self.norm_in,
            &self.depthwise,
            &self.prelu_out,
            &self.norm_out,
        ]
        .iter()
        .flat_map(|l| l.params())
        .collect();
        if let Some(conv) = &self.res_out {
            params.extend(conv.params());
        }
        params.extend(self.skip_out.params());
        params
    }
}
