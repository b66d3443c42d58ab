//! `hark train --system stats-knn` and `hark score --system stats-knn`: the training-free
//! few-shot system (per-clip statistics, GPU cosine kNN per section; `stats-knn_<machine>.
//! safetensors` holds the memories and the standardisation). Scoring reads every setting from
//! the checkpoint, so the `--stats-*` flags are for `hark train` only. Also `--system energy`,
//! the loudness baseline, which has no model: `hark score` fits it on the fly.

use std::path::Path;

use clap::Args;
use hark::audio::dataset::{Dataset, Split};
use hark::detect::contract::{run_system, AnomalyScorer, EnergyScorer, SectionReport};
use hark::models::stats_knn::{
    stats_knn_checkpoint_path, BackEnd, DomainMemories, EmbeddingOptions, KnnRule, Metric,
    Standardization, StatsKnnConfig, StatsKnnSystem, View, DEFAULT_SPECTRUM_BANDS,
};
use hark::Context;

/// Settings of `--system stats-knn` (training only; ignored by other systems).
#[derive(Debug, Args)]
pub struct StatsKnnArgs {
    /// Views, each standardised and searched on its own and averaged: logmel (per-band mean and
    /// std over time), change (per-band mean |frame change| and peak above the mean), spectrum
    /// (whole-clip power in equal-width bands).
    #[arg(long, default_value = "logmel", value_delimiter = ',')]
    stats_views: Vec<String>,
    /// Bands of the spectrum view.
    #[arg(long, default_value_t = DEFAULT_SPECTRUM_BANDS, value_parser = super::values::positive_usize)]
    stats_spectrum_bands: usize,
    /// Neighbours averaged per memory.
    #[arg(long, default_value_t = 1, value_parser = super::values::positive_usize)]
    stats_k: usize,
    /// `separate`: source and target memories, each scaled by its own neighbour distances, the
    /// smaller scaled distance scores; `pooled`: one memory.
    #[arg(long, default_value = "separate")]
    stats_domains: String,
    /// Standardisation of each view on the section's training clips: `view` (columns centred,
    /// the view divided by its mean column deviation), `columns` (every column to unit
    /// deviation) or `none`.
    #[arg(long, default_value = "none")]
    stats_standardize: String,
    /// `cosine` (for raw views) or `euclidean` (for centred ones).
    #[arg(long, default_value = "cosine")]
    stats_metric: String,
}

/// The system's configuration from the flags and the shared front end.
pub fn config(args: &StatsKnnArgs) -> hark::Result<StatsKnnConfig> {
    let views = args
        .stats_views
        .iter()
        .map(|v| View::parse(v.trim()))
        .collect::<hark::Result<Vec<_>>>()?;
    Ok(StatsKnnConfig {
        embedding: EmbeddingOptions {
            views,
            spectrum_bands: args.stats_spectrum_bands,
            features: super::train::features(),
        },
        back_end: BackEnd {
            standardize: Standardization::parse(&args.stats_standardize)?,
            domains: DomainMemories::parse(&args.stats_domains)?,
            rule: KnnRule {
                k: args.stats_k,
                metric: Metric::parse(&args.stats_metric)?,
            },
        },
    })
}

/// Builds and saves the memories of every machine type of `dataset` (checked by the caller).
pub fn train(dataset: &Dataset, models: &Path, args: &StatsKnnArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let mut system = StatsKnnSystem::new(&ctx, config(args)?)?;
    system.save_to = Some(models.to_path_buf());
    for machine in &dataset.machines {
        // An empty training split is refused by the system (a typed dataset error).
        let clips: Vec<_> = machine.split(Split::Train).collect();
        let start = std::time::Instant::now();
        system.train(machine, &clips)?;
        println!(
            "{}: {} training clips in {:.1} s -> {}",
            machine.machine,
            clips.len(),
            start.elapsed().as_secs_f64(),
            stats_knn_checkpoint_path(models, &machine.machine).display()
        );
    }
    Ok(())
}

/// Scores with the saved memories (settings from the checkpoints).
pub fn score(
    ctx: &Context,
    dataset: &Dataset,
    models: &Path,
    out: &Path,
    percentile: f64,
) -> hark::Result<Vec<SectionReport>> {
    let config = StatsKnnConfig::with_defaults(super::train::features());
    let mut system = StatsKnnSystem::new(ctx, config)?;
    system.load_from = Some(models.to_path_buf());
    run_system(&mut system, dataset, out, percentile)
}

/// `--system energy`: fitted while scoring (it has no model to save).
pub fn score_energy(
    dataset: &Dataset,
    out: &Path,
    percentile: f64,
) -> hark::Result<Vec<SectionReport>> {
    run_system(&mut EnergyScorer::default(), dataset, out, percentile)
}
