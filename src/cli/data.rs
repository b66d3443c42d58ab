//! `hark data summary` (clip counts of a DCASE dataset) and `hark data score` (the energy
//! baseline through the scoring contract, writing the challenge CSVs).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hark::audio::dataset::{read_dataset, split_labelled_test_set, SplitOptions, Summary};
use hark::detect::contract::{run_system, EnergyScorer};
use hark::detect::outputs::DEFAULT_DECISION_PERCENTILE;
use hark::paths::{check_apart, StagedDir};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Clip counts per machine, section, split, domain, label and attribute value.
    Summary(SummaryArgs),
    /// Score a dataset with the energy baseline and write the challenge CSVs.
    Score(ScoreArgs),
    /// A trainable dataset from a labelled test set (e.g. the real clips in ../shared/data/real):
    /// part of each section and domain's normal test clips become training clips (links to the
    /// files, renamed as training clips); the rest and all anomalies stay test clips.
    Split(SplitArgs),
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// Dataset root with labelled test clips.
    root: PathBuf,
    /// New dataset folder (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Share of each section and domain's normal test clips that become training clips.
    #[arg(long, default_value_t = 0.5, value_parser = super::values::open_unit_f64)]
    train_fraction: f64,
    /// Seeds which clips are picked.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Dataset root (a folder of machine folders, or one machine folder).
    root: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Dataset root.
    root: PathBuf,
    /// Folder for anomaly_score_*.csv and decision_result_*.csv.
    #[arg(long)]
    out: PathBuf,
    /// Decision threshold percentile of the gamma fitted to training scores.
    #[arg(long, default_value_t = DEFAULT_DECISION_PERCENTILE, value_parser = super::values::open_unit_f64)]
    percentile: f64,
}

pub fn run(command: &DataCommand) -> hark::Result<()> {
    match command {
        DataCommand::Split(args) => {
            check_apart("data split", ("--out", &args.out), &[("root", &args.root)])?;
            let dataset = read_dataset(&args.root)?;
            dataset.require_no_problems()?;
            let options = SplitOptions {
                train_fraction: args.train_fraction,
                seed: args.seed,
            };
            let report = split_labelled_test_set(&dataset, &args.out, &options)?;
            for (machine, train, test) in &report.machines {
                println!("{machine}: {train} training clips, {test} test clips");
            }
            for (machine, why) in &report.skipped {
                eprintln!("{machine}: left out ({why})");
            }
            if report.unlabelled > 0 {
                eprintln!("{} unlabelled test clip(s) left out", report.unlabelled);
            }
            println!("wrote {}", args.out.display());
            Ok(())
        }
        DataCommand::Summary(args) => {
            let dataset = read_dataset(&args.root)?;
            print!("{}", Summary::of(&dataset));
            // Problems are listed, and make the command fail, so none goes unnoticed.
            dataset.require_no_problems()
        }
        DataCommand::Score(args) => {
            check_apart("data score", ("--out", &args.out), &[("root", &args.root)])?;
            let dataset = read_dataset(&args.root)?;
            dataset.require_no_problems()?;
            let mut scorer = EnergyScorer::default();
            // Written beside --out and moved in only when every section was scored.
            let staged = StagedDir::new(&args.out)?;
            let reports = run_system(&mut scorer, &dataset, staged.path(), args.percentile)?;
            staged.commit()?;
            for report in &reports {
                println!(
                    "{} section {:02}: threshold {:.4}",
                    report.machine, report.section, report.threshold
                );
            }
            println!(
                "wrote {} section(s) to {}",
                reports.len(),
                args.out.display()
            );
            Ok(())
        }
    }
}
