//! `hark ensemble`: the weighted sum of several `hark score` outputs, each member's scores
//! standardised by its per-section training scores (see `hark::detect::ensemble` for the config
//! file), written as challenge CSVs; with --data, the metrics of the result.

use std::path::PathBuf;

use clap::Args;
use hark::audio::dataset::read_dataset;
use hark::detect::contract::evaluate_score_files;
use hark::detect::ensemble::{read_ensemble_config, run_ensemble, Standardize};
use hark::detect::metrics::{official_score, SectionMetrics};
use hark::paths::{check_apart, StagedDir};

#[derive(Debug, Args)]
pub struct EnsembleArgs {
    /// Member list: one 'weight folder' per line (folders of `hark score` output).
    #[arg(long)]
    config: PathBuf,
    /// Folder for the ensemble's challenge CSVs and training scores.
    #[arg(long)]
    out: PathBuf,
    /// The labelled dataset, to print the ensemble's metrics.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Quantile of the ensemble's training scores used as the decision threshold.
    #[arg(long, default_value_t = 0.9, value_parser = super::values::open_unit_f64)]
    percentile: f64,
    /// Whose statistics standardise each member's scores of a section.
    #[arg(long, value_enum, default_value_t = StandardizeArg::Train)]
    standardize: StandardizeArg,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StandardizeArg {
    /// Its training scores' mean and std (paper 004).
    Train,
    /// Its test scores' mean and std (no labels used): for members whose training scores are
    /// degenerate, e.g. a back end whose centres are the training clips.
    Test,
}

pub fn run(args: &EnsembleArgs) -> hark::Result<()> {
    let members = read_ensemble_config(&args.config)?;
    let mut inputs = vec![("--config", args.config.as_path())];
    for member in &members {
        inputs.push(("member", member.dir.as_path()));
    }
    if let Some(data) = &args.data {
        inputs.push(("--data", data.as_path()));
    }
    check_apart("ensemble", ("--out", &args.out), &inputs)?;
    let standardize = match args.standardize {
        StandardizeArg::Train => Standardize::Train,
        StandardizeArg::Test => Standardize::Test,
    };
    // Written beside --out and moved in only when every section was combined.
    let staged = StagedDir::new(&args.out)?;
    let sections = run_ensemble(&members, staged.path(), args.percentile, standardize)?;
    staged.commit()?;
    println!(
        "{} member(s), {} section(s) written to {}",
        members.len(),
        sections.len(),
        args.out.display()
    );
    if let Some(data) = &args.data {
        let dataset = read_dataset(data)?;
        dataset.require_no_problems()?;
        let evaluated = evaluate_score_files(&args.out, &dataset)?;
        let metrics: Vec<SectionMetrics> = evaluated.into_iter().map(|e| e.metrics).collect();
        for m in &metrics {
            let aucs: Vec<String> = m
                .domains
                .iter()
                .map(|d| {
                    let name = d.domain.map_or("all".to_string(), |d| d.to_string());
                    format!("AUC {name} {:.4}", d.auc)
                })
                .collect();
            println!(
                "{} {:02}: {}, pAUC {:.4}",
                m.machine,
                m.section,
                aucs.join(", "),
                m.pauc
            );
        }
        println!("official score: {:.4}", official_score(&metrics)?);
    }
    Ok(())
}
