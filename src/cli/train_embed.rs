//! `hark train --system embed` and the embed half of `hark score`: Wilkinghoff's embedding
//! system (REFERENCE-SPECS §4) with the paper's ablation switches as flags.

use std::path::PathBuf;

use super::progress::{train_each_machine, TrainProgress};
use clap::{Args, ValueEnum};
use hark::audio::dataset::Dataset;
use hark::kernels::fft::FftPath;
use hark::models::embedding::{
    checkpoint_path, Branches, EmbedTrainConfig, EmbeddingConfig, EmbeddingSystem,
};
use hark::{Context, HarkError};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BranchArg {
    /// Spectrum and spectrogram (256-dim embedding).
    Both,
    /// Whole-clip spectrum branch only.
    Spectrum,
    /// Spectrogram ResNet only.
    Spectrogram,
}

/// Flags of `--system embed` (ignored by the other systems).
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// embed: models per machine type (seeds seed, seed + 1, ...) whose scores are summed.
    #[arg(long, default_value_t = 1, value_parser = super::values::positive_usize)]
    ensemble: usize,
    /// embed: AdaCos sub-clusters per class, and k-means centroids per section.
    #[arg(long, default_value_t = 16, value_parser = super::values::positive_usize)]
    sub_clusters: usize,
    /// embed: which input branches feed the embedding.
    #[arg(long, value_enum, default_value_t = BranchArg::Both)]
    branches: BranchArg,
    /// embed: keep each spectrogram bin's temporal mean (the reference removes it).
    #[arg(long)]
    no_temporal_norm: bool,
    /// embed: train the AdaCos centres (the reference keeps them fixed).
    #[arg(long)]
    trainable_centres: bool,
    /// embed: the Keras L2 regulariser's factor on every weight.
    #[arg(long, default_value_t = 1e-5, value_parser = super::values::non_negative_f32)]
    weight_decay: f32,
}

/// The shared training flags, with the embed system's defaults applied.
pub struct EmbedRun<'a> {
    pub dataset: &'a Dataset,
    pub models: &'a PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    /// Continue from the training states in the models folder (`hark train --resume`).
    pub resume: bool,
}

/// The system with `args`' settings (training settings from `run` where given).
pub fn system(
    ctx: &Context,
    args: &EmbedArgs,
    run: Option<&EmbedRun>,
) -> hark::Result<EmbeddingSystem> {
    let branches = match args.branches {
        BranchArg::Both => Branches::Both,
        BranchArg::Spectrum => Branches::Spectrum,
        BranchArg::Spectrogram => Branches::Spectrogram,
    };
    let mut train = EmbedTrainConfig {
        weight_decay: args.weight_decay,
        trainable_centres: args.trainable_centres,
        ..EmbedTrainConfig::default()
    };
    if let Some(run) = run {
        train.epochs = run.epochs;
        train.batch_size = run.batch_size;
        train.lr = run.lr;
        train.seed = run.seed;
    }
    EmbeddingSystem::new(
        ctx,
        EmbeddingConfig {
            train,
            ensemble: args.ensemble,
            sub_clusters: args.sub_clusters,
            branches,
            temporal_norm: !args.no_temporal_norm,
            fft_path: FftPath::Auto,
            ..EmbeddingConfig::default()
        },
    )
}

pub fn train(run: &EmbedRun, args: &EmbedArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let dataset = run.dataset;
    let mut system = system(&ctx, args, Some(run))?;
    system.save_to = Some(run.models.clone());
    system.resume = run.resume;
    std::fs::create_dir_all(run.models).map_err(|source| HarkError::Io {
        path: run.models.display().to_string(),
        source,
    })?;
    let bar = TrainProgress::new(
        (dataset.machines.len() * args.ensemble * run.epochs) as u64,
        "epochs",
    );
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, member, report| {
        shown.epoch_step(
            report.epoch,
            format!(
                "{machine} #{member}: loss {:.4}, scale {:.2}",
                report.loss, report.scale
            ),
        );
    }));
    train_each_machine(
        &mut system,
        dataset,
        &bar,
        |machine| checkpoint_path(run.models, machine, 0),
        &format!(" (x{})", args.ensemble),
    )
}
