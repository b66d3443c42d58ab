//! `hark train --system <s>` and `hark score --system <s>`: train one model per machine type and
//! save it as safetensors (PyTorch names), then score a dataset's test clips with the saved
//! models, writing the challenge CSVs (or, for the plain layout, one score CSV) and printing the
//! metrics. The shared flags live here, where the clips come from in `plain.rs`; each system's
//! own flags and wiring live in its `train_<system>.rs`.

use std::path::{Path, PathBuf};

use super::progress::{train_each_machine, TrainProgress};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use hark::audio::dataset::{Dataset, Split};
use hark::detect::aggregate::Aggregation;
use hark::detect::contract::{constant_clips, name_some, run_system, SectionReport};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::{
    checkpoint_path, train_state_path, AutoencoderConfig, AutoencoderSystem,
};
use hark::models::oe::OeConfig;
use hark::paths::{check_apart, StagedDir};
use hark::{Context, HarkError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// The DCASE dense autoencoder (REFERENCE-SPECS §3).
    Ae,
    /// A normalizing flow (FrEIA AllInOneBlocks) as a density model on the same vectors.
    Flow,
    /// Outlier exposure with GMM / Mahalanobis-kNN back ends (paper 004; --oe-* settings).
    Oe,
    /// OE-Flow (paper 004): the OE extractor trained jointly with a normalizing flow on its
    /// embeddings; score = the flow's NLL or the inlier model (--oe-flow-detector; --oe-* and
    /// --oe-flow-* settings).
    OeFlow,
    /// Wilkinghoff's embedding system: sub-cluster AdaCos, k-means back end (REFERENCE-SPECS §4).
    Embed,
    /// The DCASE 2022 MobileNetV2 section classifier (003 §4.1).
    Mobilenet,
    /// The self-supervised classifier of paper 002: log-mel + TgramNet, TDNN (REFERENCE-SPECS §5).
    Ssc,
    /// Training-free few-shot system: per-clip statistics of the front end, GPU cosine kNN per
    /// section with separate source / target memories (--stats-* settings, training only).
    StatsKnn,
    /// Loudness baseline: distance of a clip's log energy from its section's training clips
    /// (no model; `hark train` writes nothing).
    Energy,
}

impl System {
    /// (epochs, batch size, learning rate) when the flags leave them out.
    fn defaults(self) -> (usize, usize, f32) {
        match self {
            System::Ae | System::Flow => (100, 512, 1e-3),
            System::Oe | System::OeFlow => (20, 32, 1e-3),
            System::Embed => (10, 64, 1e-3),
            System::Mobilenet => (20, 128, 1e-4),
            System::Ssc => (100, 32, 2e-4),
            // Not trained by gradient steps.
            System::StatsKnn | System::Energy => (0, 1, 0.0),
        }
    }
}

impl System {
    /// The name `--system` takes.
    fn flag_name(self) -> String {
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_string())
    }
}

const TRAINED: &[System] = &[
    System::Ae,
    System::Flow,
    System::Oe,
    System::OeFlow,
    System::Embed,
    System::Mobilenet,
    System::Ssc,
];

/// The systems whose training `--resume` continues (their state holds all they train).
const RESUMABLE: &[System] = &[
    System::Ae,
    System::Flow,
    System::Embed,
    System::Mobilenet,
    System::Ssc,
];

/// Which systems read each group of flags. A group is a flattened `Args` struct (its flags are
/// listed from the struct itself, so a new flag joins its group's row without an edit here) or
/// one flag of `hark train`/`hark score`; within the oe group, flags named `oe_flow_*` and
/// `oe_dflow_*` are read by oe-flow only.
fn flag_owners() -> Vec<(clap::Arg, Vec<System>)> {
    fn group<A: Args>(systems: &[System]) -> Vec<(clap::Arg, Vec<System>)> {
        A::augment_args(clap::Command::new("group"))
            .get_arguments()
            .map(|arg| (arg.clone(), systems.to_vec()))
            .collect()
    }
    let mut owners = Vec::new();
    owners.extend(group::<super::train_flow::FlowArgs>(&[System::Flow]));
    for (arg, _) in group::<super::train_oe::OeArgs>(&[]) {
        let id = arg.get_id().as_str();
        let systems = if id.starts_with("oe_flow_") || id.starts_with("oe_dflow_") {
            vec![System::OeFlow]
        } else {
            vec![System::Oe, System::OeFlow]
        };
        owners.push((arg, systems));
    }
    owners.extend(group::<super::train_embed::EmbedArgs>(&[System::Embed]));
    owners.extend(group::<super::train_mobilenet::MobileNetArgs>(&[
        System::Mobilenet,
    ]));
    owners.extend(group::<super::train_ssc::SscTrainArgs>(&[System::Ssc]));
    owners.extend(group::<super::train_ssc::SscScoreArgs>(&[System::Ssc]));
    owners.extend(group::<super::train_stats_knn::StatsKnnArgs>(&[
        System::StatsKnn,
    ]));
    for (id, long) in [
        ("epochs", "epochs"),
        ("batch_size", "batch-size"),
        ("lr", "lr"),
    ] {
        owners.push((clap::Arg::new(id).long(long), TRAINED.to_vec()));
    }
    owners.push((clap::Arg::new("resume").long("resume"), RESUMABLE.to_vec()));
    owners.push((
        clap::Arg::new("segment_aggregation").long("segment-aggregation"),
        vec![System::Oe, System::OeFlow, System::Mobilenet],
    ));
    owners
}

/// Refuses a flag given on the command line (not a default) that the chosen `--system` does
/// not read, naming the systems it belongs to. `matches` are those of `hark train` or `hark
/// score`.
pub fn check_system_flags(command: &'static str, matches: &ArgMatches) -> hark::Result<()> {
    let Some(system) = matches.get_one::<System>("system").copied() else {
        return Ok(());
    };
    let given: Vec<String> = matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect();
    for (arg, systems) in flag_owners() {
        if systems.contains(&system) || !given.iter().any(|id| id == arg.get_id().as_str()) {
            continue;
        }
        let names: Vec<String> = systems.iter().map(|s| s.flag_name()).collect();
        let belongs = if names.is_empty() {
            "no system".to_string()
        } else {
            format!("--system {}", names.join(", "))
        };
        return Err(HarkError::invalid(
            command,
            format!(
                "--{} applies to {belongs}, not to --system {}",
                arg.get_long().unwrap_or(arg.get_id().as_str()),
                system.flag_name()
            ),
        ));
    }
    Ok(())
}

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

pub(crate) fn features() -> FeatureSpec {
    // FftPath::Auto: the library picks the global path on software adapters.
    let fft_path = FftPath::Auto;
    FeatureSpec {
        fft_path,
        ..FeatureSpec::dcase(FeatureKind::Dcase640)
    }
}

pub fn train(args: &TrainArgs) -> hark::Result<()> {
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
    check_apart("hark train", ("--models", &args.models), &inputs)?;
    let (epochs, batch_size, lr) = args.system.defaults();
    let epochs = args.epochs.unwrap_or(epochs);
    let batch_size = args.batch_size.unwrap_or(batch_size);
    let lr = args.lr.unwrap_or(lr);
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
    match args.system {
        System::Ae => {}
        System::Flow => {
            return super::train_flow::train(&super::train_flow::FlowTrainArgs {
                dataset: &dataset,
                models: &args.models,
                epochs,
                batch_size,
                lr,
                seed: args.seed,
                resume: args.resume,
                blocks: args.flow.blocks,
                hidden: args.flow.hidden,
                features: features(),
            });
        }
        System::Oe => {
            let ctx = Context::new()?;
            let mut config = super::train_oe::config(&args.oe, epochs, batch_size, lr, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), false)?;
            let pseudo = args.oe.oe_pseudo_data.as_deref();
            return super::train_oe::train(&ctx, &dataset, config, &args.models, pseudo);
        }
        System::OeFlow => {
            let ctx = Context::new()?;
            let mut config =
                super::train_oe::flow_config(&args.oe, epochs, batch_size, lr, args.seed);
            oe_aggregation(&mut config, args.segment_aggregation.as_deref(), false)?;
            let pseudo = args.oe.oe_pseudo_data.as_deref();
            return super::train_oe::train(&ctx, &dataset, config, &args.models, pseudo);
        }
        System::Embed => {
            let run = super::train_embed::EmbedRun {
                dataset: &dataset,
                models: &args.models,
                epochs,
                batch_size,
                lr,
                seed: args.seed,
                resume: args.resume,
            };
            return super::train_embed::train(&run, &args.embed);
        }
        System::Mobilenet => {
            let run = super::train_mobilenet::TrainRun {
                dataset: &dataset,
                models: &args.models,
                epochs: Some(epochs),
                batch_size: Some(batch_size),
                lr: Some(lr),
                seed: args.seed,
                resume: args.resume,
                aggregation: parse_aggregation(args.segment_aggregation.as_deref())?
                    .unwrap_or_default(),
            };
            return super::train_mobilenet::train(&run, &args.mobilenet);
        }
        System::Ssc => {
            let run = super::train_ssc::Run {
                dataset: &dataset,
                models: &args.models,
                epochs,
                batch_size: Some(batch_size),
                lr: Some(lr),
                seed: args.seed,
                resume: args.resume,
            };
            return super::train_ssc::train(&run, &args.ssc);
        }
        System::StatsKnn => {
            return super::train_stats_knn::train(&dataset, &args.models, &args.stats_knn);
        }
        System::Energy => return Ok(()),
    }
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
        shown.step(format!("{machine}: loss {:.4}", report.loss), true);
    }));
    train_each_machine(
        &mut system,
        &dataset,
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

fn parse_aggregation(flag: Option<&str>) -> hark::Result<Option<Aggregation>> {
    flag.map(Aggregation::parse).transpose()
}

/// `--segment-aggregation` is for the systems that score segments (ssc embeds whole clips).
fn require_segments(system: System, flag: Option<&str>) -> hark::Result<()> {
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
fn oe_aggregation(config: &mut OeConfig, flag: Option<&str>, scoring: bool) -> hark::Result<()> {
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
