//! The self-supervised classifier's network (paper 002, REFERENCE-SPECS §5): TgramNet on the wave,
//! a TDNN (x-vector layout: dilated 1-D convolutions over time, statistics pooling, an embedding
//! layer) on the log-mel, the Tgram and optional user features concatenated along channels, and
//! two linear heads on the embedding: the section classifier and the attribute classifier.
//!
//! The concatenation is never materialised: the first TDNN convolution over the stacked channels
//! equals the sum of one convolution per input over its own channels (its weight split along the
//! input axis), so each input keeps its own tensor and no copy runs per step.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::kernels::conv1d::{conv1d_backward_weight, Conv1dParams};
use crate::kernels::elementwise::add;
use crate::models::ssc::tgram::{tgram_frames, tgram_net, TGRAM_CHANNELS};
use crate::nn::{
    reuse, BatchNorm1d, Conv1d, Layer, Linear, Mode, Param, SeededInit, Sequential, StatsPool,
};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// (kernel, dilation) of the TDNN's five frame layers, as the x-vector network (Snyder et al.
/// 2018): 15 frames of context in all.
pub const TDNN_FRAME_LAYERS: [(usize, usize); 5] = [(5, 1), (3, 2), (3, 3), (1, 1), (1, 1)];

/// Frames the TDNN's unpadded convolutions consume (the output is this much shorter).
pub const TDNN_CONTEXT: usize = 14;

/// Sizes of the network; everything the checkpoint's shapes depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SscShape {
    /// Samples per clip (the Tgram's LayerNorms are built for its frame count).
    pub samples: usize,
    /// Log-mel bins.
    pub mel_bins: usize,
    /// Whether the TgramNet branch is there.
    pub tgram: bool,
    /// Channels of the user-supplied extra features (0: none).
    pub extra_dims: usize,
    /// Width of the first four TDNN frame layers.
    pub channels: usize,
    /// Width of the last frame layer (statistics pooling doubles it).
    pub pool_channels: usize,
    /// Embedding size.
    pub embedding: usize,
    /// Section classes.
    pub sections: usize,
    /// Attribute classes.
    pub attributes: usize,
}

impl SscShape {
    /// Frames of the log-mel and the Tgram.
    pub fn frames(&self) -> usize {
        tgram_frames(self.samples)
    }

    fn check(&self) -> Result<()> {
        if self.frames() <= TDNN_CONTEXT {
            return Err(HarkError::invalid(
                "ssc",
                format!(
                    "clips of {} samples give {} frames; the TDNN needs more than {TDNN_CONTEXT}",
                    self.samples,
                    self.frames()
                ),
            ));
        }
        let sizes = [
            self.mel_bins,
            self.channels,
            self.pool_channels,
            self.embedding,
            self.sections,
            self.attributes,
        ];
        if sizes.contains(&0) {
            return Err(HarkError::invalid(
                "ssc",
                format!("empty layer in {self:?}"),
            ));
        }
        Ok(())
    }
}

/// The network's inputs for one batch of `N` clips.
pub struct SscInputs<'a> {
    /// `[N, 1, samples]` raw waves (read by TgramNet only).
    pub wave: &'a Tensor,
    /// `[N, mel_bins, frames]` standardised log-mel.
    pub mel: &'a Tensor,
    /// `[N, extra_dims, frames]` user features, when the network has them.
    pub extra: Option<&'a Tensor>,
}

/// What one forward produces (tensors owned by the layers).
pub struct SscOutputs {
    /// `[N, embedding]`.
    pub embedding: Tensor,
    /// `[N, sections]`.
    pub section_logits: Tensor,
    /// `[N, attributes]`.
    pub attribute_logits: Tensor,
}

/// The network; parameter names follow an equivalent torch module.
pub struct SscNetwork {
    ctx: Context,
    shape: SscShape,
    pub tgram: Option<Sequential>,
    /// The first TDNN layer's share over each input: log-mel, Tgram, extra features.
    pub mel_in: Conv1d,
    pub tgram_in: Option<Conv1d>,
    pub extra_in: Option<Conv1d>,
    /// BatchNorm + ReLU after the first layer, frame layers 2-5, statistics pooling, embedding.
    pub trunk: Sequential,
    pub section_head: Linear,
    pub attribute_head: Linear,
    sums: [Option<Tensor>; 2],
    grad_sums: [Option<Tensor>; 2],
}

fn batchnorm(ctx: &Context, name: &str, channels: usize) -> Result<Box<dyn Layer>> {
    let config = BatchNormConfig {
        eps: 1e-5,
        momentum: 0.1,
        relu: true,
    };
    Ok(Box::new(BatchNorm1d::new(ctx, name, channels, config)?))
}

fn frame_conv(
    ctx: &Context,
    name: &str,
    inputs: usize,
    outputs: usize,
    (kernel, dilation): (usize, usize),
    init: &mut SeededInit,
) -> Result<Conv1d> {
    let params = Conv1dParams {
        dilation,
        ..Conv1dParams::default()
    };
    Conv1d::new(ctx, name, inputs, outputs, kernel, params, false, init)
}

impl SscNetwork {
    /// A freshly initialised network (the same `seed`, the same weights).
    pub fn new(ctx: &Context, shape: SscShape, seed: u64) -> Result<Self> {
        shape.check()?;
        let mut init = SeededInit::new(seed);
        let c = shape.channels;
        let first = TDNN_FRAME_LAYERS[0];
        let tgram = shape
            .tgram
            .then(|| tgram_net(ctx, "tgram", shape.frames(), &mut init))
            .transpose()?;
        let mel_in = frame_conv(ctx, "tdnn.0.mel", shape.mel_bins, c, first, &mut init)?;
        let tgram_in = shape
            .tgram
            .then(|| frame_conv(ctx, "tdnn.0.tgram", TGRAM_CHANNELS, c, first, &mut init))
            .transpose()?;
        let extra_in = (shape.extra_dims > 0)
            .then(|| frame_conv(ctx, "tdnn.0.extra", shape.extra_dims, c, first, &mut init))
            .transpose()?;
        let mut trunk: Vec<Box<dyn Layer>> = vec![batchnorm(ctx, "tdnn.1", c)?];
        let mut inputs = c;
        for (i, &layer) in TDNN_FRAME_LAYERS.iter().enumerate().skip(1) {
            let outputs = if i + 1 == TDNN_FRAME_LAYERS.len() {
                shape.pool_channels
            } else {
                c
            };
            trunk.push(Box::new(frame_conv(
                ctx,
                &format!("tdnn.{}", 2 * i),
                inputs,
                outputs,
                layer,
                &mut init,
            )?));
            trunk.push(batchnorm(ctx, &format!("tdnn.{}", 2 * i + 1), outputs)?);
            inputs = outputs;
        }
        trunk.push(Box::new(StatsPool::new(ctx)));
        trunk.push(Box::new(Linear::new(
            ctx,
            "embedding",
            2 * shape.pool_channels,
            shape.embedding,
            true,
            &mut init,
        )?));
        let e = shape.embedding;
        Ok(Self {
            ctx: ctx.clone(),
            shape,
            tgram,
            mel_in,
            tgram_in,
            extra_in,
            trunk: Sequential::new(trunk),
            section_head: Linear::new(ctx, "section_head", e, shape.sections, true, &mut init)?,
            attribute_head: Linear::new(
                ctx,
                "attribute_head",
                e,
                shape.attributes,
                true,
                &mut init,
            )?,
            sums: [None, None],
            grad_sums: [None, None],
        })
    }

    pub fn shape(&self) -> &SscShape {
        &self.shape
    }

    /// Records the forward pass of one batch.
    pub fn forward(
        &mut self,
        rec: &mut Recorder,
        inputs: &SscInputs,
        mode: Mode,
    ) -> Result<SscOutputs> {
        let mut first = self.mel_in.forward(rec, inputs.mel, mode)?;
        let mut branches = Vec::new();
        if let (Some(tgram), Some(conv)) = (&mut self.tgram, &mut self.tgram_in) {
            let features = tgram.forward(rec, inputs.wave, mode)?;
            branches.push(conv.forward(rec, &features, mode)?);
        }
        match (&mut self.extra_in, inputs.extra) {
            (Some(conv), Some(extra)) => branches.push(conv.forward(rec, extra, mode)?),
            (None, None) => {}
            _ => {
                return Err(HarkError::invalid(
                    "ssc",
                    "extra features must be given exactly when the network was built for them",
                ))
            }
        }
        for (slot, branch) in self.sums.iter_mut().zip(&branches) {
            let sum = reuse(&self.ctx, slot, first.shape())?;
            add(rec, &first, branch, &sum)?;
            first = sum;
        }
        let embedding = self.trunk.forward(rec, &first, mode)?;
        Ok(SscOutputs {
            section_logits: self.section_head.forward(rec, &embedding, mode)?,
            attribute_logits: self.attribute_head.forward(rec, &embedding, mode)?,
            embedding,
        })
    }

    /// Records the backward pass of the last training forward, from the gradients of the section
    /// and attribute logits and any gradient on the embedding itself (the triplet loss's); writes
    /// every parameter's gradient.
    pub fn backward(
        &mut self,
        rec: &mut Recorder,
        inputs: &SscInputs,
        grad_section: &Tensor,
        grad_attribute: &Tensor,
        grad_embedding: Option<&Tensor>,
    ) -> Result<()> {
        let from_section = self.section_head.backward(rec, grad_section)?;
        let from_attribute = self.attribute_head.backward(rec, grad_attribute)?;
        let mut grad = reuse(&self.ctx, &mut self.grad_sums[0], from_section.shape())?;
        add(rec, &from_section, &from_attribute, &grad)?;
        if let Some(extra) = grad_embedding {
            let total = reuse(&self.ctx, &mut self.grad_sums[1], from_section.shape())?;
            add(rec, &grad, extra, &total)?;
            grad = total;
        }
        let grad_first = self.trunk.backward(rec, &grad)?;
        // The inputs' own gradients are not needed: only the weights' are computed.
        conv1d_backward_weight(
            rec,
            inputs.mel,
            &grad_first,
            &self.mel_in.params,
            &self.mel_in.weight.grad,
        )?;
        if let (Some(conv), Some(extra)) = (&self.extra_in, inputs.extra) {
            conv1d_backward_weight(rec, extra, &grad_first, &conv.params, &conv.weight.grad)?;
        }
        if let (Some(tgram), Some(conv)) = (&mut self.tgram, &mut self.tgram_in) {
            let grad_features = conv.backward(rec, &grad_first)?;
            tgram.backward(rec, &grad_features)?;
        }
        Ok(())
    }

    /// Trainable parameters in state-dict order.
    pub fn params(&self) -> Vec<&Param> {
        let mut params = Vec::new();
        if let Some(tgram) = &self.tgram {
            params.extend(tgram.params());
        }
        params.extend(self.mel_in.params());
        for conv in [&self.tgram_in, &self.extra_in].into_iter().flatten() {
            params.extend(conv.params());
        }
        params.extend(self.trunk.params());
        params.extend(self.section_head.params());
        params.extend(self.attribute_head.params());
        params
    }

    /// Parameters and running statistics under their state-dict names.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        entries.extend(self.trunk.buffers());
        entries
    }
}
