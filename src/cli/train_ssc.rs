//! `hark train --system ssc` and `hark score --system ssc`: the self-supervised classifier of
//! paper 002, with its ablation switches (no TgramNet, no triplet loss, no attribute loss) and the
//! choice of score.

use std::path::{Path, PathBuf};

use super::progress::{train_each_machine, TrainProgress};
use clap::{Args, ValueEnum};
use hark::audio::dataset::Dataset;
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::models::ssc::{checkpoint_path, SscConfig, SscScore, SscSystem};
use hark::{Context, HarkError};

/// `--score`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScoreKind {
    /// `1 - max cosine` to the section's training embeddings (paper 002's eq. 7, its better one).
    Cosine,
    /// `log((1 - p) / p)` of the softmax of the clip's section (eq. 6).
    Confidence,
}

/// Settings of `hark train` that only the ssc system reads.
#[derive(Debug, Args)]
pub struct SscTrainArgs {
    /// ssc: leave out the TgramNet input (log-mel only, the paper's baseline input).
    #[arg(long)]
    no_tgram: bool,
    /// ssc: weight of the batch-hard triplet loss (0 turns it off).
    #[arg(long, default_value_t = 1.0, value_parser = super::values::non_negative_f32)]
    triplet_weight: f32,
    /// ssc: weight of the auxiliary attribute cross-entropy (0 turns it off).
    #[arg(long, default_value_t = 1.0, value_parser = super::values::non_negative_f32)]
    attribute_weight: f32,
    /// ssc: weight of the section cross-entropy.
    #[arg(long, default_value_t = 1.0, value_parser = super::values::non_negative_f32)]
    section_weight: f32,
    /// ssc: hinge margin of the triplet loss (cosine distance).
    #[arg(long, default_value_t = 0.3, value_parser = super::values::non_negative_f32)]
    triplet_margin: f32,
    /// ssc: width of the TDNN's frame layers.
    #[arg(long, default_value_t = 256, value_parser = super::values::positive_usize)]
    tdnn_channels: usize,
    /// ssc: embedding size.
    #[arg(long, default_value_t = 128, value_parser = super::values::positive_usize)]
    embedding_dim: usize,
    /// ssc: folder of per-clip user features, `<dir>/<machine>/<split>/<clip stem>.npy` shaped
    /// [frames, dims] (e.g. wav2vec 2.0 outputs made elsewhere), an extra input channel.
    #[arg(long)]
    extra_features: Option<PathBuf>,
}

/// Settings of `hark score` that only the ssc system reads.
#[derive(Debug, Args)]
pub struct SscScoreArgs {
    /// ssc: which anomaly score.
    #[arg(long, value_enum, default_value_t = ScoreKind::Cosine)]
    score: ScoreKind,
    /// ssc: the user-feature folder the models were trained with.
    #[arg(long)]
    extra_features: Option<PathBuf>,
}

impl SscTrainArgs {
    /// The user-feature folder, an input of the run.
    pub fn extra_features(&self) -> Option<&std::path::Path> {
        self.extra_features.as_deref()
    }
}

impl SscScoreArgs {
    /// The user-feature folder, an input of the run.
    pub fn extra_features(&self) -> Option<&std::path::Path> {
        self.extra_features.as_deref()
    }
}

/// The shared `hark train` settings.
pub struct Run<'a> {
    pub dataset: &'a Dataset,
    pub models: &'a Path,
    pub epochs: usize,
    pub batch_size: Option<usize>,
    pub lr: Option<f32>,
    pub seed: u64,
    /// Continue from the training states in the models folder (`hark train --resume`).
    pub resume: bool,
}

fn features() -> FeatureSpec {
    FeatureSpec {
        kind: FeatureKind::Logmel,
        ..crate::cli::train::features()
    }
}

pub fn train(run: &Run, args: &SscTrainArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let dataset = run.dataset;
    let mut config = SscConfig {
        tgram: !args.no_tgram,
        channels: args.tdnn_channels,
        pool_channels: 2 * args.tdnn_channels,
        embedding: args.embedding_dim,
        extra_features: args.extra_features.clone(),
        features: features(),
        ..SscConfig::default()
    };
    config.train.epochs = run.epochs;
    config.train.batch_size = run.batch_size.unwrap_or(32);
    config.train.lr = run.lr.unwrap_or(2e-4);
    config.train.seed = run.seed;
    config.train.weights.section = args.section_weight;
    config.train.weights.triplet = args.triplet_weight;
    config.train.weights.attribute = args.attribute_weight;
    config.train.weights.margin = args.triplet_margin;
    let mut system = SscSystem::new(&ctx, config)?;
    system.save_to = Some(run.models.to_path_buf());
    system.resume = run.resume;
    std::fs::create_dir_all(run.models).map_err(|source| HarkError::Io {
        path: run.models.display().to_string(),
        source,
    })?;
    let bar = TrainProgress::new((dataset.machines.len() * run.epochs) as u64, "epochs");
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, r| {
        shown.epoch_step(
            r.epoch,
            format!(
                "{machine}: loss {:.4} (section {:.3}, triplet {:.3}, attribute {:.3})",
                r.loss, r.section_loss, r.triplet_loss, r.attribute_loss
            ),
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

/// The system that scores with the models in `models`.
pub fn scoring_system(
    ctx: &Context,
    models: &Path,
    args: &SscScoreArgs,
) -> hark::Result<SscSystem> {
    let config = SscConfig {
        score: match args.score {
            ScoreKind::Cosine => SscScore::Cosine,
            ScoreKind::Confidence => SscScore::Confidence,
        },
        extra_features: args.extra_features.clone(),
        features: features(),
        ..SscConfig::default()
    };
    let mut system = SscSystem::new(ctx, config)?;
    system.load_from = Some(models.to_path_buf());
    Ok(system)
}
