//! `hark train --system <s>`: train one model per machine type and save it as safetensors
//! (PyTorch names); `hark score` (`score.rs`) scores with them. The shared flags live here and in
//! `system.rs`, where the clips come from in `plain.rs`; each system's own flags and wiring live
//! in its `train_<system>.rs`.

use std::path::{Path, PathBuf};

use super::progress::{train_each_machine, TrainProgress};
use clap::Args;
use hark::audio::dataset::{Dataset, Split};
use hark::detect::aggregate::Aggregation;
use hark::detect::contract::{constant_clips, name_some};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::{
    checkpoint_path, train_state_path, AutoencoderConfig, AutoencoderSystem,
};
use hark::models::oe::OeConfig;
use hark::paths::check_apart;
use hark::{Context, HarkError};

pub(crate) use super::score::model_files;
pub use super::score::{score, ScoreArgs};
use super::system::RESUMABLE;
pub use super::system::{check_system_flags, System};

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    #[command(flatten)]
    data: super::plain::TrainData,
    /// Folder for the models (`<system>_<machine>.safetensors`).
    #[arg(long)]
    models: PathBuf,
    /// Default: 100 (ae, flow, ssc), 20 (oe, mobilenet), 10 (embed).
    #[arg(long, value_parser = super::values::positive_usize)]
    epochs: Option<usize>,
    /// Default: 512 (ae, flow), 32 (oe, ssc), 64 (embed), 128 (mobilenet).
    #[arg(long, value_parser = super::values::positive_usize)]
    batch_size: Option<usize>,
    /// Default: 1e-3; 1e-4 (mobilenet), 2e-4 (ssc, as paper 002).
    #[arg(long, value_parser = super::values::positive_f32)]
    lr: Option<f32>,
    /// oe, oe-flow, mobilenet: how segment (patch) scores combine into a clip score: mean, max,
    /// topk:K (mean of the K highest), or power (oe only). `hark train` records it in the
    /// checkpoint; `hark score` uses the checkpoint's unless given (older checkpoints: mean).
    #[arg(long)]
    segment_aggregation: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from the training state saved after every epoch
    /// (`<models>/<system>_<machine>.train.safetensors`): same batches, optimizer moments and
    /// shuffle as an uninterrupted run; epochs already done count towards --epochs (ae, flow,
    /// embed, mobilenet, ssc). Without it, ae refuses a --models folder that already holds a model or state of a machine type it
    /// trains, so a killed run never leaves an old model beside a new run's state.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    flow: super::train_flow::FlowArgs,
    #[command(flatten)]
    oe: super::train_oe::OeArgs,
    #[command(flatten)]
    embed: super::train_embed::EmbedArgs,
    #[command(flatten)]
    mobilenet: super::train_mobilenet::MobileNetArgs,
    #[command(flatten)]
    ssc: super::train_ssc::SscTrainArgs,
    #[command(flatten)]
    stats_knn: super::train_stats_knn::StatsKnnArgs,
}

pub(crate) fn features() -> FeatureSpec {
    // FftPath::Auto: the library picks the global path on software adapters.
    let fft_path = FftPath::Auto;
    FeatureSpec {
        fft_path,
        ..FeatureSpec::dcase(FeatureKind::Dcase640)
    }
}

pub fn train(args: &TrainArgs) -> hark::Result<()> {
    check_train_args(args)?;
    let (epochs, batch_size, lr) = args.system.defaults();
    let settings = Settings {
        epochs: args.epochs.unwrap_or(epochs),
        batch_size: args.batch_size.unwrap_or(batch_size),
        lr: args.lr.unwrap_or(lr),
    };
    if matches!(args.system, System::Energy) {
        println!("energy has no model to train: `hark score --system energy` fits it");
        return Ok(());
    }
    // Read and checked before the GPU starts, so that a bad clip stops the run at once.
    let dataset = args.data.dataset()?;
    check_training_clips(&dataset)?;
    if matches!(args.system, System::Ae) && !args.resume {
        refuse_old_ae_files(&dataset, &args.models)?;
    }
    train_system(args, &dataset, settings)
}

/// `--epochs`, `--batch-size` and `--lr` with the system's defaults filled in.
#[derive(Clone, Copy, Debug)]
struct Settings {
    epochs: usize,
    batch_size: usize,
    lr: f32,
}

/// The flag checks that need no data: segment aggregation and `--resume` only where the system
/// has them, and `--models` apart from every input.
fn check_train_args(args: &TrainArgs) -> hark::Result<()> {
    require_segments(args.system, args.segment_aggregation.as_deref())?;
    if args.resume && !RESUMABLE.contains(&args.system) {
        return Err(HarkError::invalid(
            "hark train",
            "--resume is supported by --system ae, flow, embed, mobilenet and ssc (oe and \
             oe-flow keep host-side statistics their state does not hold yet; stats-knn and \
             energy train in one pass)",
        ));
    }
    let mut inputs = args.data.inputs();
    if let Some(pseudo) = args.oe.oe_pseudo_data.as_deref() {
        inputs.push(("--oe-pseudo-data", pseudo));
    }
    if let Some(extra) = args.ssc.extra_features() {
        inputs.push(("--extra-features", extra));
    }
    check_apart("hark train", ("--models", &args.models), &inputs)
}

/// Trains `args.system` on `dataset` through its own `train_<system>.rs`.
fn train_system(args: &TrainArgs, dataset: &Dataset, settings: Settings) -> hark::Result<()> {
    let Settings {
        epochs,
        batch_size,
        lr,
    } = settings;
    match args.system {
        System::Ae => train_ae(args, dataset, settings),
        System::Flow => super::train_flow::train(&super::train_flow::FlowTrainArgs {
            dataset,
            models: &args.models,
            epochs,
            batch_size,
            lr,
            seed: args.seed,
            resume: args.resume,
            blocks: args.flow.blocks,
            hidden: args.flow.hidden,
            features: features(),
        }),
        System::Oe => {
            let ctx = Context::new()?;
            let mut config = super::train_oe::config(&args.oe, epochs, batch_size, lr, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), false)?;
            let pseudo = args.oe.oe_pseudo_data.as_deref();
            super::train_oe::train(&ctx, dataset, config, &args.models, pseudo)
        }
        System::OeFlow => {
            let ctx = Context::new()?;
            let mut config =
                super::train_oe::flow_config(&args.oe, epochs, batch_size, lr, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), false)?;
            let pseudo = args.oe.oe_pseudo_data.as_deref();
            super::train_oe::train(&ctx, dataset, config, &args.models, pseudo)
        }
        System::Embed => {
            let run = super::train_embed::EmbedRun {
                dataset,
                models: &args.models,
                epochs,
                batch_size,
                lr,
                seed: args.seed,
                resume: args.resume,
            };
            super::train_embed::train(&run, &args.embed)
        }
        System::Mobilenet => {
            let run = super::train_mobilenet::TrainRun {
                dataset,
                models: &args.models,
                epochs: Some(epochs),
                batch_size: Some(batch_size),
                lr: Some(lr),
                seed: args.seed,
                resume: args.resume,
                aggregation: parse_aggregation(args.segment_aggregation.as_deref())?
                    .unwrap_or_default(),
            };
            super::train_mobilenet::train(&run, &args.mobilenet)
        }
        System::Ssc => {
            let run = super::train_ssc::Run {
                dataset,
                models: &args.models,
                epochs,
                batch_size: Some(batch_size),
                lr: Some(lr),
                seed: args.seed,
                resume: args.resume,
            };
            super::train_ssc::train(&run, &args.ssc)
        }
        System::StatsKnn => super::train_stats_knn::train(dataset, &args.models, &args.stats_knn),
        System::Energy => Ok(()),
    }
}

/// The autoencoder, the one system wired here rather than in its own file.
fn train_ae(args: &TrainArgs, dataset: &Dataset, settings: Settings) -> hark::Result<()> {
    let Settings {
        epochs,
        batch_size,
        lr,
    } = settings;
    let ctx = Context::new()?;
    let config = AutoencoderConfig {
        epochs,
        batch_size,
        lr,
        seed: args.seed,
        features: features(),
    };
    let mut system = AutoencoderSystem::new(&ctx, config)?;
    system.save_to = Some(args.models.clone());
    system.resume = args.resume;
    let bar = TrainProgress::new((dataset.machines.len() * epochs) as u64, "epochs");
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, report| {
        shown.epoch_step(report.epoch, format!("{machine}: loss {:.4}", report.loss));
    }));
    train_each_machine(
        &mut system,
        dataset,
        &bar,
        |machine| checkpoint_path(&args.models, machine),
        "",
    )
}

/// Refuses training data whose every clip of a machine type is silent or constant (nothing to
/// learn; the threshold would flag every test clip) and warns, naming them, about such clips
/// among others.
fn check_training_clips(dataset: &Dataset) -> hark::Result<()> {
    for machine in &dataset.machines {
        let clips: Vec<_> = machine.split(Split::Train).collect();
        let constant = constant_clips(&clips)?;
        if constant.is_empty() {
            continue;
        }
        if constant.len() == clips.len() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: format!(
                    "all {} training clips of {} are silent or constant: {}",
                    clips.len(),
                    machine.machine,
                    name_some(&constant)
                ),
            });
        }
        eprintln!(
            "warning: {} of {} training clips of {} are silent or constant: {}",
            constant.len(),
            clips.len(),
            machine.machine,
            name_some(&constant)
        );
    }
    Ok(())
}

/// A fresh ae training (no --resume) refuses to start beside an existing model or training
/// state of a machine type it trains: the state it writes after every epoch would otherwise sit
/// next to the old model if the run were killed, an inconsistent pair.
fn refuse_old_ae_files(dataset: &Dataset, models: &Path) -> hark::Result<()> {
    for machine in &dataset.machines {
        for path in [
            checkpoint_path(models, &machine.machine),
            train_state_path(models, &machine.machine),
        ] {
            if path.exists() {
                return Err(HarkError::invalid(
                    "hark train",
                    format!(
                        "{} already exists: give --resume to continue that training, or remove \
                         ae_{m}.safetensors and ae_{m}.train.safetensors (or choose another \
                         --models folder) to train afresh",
                        path.display(),
                        m = machine.machine
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn parse_aggregation(flag: Option<&str>) -> hark::Result<Option<Aggregation>> {
    flag.map(Aggregation::parse).transpose()
}

/// `--segment-aggregation` is for the systems that score segments (ssc embeds whole clips).
pub(super) fn require_segments(system: System, flag: Option<&str>) -> hark::Result<()> {
    let segmented = matches!(system, System::Oe | System::OeFlow | System::Mobilenet);
    if flag.is_some() && !segmented {
        return Err(HarkError::invalid(
            "hark",
            format!(
                "--segment-aggregation applies to oe, oe-flow and mobilenet, not {system:?} \
                 (it scores whole clips)"
            ),
        ));
    }
    Ok(())
}

/// `--segment-aggregation` for oe / oe-flow, where `--oe-aggregation power` is the older
/// spelling of `power`; without the flag, scoring follows the checkpoint.
pub(super) fn oe_aggregation(
    config: &mut OeConfig,
    flag: Option<&str>,
    scoring: bool,
) -> hark::Result<()> {
    match parse_aggregation(flag)? {
        Some(how) => {
            if config.aggregation == Aggregation::PowerWeighted && how != config.aggregation {
                return Err(HarkError::invalid(
                    "hark",
                    "--oe-aggregation power and --segment-aggregation disagree (give one)",
                ));
            }
            config.aggregation = how;
        }
        None => {
            config.aggregation_from_checkpoint = scoring && config.aggregation == Aggregation::Mean;
        }
    }
    Ok(())
}
