//! The `flow` system: one [`Flow`] of dense coupling blocks per machine type fitted by maximum
//! likelihood to the DCASE 640-dim log-mel vectors (the `ae` system's features and batching,
//! standardised per dimension with the training statistics); a clip's score is the mean NLL of
//! its vectors. Checkpoints: `<dir>/flow_<machine>.safetensors`.

use std::path::{Path, PathBuf};

use super::block::Subnet;
use super::model::{Flow, FlowConfig};
use super::nll::FlowNll;
use super::train::{train_resumable, FlowEpochReport, FlowTrainConfig};
use crate::audio::dataset::{Clip, MachineDataset};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::models::autoencoder::clip_vectors;
use crate::nn::Mode;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::TrainState;

/// Per-dimension mean and standard deviation of `[n, dims]` rows (std floored at 1e-3).
fn statistics(vectors: &[f32], dims: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (vectors.len() / dims).max(1) as f64;
    let mut mean = vec![0.0f64; dims];
    for row in vectors.chunks(dims) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; dims];
    for row in vectors.chunks(dims) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|s| ((s / n).sqrt() as f32).max(1e-3))
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

fn standardize(vectors: &[f32], mean: &[f32], std: &[f32]) -> Vec<f32> {
    let dims = mean.len();
    vectors
        .iter()
        .enumerate()
        .map(|(i, &v)| (v - mean[i % dims]) / std[i % dims])
        .collect()
}

/// Mean NLL of each clip's vectors (already standardised); `counts[i]` rows belong to clip `i`.
pub fn clip_nll(
    ctx: &Context,
    flow: &mut Flow,
    vectors: &[f32],
    counts: &[usize],
) -> Result<Vec<f64>> {
    let dims = flow.config().channels;
    let total: usize = counts.iter().sum();
    if total * dims != vectors.len() {
        return Err(HarkError::shape(
            "flow",
            "vector counts do not match the data",
        ));
    }
    let rows = row_nll(ctx, flow, vectors)?;
    Ok(crate::models::autoencoder::clip_means(&rows, counts))
}

/// NLL of every row of `vectors` (already standardised, `[n, channels]`): the per-vector scores
/// a clip's score is the mean of; each row's value depends on that row alone.
pub fn row_nll(ctx: &Context, flow: &mut Flow, vectors: &[f32]) -> Result<Vec<f32>> {
    let dims = flow.config().channels;
    if !vectors.len().is_multiple_of(dims) {
        return Err(HarkError::shape(
            "flow",
            "the vectors are not whole rows of the flow's width",
        ));
    }
    let mut nll = FlowNll::new(ctx, None);
    let mut rows = Vec::with_capacity(vectors.len() / dims);
    for chunk in vectors.chunks(4096 * dims) {
        let x = Tensor::from_slice(ctx, &[chunk.len() / dims, dims], chunk)?;
        let mut rec = Recorder::new(ctx);
        let (z, logdet) = flow.forward(&mut rec, &x, Mode::Eval)?;
        let (values, _) = nll.forward(&mut rec, &z, &logdet)?;
        rec.submit()?;
        rows.extend(values.to_vec(ctx)?);
    }
    Ok(rows)
}

/// The system's settings: the flow's shape, its training and the features.
#[derive(Clone, Copy, Debug)]
pub struct FlowSystemConfig {
    pub blocks: usize,
    pub hidden: usize,
    pub train: FlowTrainConfig,
    pub features: FeatureSpec,
}

impl Default for FlowSystemConfig {
    fn default() -> Self {
        Self {
            blocks: 4,
            hidden: 256,
            train: FlowTrainConfig {
                epochs: 20,
                batch_size: 256,
                lr: 1e-3,
                seed: 0,
            },
            features: FeatureSpec::dcase(FeatureKind::Dcase640),
        }
    }
}

/// The checkpoint file of one machine type's flow.
pub fn checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("flow_{machine}.safetensors"))
}

/// A trained flow with the standardisation of its inputs.
struct Fitted {
    flow: Flow,
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// Called after every training epoch with the machine type's name.
pub type FlowEpochCallback = Box<dyn FnMut(&str, &FlowEpochReport)>;

/// The flow system through the scoring contract: one flow per machine type.
pub struct FlowSystem {
    ctx: Context,
    config: FlowSystemConfig,
    extractor: FeatureExtractor,
    fitted: Option<Fitted>,
    /// Called after every epoch with the machine type's name.
    pub on_epoch: Option<FlowEpochCallback>,
    /// Save each machine type's flow as `<dir>/flow_<machine>.safetensors`.
    pub save_to: Option<PathBuf>,
    /// Load each machine type's flow from `<dir>/flow_<machine>.safetensors` instead of training.
    pub load_from: Option<PathBuf>,
    /// With `save_to`, continue each machine type's training from its
    /// `<dir>/flow_<machine>.train.safetensors` state when there is one (see [`TrainState`]).
    pub resume: bool,
}

impl FlowSystem {
    pub fn new(ctx: &Context, config: FlowSystemConfig) -> Result<Self> {
        if config.features.kind != FeatureKind::Dcase640 {
            return Err(HarkError::invalid(
                "flow",
                "the flow system reads dcase640 features",
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.features)?,
            config,
            fitted: None,
            on_epoch: None,
            save_to: None,
            load_from: None,
            resume: false,
        })
    }

    /// The front end whose vectors the flow scores (the one `score` runs).
    pub fn feature_extractor(&mut self) -> &mut FeatureExtractor {
        &mut self.extractor
    }

    /// NLL of every row of `vectors` (front-end vectors, `[n, channels]`, standardised here by
    /// the training statistics as `score` does): a clip's score is the mean over its vectors.
    pub fn vector_nll(&mut self, vectors: &[f32]) -> Result<Vec<f32>> {
        let fitted = self
            .fitted
            .as_mut()
            .ok_or_else(|| HarkError::invalid("flow", "score before train"))?;
        let vectors = standardize(vectors, &fitted.mean, &fitted.std);
        row_nll(&self.ctx, &mut fitted.flow, &vectors)
    }

    fn flow_config(&self) -> FlowConfig {
        FlowConfig {
            channels: self.config.features.context * self.config.features.n_mels,
            blocks: self.config.blocks,
            subnet: Subnet::Dense {
                hidden: self.config.hidden,
            },
            seed: self.config.train.seed,
        }
    }

    fn save(&self, fitted: &Fitted, path: &Path) -> Result<()> {
        let dims = fitted.mean.len();
        let mean = Tensor::from_slice(&self.ctx, &[dims], &fitted.mean)?;
        let std = Tensor::from_slice(&self.ctx, &[dims], &fitted.std)?;
        let mut tensors = fitted.flow.state_dict();
        tensors.push(("input.mean".to_string(), &mean));
        tensors.push(("input.std".to_string(), &std));
        crate::io::checkpoint::save_checkpoint(&self.ctx, path, &tensors, fitted.flow.metadata())
    }

    fn load(&self, path: &Path) -> Result<Fitted> {
        let config = self.flow_config();
        let dims = config.channels;
        // The file's own shape wins over the command line's (blocks, hidden).
        // Sizes from the metadata are bounded by what the file stores before the flow is built.
        let header = crate::io::checkpoint::CheckpointHeader::read(path)?;
        let read = |key: &str, default: usize| -> Result<usize> {
            if header.metadata.contains_key(key) {
                header.dimension(key)
            } else {
                Ok(default)
            }
        };
        let blocks = read("flow.blocks", config.blocks)?;
        let hidden = read("flow.hidden", self.config.hidden)?;
        // Each block's subnet maps half the channels to `hidden` at least.
        let least = (blocks as u64)
            .saturating_mul(hidden as u64)
            .saturating_mul((dims / 2) as u64);
        header.require_fits("flow.blocks x flow.hidden", least)?;
        let config = FlowConfig {
            blocks,
            subnet: Subnet::Dense { hidden },
            ..config
        };
        let mut flow = Flow::new(&self.ctx, config)?;
        let mean = Tensor::zeros(&self.ctx, &[dims], DType::F32)?;
        let std = Tensor::zeros(&self.ctx, &[dims], DType::F32)?;
        let mut tensors = flow.state_dict();
        tensors.push(("input.mean".to_string(), &mean));
        tensors.push(("input.std".to_string(), &std));
        crate::io::checkpoint::load_checkpoint(&self.ctx, path, &tensors)?;
        drop(tensors);
        flow.refresh_permutations()?;
        let (mean, std) = (mean.to_vec(&self.ctx)?, std.to_vec(&self.ctx)?);
        Ok(Fitted { flow, mean, std })
    }
}

impl AnomalyScorer for FlowSystem {
    fn name(&self) -> &str {
        "flow"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        if let Some(dir) = &self.load_from {
            self.fitted = Some(self.load(&checkpoint_path(dir, &machine.machine))?);
            return Ok(());
        }
        let (vectors, _) = clip_vectors(&mut self.extractor, train_clips)?;
        let dims = self.flow_config().channels;
        let (mean, std) = statistics(&vectors, dims);
        let vectors = standardize(&vectors, &mean, &std);
        let mut flow = Flow::new(&self.ctx, self.flow_config())?;
        let name = machine.machine.clone();
        let mut callback = self.on_epoch.take();
        let state = self
            .save_to
            .as_ref()
            .map(|dir| TrainState::in_models_dir(dir, "flow", &machine.machine, self.resume));
        let result = train_resumable(
            &self.ctx,
            &mut flow,
            &vectors,
            &self.config.train,
            state.as_ref(),
            |report| {
                if let Some(cb) = callback.as_mut() {
                    cb(&name, report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        let fitted = Fitted { flow, mean, std };
        if let Some(dir) = &self.save_to {
            self.save(&fitted, &checkpoint_path(dir, &machine.machine))?;
        }
        self.fitted = Some(fitted);
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let (vectors, counts) = clip_vectors(&mut self.extractor, clips)?;
        let fitted = self
            .fitted
            .as_mut()
            .ok_or_else(|| HarkError::invalid("flow", "score before train"))?;
        let vectors = standardize(&vectors, &fitted.mean, &fitted.std);
        clip_nll(&self.ctx, &mut fitted.flow, &vectors, &counts)
    }
}
