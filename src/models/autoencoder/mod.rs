//! The DCASE autoencoder baseline (REFERENCE-SPECS §3): Dense 640 -> 128 -> 128 -> 128 -> 128 ->
//! 8 -> 128 -> 128 -> 128 -> 128 -> 640, every layer but the last Dense -> BatchNorm1d (momentum
//! 0.01, eps 1e-3) -> ReLU, trained with MSE and Adam (lr 1e-3) on 640-dim stacked log-mel
//! vectors; a clip's score is the mean reconstruction error of its vectors. Parameter names are
//! those of the PyTorch baseline (`encoder.0.weight`, `encoder.1.running_mean`, ...).

mod train;

pub use train::{train, train_resumable, TrainState};

use crate::audio::dataset::{Clip, MachineDataset};
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::kernels::loss::mse_rows;
use crate::nn::{BatchNorm1d, Layer, Linear, Mode, Param, SeededInit, Sequential};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// Hidden sizes of the encoder after the input (the decoder mirrors them).
const ENCODER: [usize; 5] = [128, 128, 128, 128, 8];

/// The network.
pub struct DenseAutoencoder {
    encoder: Sequential,
    decoder: Sequential,
    dims: usize,
}

fn block(
    ctx: &Context,
    prefix: &str,
    index: usize,
    inputs: usize,
    outputs: usize,
    init: &mut SeededInit,
) -> Result<Vec<Box<dyn Layer>>> {
    // torch indices: Linear at 3k, BatchNorm1d at 3k + 1, ReLU at 3k + 2 (fused into the BN).
    let bn = BatchNormConfig {
        eps: 1e-3,
        momentum: 0.01,
        relu: true,
    };
    Ok(vec![
        Box::new(Linear::new(
            ctx,
            &format!("{prefix}.{}", 3 * index),
            inputs,
            outputs,
            true,
            init,
        )?),
        Box::new(BatchNorm1d::new(
            ctx,
            &format!("{prefix}.{}", 3 * index + 1),
            outputs,
            bn,
        )?),
    ])
}

impl DenseAutoencoder {
    /// A freshly initialised model for `dims`-dimensional inputs (640 for the DCASE features).
    pub fn new(ctx: &Context, dims: usize, seed: u64) -> Result<Self> {
        let mut init = SeededInit::new(seed);
        let mut encoder = Vec::new();
        let mut inputs = dims;
        for (i, &outputs) in ENCODER.iter().enumerate() {
            encoder.extend(block(ctx, "encoder", i, inputs, outputs, &mut init)?);
            inputs = outputs;
        }
        let mut decoder = Vec::new();
        for (i, &outputs) in ENCODER[..4].iter().rev().enumerate() {
            decoder.extend(block(ctx, "decoder", i, inputs, outputs, &mut init)?);
            inputs = outputs;
        }
        decoder.push(Box::new(Linear::new(
            ctx,
            "decoder.12",
            inputs,
            dims,
            true,
            &mut init,
        )?));
        Ok(Self {
            encoder: Sequential::new(encoder),
            decoder: Sequential::new(decoder),
            dims,
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Parameters and running statistics under their PyTorch state-dict names.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        entries.extend(self.buffers());
        entries
    }

    /// Saves the model as safetensors (atomically).
    pub fn save(&self, ctx: &Context, path: &std::path::Path) -> Result<()> {
        let metadata = std::collections::HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                "hark_model".to_string(),
                "dcase_dense_autoencoder".to_string(),
            ),
            ("input_dims".to_string(), self.dims.to_string()),
        ]);
        crate::io::checkpoint::save_checkpoint(ctx, path, &self.state_dict(), metadata)
    }

    /// Loads a model saved by [`DenseAutoencoder::save`] (or a PyTorch state dict with the same
    /// names and shapes, converted to safetensors).
    pub fn load(ctx: &Context, path: &std::path::Path, dims: usize) -> Result<Self> {
        let model = Self::new(ctx, dims, 0)?;
        crate::io::checkpoint::load_checkpoint(ctx, path, &model.state_dict())?;
        Ok(model)
    }
}

impl Layer for DenseAutoencoder {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let code = self.encoder.forward(rec, x, mode)?;
        self.decoder.forward(rec, &code, mode)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let grad_code = self.decoder.backward(rec, grad_output)?;
        self.encoder.backward(rec, &grad_code)
    }

    fn params(&self) -> Vec<&Param> {
        let mut params = self.encoder.params();
        params.extend(self.decoder.params());
        params
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        let mut buffers = self.encoder.buffers();
        buffers.extend(self.decoder.buffers());
        buffers
    }
}

/// Training settings (REFERENCE-SPECS §3 defaults: 100 epochs, batch 512, Adam lr 1e-3).
#[derive(Clone, Copy, Debug)]
pub struct AutoencoderConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    pub features: FeatureSpec,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 512,
            lr: 1e-3,
            seed: 0,
            features: FeatureSpec::dcase(FeatureKind::Dcase640),
        }
    }
}

/// Progress of training, reported once per epoch.
#[derive(Clone, Copy, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    pub vectors: usize,
}

/// Clips per feature-extraction batch (bounds the GPU memory of a batch of 10 s clips).
const EXTRACT_BATCH: usize = 16;

/// The 640-dim vectors of waveforms (each clip's rows contiguous) and each clip's vector count;
/// runs of equal-length clips (up to 16) go through the extractor as one batch.
pub fn waveform_vectors(
    extractor: &mut FeatureExtractor,
    waves: &[Vec<f32>],
) -> Result<(Vec<f32>, Vec<usize>)> {
    let mut vectors = Vec::new();
    let mut counts = Vec::with_capacity(waves.len());
    let mut start = 0;
    while start < waves.len() {
        let len = waves[start].len();
        let mut end = start + 1;
        while end < waves.len() && waves[end].len() == len && end - start < EXTRACT_BATCH {
            end += 1;
        }
        let batch = extractor.extract(&waves[start..end])?;
        let rows = batch.shape[0];
        for i in 0..end - start {
            vectors.extend_from_slice(batch.clip(i));
            counts.push(rows);
        }
        start = end;
    }
    Ok((vectors, counts))
}

/// The 640-dim vectors of `clips` (each clip's rows contiguous) and each clip's vector count.
pub fn clip_vectors(
    extractor: &mut FeatureExtractor,
    clips: &[&Clip],
) -> Result<(Vec<f32>, Vec<usize>)> {
    let paths: Vec<_> = clips.iter().map(|c| c.path.clone()).collect();
    let spec = *extractor.spec();
    let options = WavOptions {
        sample_rate: spec.sample_rate,
        downmix: false,
    };
    let mut vectors = Vec::new();
    let mut counts = Vec::with_capacity(clips.len());
    for window in paths.chunks(EXTRACT_BATCH) {
        let loaded = read_many(window, &options, OnBadFile::Stop)?;
        let (v, c) = waveform_vectors(extractor, &loaded.clips)?;
        vectors.extend(v);
        counts.extend(c);
    }
    Ok((vectors, counts))
}

/// Mean reconstruction error of each clip's vectors (eval mode). `counts[i]` rows belong to
/// clip `i`.
pub fn clip_errors(
    ctx: &Context,
    model: &mut DenseAutoencoder,
    vectors: &[f32],
    counts: &[usize],
) -> Result<Vec<f64>> {
    let dims = model.dims();
    let total: usize = counts.iter().sum();
    if total * dims != vectors.len() {
        return Err(HarkError::shape(
            "autoencoder",
            "vector counts do not match the data",
        ));
    }
    Ok(clip_means(&row_errors(ctx, model, vectors)?, counts))
}

/// Reconstruction error of every row of `vectors` (`[n, dims]`, eval mode): the per-vector
/// scores a clip's score is the mean of. Each row's error depends on that row alone (BatchNorm
/// in eval mode uses its running statistics), so rows may be scored in any grouping.
pub fn row_errors(
    ctx: &Context,
    model: &mut DenseAutoencoder,
    vectors: &[f32],
) -> Result<Vec<f32>> {
    let dims = model.dims();
    if !vectors.len().is_multiple_of(dims) {
        return Err(HarkError::shape(
            "autoencoder",
            "the vectors are not whole rows of the model's width",
        ));
    }
    let mut row_errors = Vec::with_capacity(vectors.len() / dims);
    // Up to 8192 rows per pass (a few MB of activations).
    for chunk in vectors.chunks(8192 * dims) {
        let rows = chunk.len() / dims;
        let x = Tensor::from_slice(ctx, &[rows, dims], chunk)?;
        let errors = Tensor::zeros(ctx, &[rows], DType::F32)?;
        let mut rec = Recorder::new(ctx);
        let y = model.forward(&mut rec, &x, Mode::Eval)?;
        mse_rows(&mut rec, &y, &x, &errors)?;
        rec.submit()?;
        row_errors.extend(errors.to_vec(ctx)?);
    }
    Ok(row_errors)
}

/// The mean of each clip's per-row values: `counts[i]` consecutive rows belong to clip `i`
/// (a clip without rows scores 0).
pub fn clip_means(rows: &[f32], counts: &[usize]) -> Vec<f64> {
    let mut scores = Vec::with_capacity(counts.len());
    let mut start = 0;
    for &count in counts {
        let clip = &rows[start..start + count];
        scores.push(clip.iter().map(|&v| f64::from(v)).sum::<f64>() / count.max(1) as f64);
        start += count;
    }
    scores
}

/// Called after every training epoch with the machine type's name.
pub type EpochCallback = Box<dyn FnMut(&str, &EpochReport)>;

/// The autoencoder system through the scoring contract: one model per machine type.
pub struct AutoencoderSystem {
    ctx: Context,
    config: AutoencoderConfig,
    extractor: FeatureExtractor,
    model: Option<DenseAutoencoder>,
    /// Called after every epoch with the machine type's name.
    pub on_epoch: Option<EpochCallback>,
    /// Save each machine type's trained model as `<dir>/ae_<machine>.safetensors`.
    pub save_to: Option<std::path::PathBuf>,
    /// Load each machine type's model from `<dir>/ae_<machine>.safetensors` instead of training.
    pub load_from: Option<std::path::PathBuf>,
    /// With `save_to`, continue each machine type's training from its
    /// `<dir>/ae_<machine>.train.safetensors` state when there is one (see [`TrainState`]).
    pub resume: bool,
}

/// The checkpoint file of one machine type's model.
pub fn checkpoint_path(dir: &std::path::Path, machine: &str) -> std::path::PathBuf {
    dir.join(format!("ae_{machine}.safetensors"))
}

/// The resumable training state of one machine type's model (model, optimizer, epochs done).
pub fn train_state_path(dir: &std::path::Path, machine: &str) -> std::path::PathBuf {
    dir.join(format!("ae_{machine}.train.safetensors"))
}

impl AutoencoderSystem {
    pub fn new(ctx: &Context, config: AutoencoderConfig) -> Result<Self> {
        if config.features.kind != FeatureKind::Dcase640 {
            return Err(HarkError::invalid(
                "autoencoder",
                "the autoencoder reads dcase640 features",
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.features)?,
            config,
            model: None,
            on_epoch: None,
            save_to: None,
            load_from: None,
            resume: false,
        })
    }

    /// The trained model of the last machine type (for checkpoints).
    pub fn model(&self) -> Option<&DenseAutoencoder> {
        self.model.as_ref()
    }

    /// The front end whose vectors the model scores (the one `score` runs).
    pub fn feature_extractor(&mut self) -> &mut FeatureExtractor {
        &mut self.extractor
    }

    /// Reconstruction error of every row of `vectors` (front-end vectors, `[n, dims]`) under
    /// the trained model: a clip's score is the mean over its vectors (see [`row_errors`]).
    pub fn vector_errors(&mut self, vectors: &[f32]) -> Result<Vec<f32>> {
        let model = self
            .model
            .as_mut()
            .ok_or_else(|| HarkError::invalid("autoencoder", "score before train"))?;
        row_errors(&self.ctx, model, vectors)
    }
}

impl AnomalyScorer for AutoencoderSystem {
    fn name(&self) -> &str {
        "ae"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        let dims = self.config.features.context * self.config.features.n_mels;
        if let Some(dir) = &self.load_from {
            let path = checkpoint_path(dir, &machine.machine);
            self.model = Some(DenseAutoencoder::load(&self.ctx, &path, dims)?);
            return Ok(());
        }
        let (vectors, _) = clip_vectors(&mut self.extractor, train_clips)?;
        let mut model = DenseAutoencoder::new(&self.ctx, dims, self.config.seed)?;
        let name = machine.machine.clone();
        let mut callback = self.on_epoch.take();
        let state = self.save_to.as_ref().map(|dir| TrainState {
            path: train_state_path(dir, &machine.machine),
            resume: self.resume,
        });
        let result = train_resumable(
            &self.ctx,
            &mut model,
            &vectors,
            &self.config,
            state.as_ref(),
            |report| {
                if let Some(cb) = callback.as_mut() {
                    cb(&name, report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        if let Some(dir) = &self.save_to {
            model.save(&self.ctx, &checkpoint_path(dir, &machine.machine))?;
        }
        self.model = Some(model);
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let (vectors, counts) = clip_vectors(&mut self.extractor, clips)?;
        let model = self
            .model
            .as_mut()
            .ok_or_else(|| HarkError::invalid("autoencoder", "score before train"))?;
        clip_errors(&self.ctx, model, &vectors, &counts)
    }
}
