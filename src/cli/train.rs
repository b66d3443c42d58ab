//! `hark train --system ae` and `hark score --system ae`: train one model per machine type and
//! save it as safetensors (PyTorch names), then score a dataset's test clips with the saved
//! models, writing the challenge CSVs and printing the metrics.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hark::audio::dataset::{read_dataset, Split};
use hark::detect::contract::{run_system, AnomalyScorer};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::{checkpoint_path, AutoencoderConfig, AutoencoderSystem};
use hark::{Context, HarkError};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum System {
    /// The DCASE dense autoencoder (REFERENCE-SPECS §3).
    Ae,
    /// The self-supervised classifier of paper 002: log-mel + TgramNet, TDNN (REFERENCE-SPECS §5).
    Ssc,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    /// Dataset root (machine folders with train/ and test/).
    #[arg(long)]
    data: PathBuf,
    /// Folder for the models (`ae_<machine>.safetensors`).
    #[arg(long)]
    models: PathBuf,
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Default: 512 (ae), 32 (ssc).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Default: 1e-3 (ae), 2e-4 (ssc, as paper 002).
    #[arg(long)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from the training state saved after every epoch
    /// (`<models>/ae_<machine>.train.safetensors`): same batches and optimizer moments as an
    /// uninterrupted run; epochs already done count towards --epochs.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    pub ssc: crate::cli::train_ssc::SscTrainArgs,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    #[arg(long)]
    data: PathBuf,
    /// Folder holding the models written by `hark train`.
    #[arg(long)]
    models: PathBuf,
    /// Folder for the challenge CSVs.
    #[arg(long)]
    out: PathBuf,
    /// Percentile of the gamma fitted to training scores used as the decision threshold.
    #[arg(long, default_value_t = 0.9)]
    percentile: f64,
    #[command(flatten)]
    pub ssc: crate::cli::train_ssc::SscScoreArgs,
}

pub(crate) fn features(ctx: &Context) -> FeatureSpec {
    // Software adapters run the multi-pass FFT faster than the fused one (see README).
    let fft_path = if ctx.adapter_info().device_type == wgpu::DeviceType::Cpu {
        FftPath::Global
    } else {
        FftPath::Auto
    };
    FeatureSpec {
        fft_path,
        ..FeatureSpec::dcase(FeatureKind::Dcase640)
    }
}

pub fn train(args: &TrainArgs) -> hark::Result<()> {
    if let System::Ssc = args.system {
        let run = crate::cli::train_ssc::Run {
            data: &args.data,
            models: &args.models,
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
        };
        return crate::cli::train_ssc::train(&run, &args.ssc);
    }
    let ctx = Context::new()?;
    let dataset = read_dataset(&args.data)?;
    dataset.require_no_problems()?;
    let config = AutoencoderConfig {
        epochs: args.epochs,
        batch_size: args.batch_size.unwrap_or(512),
        lr: args.lr.unwrap_or(1e-3),
        seed: args.seed,
        features: features(&ctx),
    };
    let mut system = AutoencoderSystem::new(&ctx, config)?;
    system.save_to = Some(args.models.clone());
    system.resume = args.resume;
    let bar = ProgressBar::new((dataset.machines.len() * args.epochs) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} epochs  {elapsed} (eta {eta})  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, report| {
        shown.inc(1);
        shown.set_message(format!("{machine}: loss {:.4}", report.loss));
    }));
    for machine in &dataset.machines {
        let clips: Vec<_> = machine.split(Split::Train).collect();
        if clips.is_empty() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: "no training clips".into(),
            });
        }
        system.train(machine, &clips)?;
        bar.println(format!(
            "{}: {} training clips -> {}",
            machine.machine,
            clips.len(),
            checkpoint_path(&args.models, &machine.machine).display()
        ));
    }
    bar.finish_and_clear();
    Ok(())
}

pub fn score(args: &ScoreArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let dataset = read_dataset(&args.data)?;
    dataset.require_no_problems()?;
    let reports = match args.system {
        System::Ae => {
            let config = AutoencoderConfig {
                features: features(&ctx),
                ..AutoencoderConfig::default()
            };
            let mut system = AutoencoderSystem::new(&ctx, config)?;
            system.load_from = Some(args.models.clone());
            run_system(&mut system, &dataset, &args.out, args.percentile)?
        }
        System::Ssc => {
            let mut system = crate::cli::train_ssc::scoring_system(&ctx, &args.models, &args.ssc)?;
            run_system(&mut system, &dataset, &args.out, args.percentile)?
        }
    };
    println!(
        "{:<12} {:>7} {:<8} {:>8}",
        "machine", "section", "domain", "AUC"
    );
    let mut sections = Vec::new();
    for report in &reports {
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
    println!("challenge CSVs written to {}", args.out.display());
    Ok(())
}
