//! The whole separator: end padding -> encoder -> masks -> masking -> decoder -> crop.

use std::collections::HashMap;
use std::path::Path;

use super::config::{ConvTasNetConfig, MaskActivation};
use super::mask_generator::MaskGenerator;
use super::reuse;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, save_checkpoint};
use crate::kernels::conv1d::Conv1dParams;
use crate::kernels::elementwise::add;
use crate::kernels::separation::{mask_apply, mask_apply_backward, resize_frames};
use crate::nn::{Conv1d, ConvTranspose1d, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// What backward needs from the last training forward.
struct Saved {
    batch: usize,
    len: usize,
    padded: usize,
    feats: Tensor,
    masks: Tensor,
}

pub struct ConvTasNet {
    ctx: Context,
    config: ConvTasNetConfig,
    encoder: Conv1d,
    mask_generator: MaskGenerator,
    decoder: ConvTranspose1d,
    saved: Option<Saved>,
    padded: Option<Tensor>,
    masked: Option<Tensor>,
    output: Option<Tensor>,
    grad_decoded: Option<Tensor>,
    grad_masks: Option<Tensor>,
    grad_feats: [Option<Tensor>; 2],
    grad_input: Option<Tensor>,
}

impl ConvTasNet {
    /// A model with torch's default initialisation drawn from `seed`.
    pub fn new(ctx: &Context, config: ConvTasNetConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut init = SeededInit::new(seed);
        let (n, l) = (config.enc_feats, config.enc_kernel);
        let codec = Conv1dParams {
            stride: config.stride(),
            padding: config.stride(),
            ..Conv1dParams::default()
        };
        Ok(Self {
            ctx: ctx.clone(),
            encoder: Conv1d::new(ctx, "encoder", 1, n, l, codec, false, &mut init)?,
            mask_generator: MaskGenerator::new(ctx, &config, &mut init)?,
            decoder: ConvTranspose1d::new(ctx, "decoder", n, 1, l, codec, false, &mut init)?,
            config,
            saved: None,
            padded: None,
            masked: None,
            output: None,
            grad_decoded: None,
            grad_masks: None,
            grad_feats: [None, None],
            grad_input: None,
        })
    }

    pub fn config(&self) -> &ConvTasNetConfig {
        &self.config
    }

    /// Parameters under torchaudio's state-dict names, in its order.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        self.params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect()
    }

    fn metadata(&self) -> HashMap<String, String> {
        let c = &self.config;
        let mask = match c.mask {
            MaskActivation::Sigmoid => "sigmoid",
            MaskActivation::Relu => "relu",
        };
        HashMap::from([
            ("format".to_string(), "pt".to_string()),
            ("hark_model".to_string(), "conv_tasnet".to_string()),
            ("num_sources".to_string(), c.sources.to_string()),
            ("enc_kernel_size".to_string(), c.enc_kernel.to_string()),
            ("enc_num_feats".to_string(), c.enc_feats.to_string()),
            ("msk_kernel_size".to_string(), c.msk_kernel.to_string()),
            ("msk_num_feats".to_string(), c.msk_feats.to_string()),
            ("msk_num_hidden_feats".to_string(), c.msk_hidden.to_string()),
            ("msk_num_layers".to_string(), c.msk_layers.to_string()),
            ("msk_num_stacks".to_string(), c.msk_stacks.to_string()),
            ("msk_activate".to_string(), mask.to_string()),
        ])
    }

    /// The configuration recorded in a checkpoint written by [`ConvTasNet::save`].
    pub fn config_from_metadata(metadata: &HashMap<String, String>) -> Result<ConvTasNetConfig> {
        let get = |key: &str| -> Result<usize> {
            metadata
                .get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    HarkError::invalid("conv_tasnet", format!("checkpoint metadata lacks {key}"))
                })
        };
        let mask = match metadata.get("msk_activate").map(String::as_str) {
            Some("sigmoid") | None => MaskActivation::Sigmoid,
            Some("relu") => MaskActivation::Relu,
            Some(other) => {
                return Err(HarkError::invalid(
                    "conv_tasnet",
                    format!("unknown msk_activate {other}"),
                ))
            }
        };
        Ok(ConvTasNetConfig {
            sources: get("num_sources")?,
            enc_kernel: get("enc_kernel_size")?,
            enc_feats: get("enc_num_feats")?,
            msk_kernel: get("msk_kernel_size")?,
            msk_feats: get("msk_num_feats")?,
            msk_hidden: get("msk_num_hidden_feats")?,
            msk_layers: get("msk_num_layers")?,
            msk_stacks: get("msk_num_stacks")?,
            mask,
        })
    }

    /// Saves the state dict as safetensors (torchaudio's names), the configuration in the
    /// metadata; atomic.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(&self.ctx, path, &self.state_dict(), self.metadata())
    }

    /// Loads a state dict with torchaudio's names into a model of `config`; every tensor must
    /// be present with the configuration's shape (the error names the first that is not).
    pub fn load(ctx: &Context, path: &Path, config: ConvTasNetConfig) -> Result<Self> {
        let model = Self::new(ctx, config, 0)?;
        load_checkpoint(ctx, path, &model.state_dict())?;
        Ok(model)
    }

    /// Loads a checkpoint written by [`ConvTasNet::save`], taking the configuration from its
    /// metadata.
    pub fn load_saved(ctx: &Context, path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
            HarkError::invalid(
                "conv_tasnet",
                format!("{}: not a safetensors file: {e}", path.display()),
            )
        })?;
        let config = Self::config_from_metadata(&header.metadata().clone().unwrap_or_default())?;
        Self::load(ctx, path, config)
    }

    /// Bytes of the largest activation for `batch` clips of `len` samples (the hidden
    /// `[batch, H, frames]` maps, the masks `[batch, N * sources, frames]`).
    pub fn largest_activation(&self, batch: usize, len: usize) -> u64 {
        let c = &self.config;
        let channels = c.msk_hidden.max(c.enc_feats * c.sources);
        (batch * channels * c.frames(len) * 4) as u64
    }

    /// The longest input (samples) whose activations fit one storage binding of this device
    /// at `batch` clips.
    pub fn max_len(&self, batch: usize) -> usize {
        let c = &self.config;
        let limit = self.ctx.limits().max_storage_buffer_binding_size;
        let channels = c.msk_hidden.max(c.enc_feats * c.sources) as u64;
        let frames = limit / (4 * channels * batch.max(1) as u64);
        // frames(len) = len_padded / stride + 1 for the even kernels torchaudio uses.
        (frames.saturating_sub(2) as usize) * c.stride()
    }

    /// Checks before any allocation that `batch` clips of `len` samples fit the device, and
    /// says what length would.
    pub fn check_fits(&self, batch: usize, len: usize) -> Result<()> {
        let bytes = self.largest_activation(batch, len);
        let limit = self.ctx.limits().max_storage_buffer_binding_size;
        if bytes > limit {
            let max = self.max_len(batch);
            return Err(HarkError::TooLarge {
                what: format!(
                    "Conv-TasNet on {batch} x {len} samples (segments of at most {max} samples, \
                     {:.2} s at 16 kHz, fit at this batch)",
                    max as f64 / 16_000.0
                ),
                bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    /// `[batch, len]` or `[batch, 1, len]` -> (batch, len).
    fn input_dims(&self, x: &Tensor) -> Result<(usize, usize)> {
        match *x.shape() {
            [batch, len] | [batch, 1, len] if batch > 0 && len > 0 => Ok((batch, len)),
            _ => Err(HarkError::shape(
                "conv_tasnet",
                format!("input {:?} must be [batch, 1, samples]", x.shape()),
            )),
        }
    }
}

impl Layer for ConvTasNet {
    /// `x [batch, 1, samples]` -> separated sources `[batch, sources, samples]`.
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (batch, len) = self.input_dims(x)?;
        self.check_fits(batch, len)?;
        let (n, s) = (self.config.enc_feats, self.config.sources);
        let padded_len = len + self.config.end_padding(len);
        let padded = reuse(&self.ctx, &mut self.padded, &[batch, 1, padded_len])?;
        resize_frames(rec, &x.reshape(&[batch, 1, len])?, &padded)?;
        let feats = self.encoder.forward(rec, &padded, mode)?;
        let frames = feats.shape()[2];
        let masks = self.mask_generator.forward(rec, &feats, mode)?;
        let masks = masks.reshape(&[batch, s, n, frames])?;
        let masked = reuse(&self.ctx, &mut self.masked, &[batch * s, n, frames])?;
        mask_apply(rec, &masks, &feats, &masked)?;
        let decoded = self.decoder.forward(rec, &masked, mode)?;
        if decoded.shape() != [batch * s, 1, padded_len] {
            return Err(HarkError::shape(
                "conv_tasnet",
                format!(
                    "decoder gave {:?} for {padded_len} padded samples",
                    decoded.shape()
                ),
            ));
        }
        let output = reuse(&self.ctx, &mut self.output, &[batch, s, len])?;
        resize_frames(rec, &decoded.reshape(&[batch, s, padded_len])?, &output)?;
        self.saved = (mode == Mode::Train).then(|| Saved {
            batch,
            len,
            padded: padded_len,
            feats,
            masks,
        });
        Ok(output)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let saved = self.saved.as_ref().ok_or_else(|| {
            HarkError::invalid("conv_tasnet", "backward without a training forward")
        })?;
        let (batch, len, padded) = (saved.batch, saved.len, saved.padded);
        let s = self.config.sources;
        if grad_output.numel() != batch * s * len {
            return Err(HarkError::shape(
                "conv_tasnet",
                format!(
                    "output gradient {:?} for output [{batch}, {s}, {len}]",
                    grad_output.shape()
                ),
            ));
        }
        let (feats, masks) = (saved.feats.clone(), saved.masks.clone());
        let grad_decoded = reuse(&self.ctx, &mut self.grad_decoded, &[batch * s, 1, padded])?;
        resize_frames(rec, &grad_output.reshape(&[batch * s, len])?, &grad_decoded)?;
        let grad_masked = self.decoder.backward(rec, &grad_decoded)?;
        let grad_masks = reuse(&self.ctx, &mut self.grad_masks, masks.shape())?;
        let direct = reuse(&self.ctx, &mut self.grad_feats[0], feats.shape())?;
        mask_apply_backward(
            rec,
            &grad_masked.reshape(masks.shape())?,
            &masks,
            &feats,
            &grad_masks,
            &direct,
        )?;
        let shape = feats.shape().to_vec();
        let through_masks = self.mask_generator.backward(
            rec,
            &grad_masks.reshape(&[shape[0], s * shape[1], shape[2]])?,
        )?;
        let grad_feats = reuse(&self.ctx, &mut self.grad_feats[1], &shape)?;
        add(rec, &direct, &through_masks, &grad_feats)?;
        let grad_padded = self.encoder.backward(rec, &grad_feats)?;
        let grad_input = reuse(&self.ctx, &mut self.grad_input, &[batch, 1, len])?;
        resize_frames(rec, &grad_padded, &grad_input)?;
        Ok(grad_input)
    }

    fn params(&self) -> Vec<&Param> {
        let mut params = self.encoder.params();
        params.extend(self.mask_generator.params());
        params.extend(self.decoder.params());
        params
    }
}
