//! Conv-TasNet's mask generator (torchaudio's `MaskGenerator`): gLN -> 1x1 conv N->B -> X*R conv
//! blocks (features += residual, skips summed) -> PReLU -> 1x1 conv B->N*sources -> mask
//! activation.

use super::block::{pointwise, prelu_group_norm_partials, ConvBlock, EvalScratch, GLN_EPS};
use super::config::{ConvTasNetConfig, MaskActivation};
use super::reuse;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::add;
use crate::nn::{Activation, GroupNorm, Layer, Mode, Nonlinearity, PRelu, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub(crate) struct MaskGenerator {
    ctx: Context,
    input_norm: GroupNorm,
    input_conv: crate::nn::Conv1d,
    blocks: Vec<ConvBlock>,
    output_prelu: PRelu,
    output_conv: crate::nn::Conv1d,
    activation: Activation,
    /// The features entering block i+1 (feats_0 is the input conv's output).
    feats: Vec<Option<Tensor>>,
    /// Ping-pong buffers for the running skip sum and the running feature gradient.
    skip_sums: [Option<Tensor>; 2],
    grad_feats: [Option<Tensor>; 2],
    /// Eval mode: two hidden maps, one B-channel map, gLN statistics, then ping-pong feature
    /// and skip-sum maps, shared by all blocks.
    eval: [Option<Tensor>; 10],
}

impl MaskGenerator {
    pub(crate) fn new(
        ctx: &Context,
        config: &ConvTasNetConfig,
        init: &mut SeededInit,
    ) -> Result<Self> {
        let name = "mask_generator";
        let (n, b) = (config.enc_feats, config.msk_feats);
        let mut blocks = Vec::with_capacity(config.msk_stacks * config.msk_layers);
        for s in 0..config.msk_stacks {
            for l in 0..config.msk_layers {
                let last = s + 1 == config.msk_stacks && l + 1 == config.msk_layers;
                blocks.push(ConvBlock::new(
                    ctx,
                    &format!("{name}.conv_layers.{}", blocks.len()),
                    b,
                    config.msk_hidden,
                    config.msk_kernel,
                    1 << l,
                    !last,
                    init,
                )?);
            }
        }
        let nonlinearity = match config.mask {
            MaskActivation::Sigmoid => Nonlinearity::Sigmoid,
            MaskActivation::Relu => Nonlinearity::Relu,
        };
        Ok(Self {
            ctx: ctx.clone(),
            input_norm: GroupNorm::new(ctx, &format!("{name}.input_norm"), 1, n, GLN_EPS)?,
            input_conv: pointwise(ctx, &format!("{name}.input_conv"), n, b, init)?,
            feats: (0..blocks.len()).map(|_| None).collect(),
            blocks,
            output_prelu: PRelu::new(ctx, &format!("{name}.output_prelu"), 1)?,
            output_conv: pointwise(
                ctx,
                &format!("{name}.output_conv"),
                b,
                n * config.sources,
                init,
            )?,
            activation: Activation::new(ctx, nonlinearity),
            skip_sums: [None, None],
            grad_feats: [None, None],
            eval: Default::default(),
        })
    }

    /// Masks `[batch, N * sources, frames]` for encoder features `[batch, N, frames]`.
    pub(crate) fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if mode == Mode::Eval {
            return self.forward_eval(rec, x);
        }
        let normed = self.input_norm.forward(rec, x, mode)?;
        let mut feats = self.input_conv.forward(rec, &normed, mode)?;
        let mut skip_sum: Option<Tensor> = None;
        let mut turn = 0;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let (residual, skip) = block.forward(rec, &feats, mode)?;
            skip_sum = Some(match skip_sum {
                None => skip,
                Some(sum) => {
                    let out = reuse(&self.ctx, &mut self.skip_sums[turn], skip.shape())?;
                    turn ^= 1;
                    add(rec, &sum, &skip, &out)?;
                    out
                }
            });
            if let Some(residual) = residual {
                let next = reuse(&self.ctx, &mut self.feats[i], feats.shape())?;
                add(rec, &feats, &residual, &next)?;
                feats = next;
            }
        }
        let skip_sum =
            skip_sum.ok_or_else(|| HarkError::invalid("conv_tasnet", "no conv blocks"))?;
        let y = self.output_prelu.forward(rec, &skip_sum, mode)?;
        let y = self.output_conv.forward(rec, &y, mode)?;
        self.activation.forward(rec, &y, mode)
    }

    /// Eval mode: the blocks run through shared buffers, so memory does not grow with the
    /// number of blocks (a 10-second clip at the default size needs ~0.2 GB, not ~6 GB).
    fn forward_eval(&mut self, rec: &mut Recorder, x: &Tensor) -> Result<Tensor> {
        let normed = self.input_norm.forward(rec, x, Mode::Eval)?;
        let feats0 = self.input_conv.forward(rec, &normed, Mode::Eval)?;
        let &[batch, io, frames] = feats0.shape() else {
            return Err(HarkError::shape(
                "conv_tasnet",
                "features must be [batch, B, frames]",
            ));
        };
        let hidden = self.blocks_hidden();
        let partials = prelu_group_norm_partials(&[batch, hidden, frames])?;
        let shapes: [Vec<usize>; 10] = [
            vec![batch, hidden, frames],
            vec![batch, hidden, frames],
            vec![batch, io, frames],
            vec![batch],
            vec![batch],
            vec![batch, io, frames],
            vec![batch, io, frames],
            vec![batch, io, frames],
            vec![batch, io, frames],
            vec![partials],
        ];
        let mut t = Vec::with_capacity(10);
        for (slot, shape) in self.eval.iter_mut().zip(&shapes) {
            t.push(reuse(&self.ctx, slot, shape)?);
        }
        let scratch = EvalScratch {
            hidden: [t[0].clone(), t[1].clone()],
            io: t[2].clone(),
            mean: t[3].clone(),
            rstd: t[4].clone(),
            partials: t[9].clone(),
        };
        let (feats, skips) = ([&t[5], &t[6]], [&t[7], &t[8]]);
        let mut current = feats0.clone();
        let mut skip_sum: Option<Tensor> = None;
        for (i, block) in self.blocks.iter().enumerate() {
            let next = block.has_residual().then(|| feats[i % 2]);
            let skip_out = skips[i % 2];
            block.forward_eval(rec, &current, &scratch, next, skip_sum.as_ref(), skip_out)?;
            skip_sum = Some(skip_out.clone());
            if let Some(next) = next {
                current = next.clone();
            }
        }
        let skip_sum =
            skip_sum.ok_or_else(|| HarkError::invalid("conv_tasnet", "no conv blocks"))?;
        let y = self.output_prelu.forward(rec, &skip_sum, Mode::Eval)?;
        let y = self.output_conv.forward(rec, &y, Mode::Eval)?;
        self.activation.forward(rec, &y, Mode::Eval)
    }

    fn blocks_hidden(&self) -> usize {
        self.blocks.first().map_or(0, ConvBlock::hidden)
    }

    /// The gradient with respect to the encoder features from the masks' gradient.
    pub(crate) fn backward(&mut self, rec: &mut Recorder, grad: &Tensor) -> Result<Tensor> {
        let g = self.activation.backward(rec, grad)?;
        let g = self.output_conv.backward(rec, &g)?;
        // Every block's skip output feeds the sum: all get this gradient.
        let grad_skip = self.output_prelu.backward(rec, &g)?;
        let mut running: Option<Tensor> = None;
        let mut turn = 0;
        for block in self.blocks.iter_mut().rev() {
            let from_block = block.backward(rec, running.as_ref(), &grad_skip)?;
            running = Some(match running {
                None => from_block,
                Some(r) => {
                    let out = reuse(&self.ctx, &mut self.grad_feats[turn], r.shape())?;
                    turn ^= 1;
                    add(rec, &r, &from_block, &out)?;
                    out
                }
            });
        }
        let running = running.ok_or_else(|| HarkError::invalid("conv_tasnet", "no conv blocks"))?;
        let g = self.input_conv.backward(rec, &running)?;
        self.input_norm.backward(rec, &g)
    }

    pub(crate) fn params(&self) -> Vec<&Param> {
        let mut params = self.input_norm.params();
        params.extend(self.input_conv.params());
        for block in &self.blocks {
            params.extend(block.params());
        }
        params.extend(self.output_prelu.params());
        params.extend(self.output_conv.params());
        params
    }
}
