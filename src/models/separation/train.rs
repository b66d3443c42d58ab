//! Training a Conv-TasNet separator on mixtures drawn on the fly (000 §4): L1 (or negative
//! SI-SDR) between the separated and the clean target, Adam lr 1e-4, batch 2, with the state
//! saved after every epoch for `--resume`.

use std::collections::HashMap;

use super::mixtures::{MixtureSampler, SeparationTarget, StemSet};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, require_same_run, save_checkpoint};
use crate::kernels::loss::{l1_loss, l1_loss_backward, si_sdr_loss, si_sdr_loss_backward};
use crate::kernels::optim::AdamConfig;
use crate::models::autoencoder::TrainState;
use crate::models::conv_tasnet::ConvTasNet;
use crate::nn::{Adam, Layer, Mode};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// The training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeparationLoss {
    /// Mean absolute error against the clean target (000's choice).
    L1,
    /// Negative SI-SDR (dB), zero-mean, eps 1e-8.
    SiSdr,
}

/// Settings of one separator's training (000 §4.2 defaults but the length of a run).
#[derive(Clone, Copy, Debug)]
pub struct SeparatorTrainConfig {
    pub epochs: usize,
    /// Mixtures per epoch (000 draws 2,970 per model).
    pub mixtures_per_epoch: usize,
    pub batch_size: usize,
    /// Segment length in samples.
    pub segment: usize,
    pub lr: f32,
    pub loss: SeparationLoss,
    pub seed: u64,
}

impl Default for SeparatorTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 50,
            mixtures_per_epoch: 2970,
            batch_size: 2,
            segment: 4 * 16_000,
            lr: 1e-4,
            loss: SeparationLoss::L1,
            seed: 0,
        }
    }
}

/// Progress after one epoch.
#[derive(Clone, Copy, Debug)]
pub struct SeparatorEpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean loss over the epoch's batches (L1, or -SI-SDR in dB).
    pub loss: f64,
}

fn run_metadata(
    config: &SeparatorTrainConfig,
    target: SeparationTarget,
    epochs_done: usize,
    optimizer: &Adam,
) -> HashMap<String, String> {
    let mut metadata = optimizer.state_metadata();
    metadata.extend([
        ("train.target".to_string(), format!("{target:?}")),
        ("train.segment".to_string(), config.segment.to_string()),
        (
            "train.batch_size".to_string(),
            config.batch_size.to_string(),
        ),
        (
            "train.mixtures_per_epoch".to_string(),
            config.mixtures_per_epoch.to_string(),
        ),
        ("train.seed".to_string(), config.seed.to_string()),
        ("train.loss".to_string(), format!("{:?}", config.loss)),
        ("train.epochs_done".to_string(), epochs_done.to_string()),
    ]);
    metadata
}

/// Trains `model` to extract `target` from mixtures of `stems`. Each epoch draws its
/// mixtures from a generator seeded by (seed, epoch), so a resumed run sees the same data as
/// an uninterrupted one.
pub fn train_separator(
    ctx: &Context,
    model: &mut ConvTasNet,
    stems: &StemSet,
    target: SeparationTarget,
    config: &SeparatorTrainConfig,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&SeparatorEpochReport),
) -> Result<()> {
    let (batch, len) = (config.batch_size, config.segment);
    if batch == 0 || config.mixtures_per_epoch == 0 {
        return Err(HarkError::invalid(
            "separation",
            "batch size and mixtures per epoch must be at least 1",
        ));
    }
    if model.config().sources != 1 {
        return Err(HarkError::invalid(
            "separation",
            "the ASD separators extract one source (the target machine)",
        ));
    }
    model.check_fits(batch, len)?;
    let mut optimizer = Adam::new(ctx, &model.params(), AdamConfig::adam(config.lr))?;
    let mut epochs_done = 0;
    if let Some(state) = state.filter(|s| s.resume && s.path.exists()) {
        let mut tensors = model.state_dict();
        tensors.extend(optimizer.state_tensors());
        let metadata = load_checkpoint(ctx, &state.path, &tensors)?;
        let expected = run_metadata(config, target, 0, &optimizer);
        let keys = expected
            .keys()
            .filter(|k| k.starts_with("train.") && *k != "train.epochs_done")
            .map(String::as_str);
        require_same_run("separation", &state.path, &metadata, &expected, keys)?;
        optimizer.restore_metadata(&metadata)?;
        epochs_done = metadata
            .get("train.epochs_done")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| HarkError::invalid("separation", "state has no train.epochs_done"))?;
    }
    let x = Tensor::zeros(ctx, &[batch, 1, len], DType::F32)?;
    let clean = Tensor::zeros(ctx, &[batch, 1, len], DType::F32)?;
    let grad = Tensor::zeros(ctx, &[batch, 1, len], DType::F32)?;
    let rows = Tensor::zeros(ctx, &[batch], DType::F32)?;
    let loss = Tensor::zeros(ctx, &[1], DType::F32)?;
    let steps = config.mixtures_per_epoch.div_ceil(batch);
    let mut mixtures = vec![0.0f32; batch * len];
    let mut targets = vec![0.0f32; batch * len];
    for epoch in epochs_done..config.epochs {
        let mut sampler =
            MixtureSampler::new(stems, target, config.seed ^ (epoch as u64 + 1) << 20)?;
        let mut loss_sum = 0.0;
        let mut loss_count = 0;
        for step in 0..steps {
            for b in 0..batch {
                let (m, c) = sampler.sample(len)?;
                mixtures[b * len..(b + 1) * len].copy_from_slice(&m);
                targets[b * len..(b + 1) * len].copy_from_slice(&c);
            }
            x.write(ctx, &mixtures)?;
            clean.write(ctx, &targets)?;
            let mut rec = Recorder::new(ctx);
            let y = model.forward(&mut rec, &x, Mode::Train)?;
            let (y2, t2, g2) = (
                y.reshape(&[batch, len])?,
                clean.reshape(&[batch, len])?,
                grad.reshape(&[batch, len])?,
            );
            match config.loss {
                SeparationLoss::L1 => l1_loss_backward(&mut rec, &y2, &t2, 1.0, &g2)?,
                SeparationLoss::SiSdr => si_sdr_loss_backward(&mut rec, &y2, &t2, 1.0, &g2)?,
            }
            model.backward(&mut rec, &grad)?;
            optimizer.step(&mut rec, &model.params())?;
            let sample = step % (steps / 8).max(1) == 0 || step + 1 == steps;
            if sample {
                match config.loss {
                    SeparationLoss::L1 => l1_loss(&mut rec, &y2, &t2, &rows, &loss)?,
                    SeparationLoss::SiSdr => si_sdr_loss(&mut rec, &y2, &t2, &rows, &loss)?,
                }
            }
            rec.submit()?;
            if sample {
                loss_sum += f64::from(loss.to_vec(ctx)?[0]);
                loss_count += 1;
            }
        }
        if let Some(state) = state {
            let mut tensors = model.state_dict();
            tensors.extend(optimizer.state_tensors());
            let metadata = run_metadata(config, target, epoch + 1, &optimizer);
            save_checkpoint(ctx, &state.path, &tensors, metadata)?;
        }
        progress(&SeparatorEpochReport {
            epoch: epoch + 1,
            epochs: config.epochs,
            loss: loss_sum / f64::from(loss_count.max(1)),
        });
    }
    ctx.wait()
}

/// Separates whole clips one at a time (eval mode); returns the target source of each.
pub fn separate(
    ctx: &Context,
    model: &mut ConvTasNet,
    clips: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(clips.len());
    for clip in clips {
        if clip.is_empty() {
            return Err(HarkError::invalid("separation", "an empty clip"));
        }
        let x = Tensor::from_slice(ctx, &[1, 1, clip.len()], clip)?;
        let mut rec = Recorder::new(ctx);
        let y = model.forward(&mut rec, &x, Mode::Eval)?;
        rec.submit()?;
        let mut values = y.to_vec(ctx)?;
        values.truncate(clip.len());
        out.push(values);
    }
    Ok(out)
}

/// SI-SDR (dB) of `estimate` against `reference` (zero-mean, eps 1e-8; 000 eq. 3), by the CPU
/// reference of the SI-SDR loss.
pub fn si_sdr_db(estimate: &[f32], reference: &[f32]) -> f64 {
    let wide = |x: &[f32]| x.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let (rows, _) = crate::cpu::loss::si_sdr_loss(
        &wide(estimate),
        &wide(reference),
        estimate.len().max(1),
        f64::from(crate::kernels::loss::SI_SDR_EPS),
    );
    rows.first().copied().unwrap_or(f64::NAN)
}
