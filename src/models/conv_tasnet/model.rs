//! The whole separator: end padding -> encoder -> masks -> masking -> decoder -> crop.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::config::{ConvTasNetConfig, MaskActivation};
use super::mask_generator::MaskGenerator;
use super::reuse;
use super::state_dict::{check_state_dict, infer_config, torchaudio_state_dict, StateDictHints};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, save_checkpoint, CheckpointHeader};
use crate::kernels::conv1d::Conv1dParams;
use crate::kernels::elementwise::add;
use crate::kernels::separation::{mask_apply, mask_apply_backward, resize_frames};
use crate::nn::{Conv1d, ConvTranspose1d, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;
use safetensors::Dtype;

/// What backward needs from the last training forward.
struct Saved {
    batch: usize,
    len: usize,
    padded: usize,
    feats: Tensor,
    masks: Tensor,
}

/// Where a loaded model's configuration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// hark's metadata, written by [`ConvTasNet::save`].
    Metadata,
    /// The tensors of a plain (torchaudio) state dict; the flags say what torchaudio's
    /// defaults supplied because no hint did (X = 8 blocks per stack, the sigmoid mask).
    Inferred {
        layers_assumed: bool,
        mask_assumed: bool,
    },
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
            ("msk_activate".to_string(), c.mask.name().to_string()),
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
        let mask = match metadata.get("msk_activate") {
            None => MaskActivation::Sigmoid,
            Some(name) => MaskActivation::from_name(name).ok_or_else(|| {
                HarkError::invalid("conv_tasnet", format!("unknown msk_activate {name}"))
            })?,
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

    /// Saves the state dict as safetensors, atomically: exactly torchaudio's names and shapes
    /// (`ConvTasNet(...).load_state_dict(safetensors.torch.load_file(path), strict=True)`
    /// accepts it; torch ignores the metadata), the configuration in hark's metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(&self.ctx, path, &self.state_dict(), self.metadata())
    }

    /// Loads a state dict with torchaudio's names into a model of `config`; every tensor must
    /// be present with the configuration's shape (the error names the first that is not).
    /// Other tensors in the file are ignored.
    pub fn load(ctx: &Context, path: &Path, config: ConvTasNetConfig) -> Result<Self> {
        config.validate()?;
        // Check the file's shapes before allocating the model, so that a configuration the
        // file cannot back is an error, not a multi-gigabyte allocation.
        let header = CheckpointHeader::read(path)?;
        let blocks = config.msk_layers.saturating_mul(config.msk_stacks);
        if blocks > header.tensors.len() {
            return Err(header.size_error(
                "msk_num_layers x msk_num_stacks",
                blocks,
                format!("the file holds only {} tensors", header.tensors.len()),
            ));
        }
        let expected = torchaudio_state_dict(&config);
        header.require_shapes(
            expected
                .iter()
                .map(|(name, shape)| (name.as_str(), shape.as_slice())),
        )?;
        let model = Self::new(ctx, config, 0)?;
        load_checkpoint(ctx, path, &model.state_dict())?;
        Ok(model)
    }

    /// The configuration of the safetensors state dict at `path`: from hark's metadata when
    /// [`ConvTasNet::save`] wrote it (a hint that contradicts it is an error), otherwise
    /// inferred from the tensors of a plain torchaudio state dict ([`infer_config`]). Either
    /// way the file must hold exactly torchaudio's tensors for it, in float32; the error names
    /// the first tensor that does not fit.
    pub fn read_config(
        path: &Path,
        hints: &StateDictHints,
    ) -> Result<(ConvTasNetConfig, ConfigOrigin)> {
        let header = CheckpointHeader::read(path)?;
        if let Some((name, (dtype, _))) = header.tensors.iter().find(|(_, (d, _))| *d != Dtype::F32)
        {
            return Err(HarkError::StateDict {
                path: path.display().to_string(),
                tensor: name.clone(),
                detail: format!(
                    "is {dtype:?}; hark reads float32 state dicts (save `model.float().state_dict()`)"
                ),
            });
        }
        let shapes: BTreeMap<String, Vec<usize>> = header
            .tensors
            .into_iter()
            .map(|(name, (_, shape))| (name, shape))
            .collect();
        let metadata = header.metadata;
        let hark_model = metadata.get("hark_model").map(String::as_str);
        if hark_model.is_none() && !metadata.contains_key("num_sources") {
            let inferred = infer_config(&shapes, hints, path)?;
            let origin = ConfigOrigin::Inferred {
                layers_assumed: inferred.layers_assumed,
                mask_assumed: inferred.mask_assumed,
            };
            return Ok((inferred.config, origin));
        }
        if let Some(other) = hark_model.filter(|m| *m != "conv_tasnet") {
            return Err(HarkError::invalid(
                "conv_tasnet",
                format!(
                    "{}: a hark {other} checkpoint, not a Conv-TasNet",
                    path.display()
                ),
            ));
        }
        let in_file =
            |e: HarkError| HarkError::invalid("conv_tasnet", format!("{}: {e}", path.display()));
        let config = Self::config_from_metadata(&metadata).map_err(in_file)?;
        let contradicts = |option: &str, given: String, recorded: String| {
            HarkError::invalid(
                "conv_tasnet",
                format!(
                    "{}: {option} {given} contradicts the {recorded} recorded in the \
                     checkpoint's metadata (leave the option out)",
                    path.display()
                ),
            )
        };
        if let Some(mask) = hints.mask.filter(|m| *m != config.mask) {
            return Err(contradicts(
                "--mask",
                mask.name().to_string(),
                format!("{} mask", config.mask.name()),
            ));
        }
        if let Some(x) = hints.layers.filter(|x| *x != config.msk_layers) {
            return Err(contradicts(
                "--layers",
                x.to_string(),
                format!("{} layers per stack", config.msk_layers),
            ));
        }
        if let Some(r) = hints.stacks.filter(|r| *r != config.msk_stacks) {
            return Err(contradicts(
                "--stacks",
                r.to_string(),
                format!("{} stacks", config.msk_stacks),
            ));
        }
        config.validate().map_err(in_file)?;
        check_state_dict(&shapes, &config, path)?;
        Ok((config, ConfigOrigin::Metadata))
    }

    /// Loads a safetensors state dict: one written by [`ConvTasNet::save`] or a plain
    /// torchaudio one (see [`ConvTasNet::read_config`]); says where the configuration came
    /// from.
    pub fn load_file(
        ctx: &Context,
        path: &Path,
        hints: &StateDictHints,
    ) -> Result<(Self, ConfigOrigin)> {
        let (config, origin) = Self::read_config(path, hints)?;
        Ok((Self::load(ctx, path, config)?, origin))
    }

    /// Loads a checkpoint written by [`ConvTasNet::save`] (configuration from its metadata) or a
    /// plain torchaudio state dict with torchaudio's defaults for what its tensors cannot tell.
    pub fn load_saved(ctx: &Context, path: &Path) -> Result<Self> {
        Ok(Self::load_file(ctx, path, &StateDictHints::default())?.0)
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
