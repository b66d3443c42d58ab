//! `hark train --system mobilenet` and `hark score --system mobilenet`: the DCASE 2022
//! MobileNetV2 section classifier, one model per machine type (`mobilenet_<machine>.safetensors`,
//! torchvision names), with a progress bar per training batch.

use std::path::Path;

use super::progress::{train_each_machine, TrainProgress};
use clap::Args;
use hark::audio::dataset::Dataset;
use hark::detect::aggregate::Aggregation;
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::models::mobilenet::{checkpoint_path, MobileNetConfig, MobileNetSystem};
use hark::Context;

/// The MobileNetV2 system's own settings (ignored by the other systems).
#[derive(Debug, Args)]
pub struct MobileNetArgs {
    /// mobilenet: log-mel frames per patch.
    #[arg(long, default_value_t = 64, value_parser = super::values::positive_usize)]
    pub(crate) patch_frames: usize,
    /// mobilenet: frames between patches (the reference code's 8; the paper's 48-frame overlap
    /// is 16).
    #[arg(long, default_value_t = 8, value_parser = super::values::positive_usize)]
    pub(crate) hop_frames: usize,
    /// mobilenet: width multiplier.
    #[arg(long, default_value_t = 0.5, value_parser = super::values::positive_f64)]
    width: f64,
    /// mobilenet: BatchNorm momentum in torch's terms (Keras' 0.999 is 0.001; raise it for
    /// short runs so that the running statistics follow the data).
    #[arg(long, default_value_t = 1e-3, value_parser = super::values::positive_f32)]
    bn_momentum: f32,
}

/// The shared `hark train` arguments.
pub struct TrainRun<'a> {
    pub dataset: &'a Dataset,
    pub models: &'a Path,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f32>,
    /// --segment-aggregation (recorded in the checkpoint; default mean).
    pub aggregation: Aggregation,
    pub seed: u64,
    pub resume: bool,
}

fn config(args: &MobileNetArgs) -> MobileNetConfig {
    let dcase = crate::cli::train::features();
    MobileNetConfig {
        frames: args.patch_frames,
        hop_frames: args.hop_frames,
        width: args.width,
        bn_momentum: args.bn_momentum,
        features: FeatureSpec {
            kind: FeatureKind::Logmel,
            ..dcase
        },
        ..MobileNetConfig::default()
    }
}

/// The system for `hark score` (models loaded by the caller): patch scores combined by
/// `aggregation`, or as the checkpoint records when `None`.
pub fn scorer(
    ctx: &Context,
    args: &MobileNetArgs,
    aggregation: Option<Aggregation>,
) -> hark::Result<MobileNetSystem> {
    MobileNetSystem::new(
        ctx,
        MobileNetConfig {
            aggregation: aggregation.unwrap_or_default(),
            aggregation_from_checkpoint: aggregation.is_none(),
            ..config(args)
        },
    )
}

pub fn train(run: &TrainRun, args: &MobileNetArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let dataset = run.dataset;
    let defaults = MobileNetConfig::default();
    let config = MobileNetConfig {
        epochs: run.epochs.unwrap_or(defaults.epochs),
        batch_size: run.batch_size.unwrap_or(defaults.batch_size),
        lr: run.lr.unwrap_or(defaults.lr),
        seed: run.seed,
        aggregation: run.aggregation,
        ..config(args)
    };
    let mut system = MobileNetSystem::new(&ctx, config)?;
    system.save_to = Some(run.models.to_path_buf());
    system.resume = run.resume;
    let bar = TrainProgress::new(0, "batches");
    let shown = bar.clone();
    // A machine type's first report restarts the bar (a resumed run starts past epoch 1).
    let mut current = String::new();
    system.on_step = Some(Box::new(move |machine, r| {
        if machine != current {
            current = machine.to_string();
            shown.restart(((r.epochs + 1 - r.epoch) * r.batches) as u64);
        }
        let loss = r.loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        shown.step(
            format!(
                "{machine}: epoch {}/{} ({} patches) loss {loss}",
                r.epoch, r.epochs, r.patches
            ),
            r.batch == r.batches,
        );
    }));
    train_each_machine(
        &mut system,
        dataset,
        &bar,
        |machine| checkpoint_path(run.models, machine),
        "",
    )
}
