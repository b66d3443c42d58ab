//! `hark score --system <s>`: score a dataset's test clips with the models `hark train` saved,
//! writing the challenge CSVs (or, for the plain layout, one score CSV) and printing the metrics.

use std::path::{Path, PathBuf};

use super::system::System;
use super::train::{features, oe_aggregation, parse_aggregation, require_segments};
use clap::Args;
use hark::audio::dataset::Dataset;
use hark::detect::contract::{name_some, run_system, SectionReport};
use hark::models::autoencoder::{checkpoint_path, AutoencoderConfig, AutoencoderSystem};
use hark::paths::{check_apart, StagedDir};
use hark::{Context, HarkError};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    #[command(flatten)]
    data: super::plain::ScoreData,
    /// Folder holding the models written by `hark train`.
    #[arg(long)]
    models: PathBuf,
    /// Folder for the challenge CSVs (--data), or the score CSV file (--score-dir).
    #[arg(long)]
    out: PathBuf,
    /// Percentile of the gamma fitted to training scores used as the decision threshold.
    #[arg(long, default_value_t = 0.9, value_parser = super::values::open_unit_f64)]
    percentile: f64,
    /// oe, oe-flow, mobilenet: how segment (patch) scores combine into a clip score: mean, max,
    /// topk:K (mean of the K highest), or power (oe only). `hark train` records it in the
    /// checkpoint; `hark score` uses the checkpoint's unless given (older checkpoints: mean).
    #[arg(long)]
    segment_aggregation: Option<String>,
    /// Seed of the back ends' initialisation (oe's inlier models).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    oe: super::train_oe::OeArgs,
    #[command(flatten)]
    embed: super::train_embed::EmbedArgs,
    #[command(flatten)]
    mobilenet: super::train_mobilenet::MobileNetArgs,
    #[command(flatten)]
    ssc: super::train_ssc::SscScoreArgs,
}

/// The model files `hark score` needs for one machine type (energy needs none).
pub(crate) fn model_files(system: System, models: &Path, machine: &str) -> Vec<PathBuf> {
    use hark::models::{embedding, flow, mobilenet, oe, ssc, stats_knn};
    match system {
        System::Ae => vec![checkpoint_path(models, machine)],
        System::Flow => vec![flow::checkpoint_path(models, machine)],
        System::Oe => vec![oe::oe_checkpoint_path(models, machine)],
        System::OeFlow => vec![oe::oe_flow_checkpoint_path(models, machine)],
        System::Embed => vec![embedding::checkpoint_path(models, machine, 0)],
        System::Mobilenet => vec![mobilenet::checkpoint_path(models, machine)],
        System::Ssc => vec![ssc::checkpoint_path(models, machine)],
        System::StatsKnn => vec![stats_knn::stats_knn_checkpoint_path(models, machine)],
        System::Energy => Vec::new(),
    }
}

/// Fails, before any scoring, when a machine type has no model in `models`.
fn require_models(system: System, dataset: &Dataset, models: &Path) -> hark::Result<()> {
    let missing: Vec<PathBuf> = dataset
        .machines
        .iter()
        .flat_map(|m| model_files(system, models, &m.machine))
        .filter(|p| !p.is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(HarkError::invalid(
        "hark score",
        format!(
            "{} model file(s) missing, nothing scored: {} (train them with `hark train --system \
             {}`)",
            missing.len(),
            name_some(&missing),
            system.flag_name()
        ),
    ))
}

pub fn score(args: &ScoreArgs) -> hark::Result<()> {
    require_segments(args.system, args.segment_aggregation.as_deref())?;
    let mut inputs = args.data.inputs();
    inputs.push(("--models", args.models.as_path()));
    if let Some(extra) = args.ssc.extra_features() {
        inputs.push(("--extra-features", extra));
    }
    check_apart("hark score", ("--out", &args.out), &inputs)?;
    let dataset = args.data.dataset()?;
    require_models(args.system, &dataset, &args.models)?;
    let ctx = Context::new()?;
    if args.data.is_plain() {
        return super::plain::score_to_csv(&dataset, &args.out, args.percentile, |dir| {
            score_into(args, &ctx, &dataset, dir)
        });
    }
    // The CSVs are written beside --out and moved in only when every section was scored.
    let staged = StagedDir::new(&args.out)?;
    let reports = score_into(args, &ctx, &dataset, staged.path())?;
    staged.commit()?;
    print_reports(&reports)?;
    println!("challenge CSVs written to {}", args.out.display());
    Ok(())
}

/// Scores `dataset` with the saved models of `args.system`, writing the challenge CSVs into `out`.
fn score_into(
    args: &ScoreArgs,
    ctx: &Context,
    dataset: &Dataset,
    out: &Path,
) -> hark::Result<Vec<SectionReport>> {
    Ok(match args.system {
        System::Ae => {
            let config = AutoencoderConfig {
                features: features(),
                ..AutoencoderConfig::default()
            };
            let mut system = AutoencoderSystem::new(ctx, config)?;
            system.load_from = Some(args.models.clone());
            run_system(&mut system, dataset, out, args.percentile)?
        }
        System::Flow => {
            let mut system = super::train_flow::scorer(ctx, &args.models, features())?;
            run_system(system.as_mut(), dataset, out, args.percentile)?
        }
        System::Oe => {
            // Training settings do not matter when scoring; the seed seeds the inlier models.
            let mut config = super::train_oe::config(&args.oe, 0, 2, 0.0, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), true)?;
            super::train_oe::score(ctx, dataset, config, &args.models, out, args.percentile)?
        }
        System::OeFlow => {
            let mut config = super::train_oe::flow_config(&args.oe, 0, 2, 0.0, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), true)?;
            super::train_oe::score(ctx, dataset, config, &args.models, out, args.percentile)?
        }
        System::Embed => {
            let mut system = super::train_embed::system(ctx, &args.embed, None)?;
            system.load_from = Some(args.models.clone());
            run_system(&mut system, dataset, out, args.percentile)?
        }
        System::Mobilenet => {
            let aggregation = parse_aggregation(args.segment_aggregation.as_deref())?;
            let mut system = super::train_mobilenet::scorer(ctx, &args.mobilenet, aggregation)?;
            system.load_from = Some(args.models.clone());
            run_system(&mut system, dataset, out, args.percentile)?
        }
        System::Ssc => {
            let mut system = super::train_ssc::scoring_system(ctx, &args.models, &args.ssc)?;
            run_system(&mut system, dataset, out, args.percentile)?
        }
        System::StatsKnn => {
            super::train_stats_knn::score(ctx, dataset, &args.models, out, args.percentile)?
        }
        System::Energy => super::train_stats_knn::score_energy(dataset, out, args.percentile)?,
    })
}

/// The per-section AUC table and the official score.
fn print_reports(reports: &[SectionReport]) -> hark::Result<()> {
    println!(
        "{:<12} {:>7} {:<8} {:>8}",
        "machine", "section", "domain", "AUC"
    );
    let mut sections = Vec::new();
    for report in reports {
        if let Some(m) = &report.metrics {
            for d in &m.domains {
                let name = d.domain.map_or("all".to_string(), |d| d.to_string());
                println!(
                    "{:<12} {:>7} {:<8} {:>8.4}",
                    m.machine,
                    format!("{:02}", m.section),
                    name,
                    d.auc
                );
            }
            println!(
                "{:<12} {:>7} {:<8} {:>8.4}",
                m.machine,
                format!("{:02}", m.section),
                "pAUC",
                m.pauc
            );
            sections.push(m.clone());
        }
    }
    if !sections.is_empty() {
        println!(
            "official score: {:.4}",
            hark::detect::metrics::official_score(&sections)?
        );
    }
    Ok(())
}
