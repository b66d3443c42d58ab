//! The model a monitor scores with, loaded as `hark score` loads it: the system from its model
//! folder, the machine type's training clips (whose scores set each section's threshold), and
//! the checks that the folder holds a model of that machine type.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hark::audio::dataset::{read_dataset, read_plain_dataset, MachineDataset, PlainLayout};
use hark::detect::contract::{AnomalyScorer, EnergyScorer};
use hark::models::autoencoder::{AutoencoderConfig, AutoencoderSystem};
use hark::models::stats_knn::{StatsKnnConfig, StatsKnnSystem};
use hark::monitor::{ScoringModel, WindowScorer};
use hark::{Context, HarkError};

use super::train::System;

/// Where the model and its training clips are.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    pub system: System,
    /// Folder holding the models written by `hark train`.
    #[arg(long)]
    pub models: PathBuf,
    /// The DCASE dataset root the model was trained on (its training clips set the threshold).
    #[arg(
        long,
        required_unless_present = "train_dir",
        conflicts_with = "train_dir"
    )]
    pub data: Option<PathBuf>,
    /// The folder of normal WAVs the model was trained on (`hark train --train-dir`).
    #[arg(long)]
    pub train_dir: Option<PathBuf>,
    /// The machine type monitored (the model is `<system>_<machine>.safetensors`); with --data,
    /// needed when the dataset holds several.
    #[arg(long)]
    pub machine: Option<String>,
    /// Percentile of the gamma fitted to the training scores: the decision threshold.
    #[arg(long, default_value_t = 0.9, value_parser = super::values::open_unit_f64)]
    pub percentile: f64,
}

/// The training clips of the monitored machine type.
fn machine_data(args: &ModelArgs) -> hark::Result<MachineDataset> {
    let dataset = match (&args.data, &args.train_dir) {
        (_, Some(train_dir)) => read_plain_dataset(&PlainLayout {
            machine: args
                .machine
                .clone()
                .unwrap_or_else(|| hark::audio::dataset::DEFAULT_PLAIN_MACHINE.to_string()),
            train_dir: train_dir.clone(),
            score_dir: None,
            labels: None,
        })?,
        (Some(data), None) => read_dataset(data)?,
        (None, None) => {
            return Err(HarkError::invalid(
                "hark monitor",
                "give --data or --train-dir (the training clips set the threshold)",
            ))
        }
    };
    dataset.require_no_problems()?;
    let names: Vec<String> = dataset.machines.iter().map(|m| m.machine.clone()).collect();
    let wanted = match (&args.machine, names.as_slice()) {
        (Some(m), _) => m.clone(),
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(HarkError::invalid(
                "hark monitor",
                format!(
                    "the dataset holds several machine types ({}): say which with --machine",
                    names.join(", ")
                ),
            ))
        }
    };
    dataset
        .machines
        .into_iter()
        .find(|m| m.machine == wanted)
        .ok_or_else(|| {
            HarkError::invalid(
                "hark monitor",
                format!(
                    "machine type '{wanted}' is not in the data (it holds {})",
                    names.join(", ")
                ),
            )
        })
}

/// Refuses a model folder without a model of `machine` for the system, naming the machine
/// types it holds models for (a model of another machine type is never used).
fn require_model(system: System, models: &Path, machine: &str) -> hark::Result<()> {
    let files = super::train::model_files(system, models, machine);
    if files.iter().all(|f| f.is_file()) {
        return Ok(());
    }
    let system_name = system
        .to_possible_value()
        .map_or_else(|| format!("{system:?}"), |v| v.get_name().to_string());
    let prefix = format!("{system_name}_");
    let mut others: Vec<String> = std::fs::read_dir(models)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let rest = name.strip_prefix(&prefix)?.strip_suffix(".safetensors")?;
                    (!rest.ends_with(".train")).then(|| rest.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    let held = if others.is_empty() {
        format!("no {system_name} models")
    } else {
        format!("{system_name} models of {} only", others.join(", "))
    };
    Err(HarkError::invalid(
        "hark monitor",
        format!(
            "{} holds {held}, not of machine type '{machine}' (a model of another machine type \
             is refused; train one with `hark train --system {system_name}`)",
            models.display()
        ),
    ))
}

/// Defaults of a flattened flag group, as `hark score` has them when no flag is given.
fn defaults<A: clap::Args + clap::FromArgMatches>() -> hark::Result<A> {
    let matches = A::augment_args(clap::Command::new("defaults"))
        .try_get_matches_from(["defaults"])
        .map_err(|e| HarkError::invalid("hark monitor", e.to_string()))?;
    A::from_arg_matches(&matches).map_err(|e| HarkError::invalid("hark monitor", e.to_string()))
}

/// The system loading its model from `models` as `hark score` loads it (`ae` and `flow` as
/// means of vector scores, which the monitor can score incrementally).
pub(crate) fn load_scorer(
    ctx: &Context,
    system: System,
    models: &Path,
    machine: &str,
) -> hark::Result<ScoringModel> {
    let features = super::train::features();
    let clips: Box<dyn AnomalyScorer> = match system {
        System::Ae => {
            let config = AutoencoderConfig {
                features,
                ..AutoencoderConfig::default()
            };
            let mut s = AutoencoderSystem::new(ctx, config)?;
            s.load_from = Some(models.to_path_buf());
            return Ok(ScoringModel::VectorMean(Box::new(s)));
        }
        System::Flow => {
            let s = super::train_flow::system(ctx, models, features)?;
            return Ok(ScoringModel::VectorMean(Box::new(s)));
        }
        System::StatsKnn => {
            let mut s = StatsKnnSystem::new(ctx, StatsKnnConfig::with_defaults(features))?;
            s.load_from = Some(models.to_path_buf());
            Box::new(s)
        }
        System::Embed => {
            let mut s = super::train_embed::system(ctx, &defaults()?, None)?;
            s.load_from = Some(models.to_path_buf());
            Box::new(s)
        }
        System::Mobilenet => {
            let args = mobilenet_args(&hark::models::mobilenet::checkpoint_path(models, machine))?;
            let mut s = super::train_mobilenet::scorer(ctx, &args, None)?;
            s.load_from = Some(models.to_path_buf());
            Box::new(s)
        }
        System::Ssc => Box::new(super::train_ssc::scoring_system(ctx, models, &defaults()?)?),
        System::Energy => Box::new(EnergyScorer::default()),
        System::Oe | System::OeFlow => {
            return Err(HarkError::invalid(
                "hark monitor",
                "--system oe and oe-flow score through their own back-end fit, not yet through \
                 the monitor; use ae, flow, embed, mobilenet, ssc, stats-knn or energy",
            ))
        }
    };
    Ok(ScoringModel::Clips(clips))
}

/// MobileNet's settings with the patch geometry the checkpoint at `path` was trained with (the
/// monitor has no `--patch-frames`: the model says it; `hark score` takes the flags and checks
/// them against the checkpoint).
fn mobilenet_args(path: &Path) -> hark::Result<super::train_mobilenet::MobileNetArgs> {
    let mut args: super::train_mobilenet::MobileNetArgs = defaults()?;
    let header = hark::io::checkpoint::CheckpointHeader::read(path)?;
    args.patch_frames = header.size("patch_frames", 1 << 16, "frames per patch")?;
    args.hop_frames = header.size("hop_frames", 1 << 16, "frames between patches")?;
    Ok(args)
}

/// The model loaded and its thresholds fitted, for `machine`.
pub(crate) fn window_scorer(ctx: &Context, args: &ModelArgs) -> hark::Result<WindowScorer> {
    let machine = machine_data(args)?;
    if args.system != System::Energy {
        require_model(args.system, &args.models, &machine.machine)?;
    }
    let scorer = load_scorer(ctx, args.system, &args.models, &machine.machine)?;
    let rate = super::train::features().sample_rate;
    WindowScorer::fit_model(scorer, &machine, rate, args.percentile)
}
