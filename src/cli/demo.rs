//! `hark demo`: the main job. Without arguments it generates a small synthetic dataset in a
//! temporary folder, trains and scores the DCASE autoencoder on every machine type, and prints the
//! per-section AUC/pAUC table, the official score and the time spent per stage. `--data <root>`
//! runs it on a real dataset instead.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use hark::audio::dataset::read_dataset;
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::run_system;
use hark::detect::metrics::{harmonic_mean, official_score, SectionMetrics};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::{AutoencoderConfig, AutoencoderSystem};
use hark::{Context, HarkError};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A DCASE dataset root to use instead of generated data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the challenge CSVs (default: a temporary folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Training epochs per machine type (the baseline recipe uses 100; 5 keeps the default demo
    /// within 10 minutes on a 2-core CPU through lavapipe).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Synthetic training clips per machine type.
    #[arg(long, default_value_t = 40)]
    clips: usize,
    /// Synthetic test clips per machine type.
    #[arg(long, default_value_t = 40)]
    test_clips: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &DemoArgs) -> hark::Result<()> {
    let started = Instant::now();
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?})",
        info.name, info.device_type, info.backend
    );
    let scratch = TempDir(std::env::temp_dir().join(format!("hark-demo-{}", std::process::id())));
    let mut stages: Vec<(&str, f64)> = Vec::new();

    let root = match &args.data {
        Some(root) => root.clone(),
        None => {
            let t = Instant::now();
            let root = scratch.0.join("data");
            let config = SynthConfig {
                out: root.clone(),
                machines: MachineType::ALL.to_vec(),
                sections: 1,
                train_clips: args.clips,
                test_clips: args.test_clips,
                seed: args.seed,
                stems: false,
                ..SynthConfig::default()
            };
            let report = generate(&config)?;
            println!(
                "generated {} synthetic clips ({} machine types, section 00) in {}",
                report.clips,
                config.machines.len(),
                root.display()
            );
            stages.push(("synthesise", t.elapsed().as_secs_f64()));
            root
        }
    };
    let dataset = read_dataset(&root)?;
    dataset.require_no_problems()?;
    if dataset.machines.is_empty() {
        return Err(HarkError::invalid(
            "demo",
            format!("no machine types under {}", root.display()),
        ));
    }

    // Software adapters run the multi-pass FFT faster than the fused one (see README).
    let fft_path = if info.device_type == wgpu::DeviceType::Cpu {
        FftPath::Global
    } else {
        FftPath::Auto
    };
    let config = AutoencoderConfig {
        epochs: args.epochs,
        seed: args.seed,
        features: FeatureSpec {
            fft_path,
            ..FeatureSpec::dcase(FeatureKind::Dcase640)
        },
        ..AutoencoderConfig::default()
    };
    let mut system = AutoencoderSystem::new(&ctx, config)?;
    let bar = ProgressBar::new((dataset.machines.len() * args.epochs) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} epochs  {elapsed}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let bar_for_epochs = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, report| {
        bar_for_epochs.inc(1);
        bar_for_epochs.set_message(format!(
            "{machine}: epoch {}/{} loss {:.3} ({} vectors)",
            report.epoch, report.epochs, report.loss, report.vectors
        ));
    }));
    let out = args.out.clone().unwrap_or_else(|| scratch.0.join("scores"));
    let t = Instant::now();
    let reports = run_system(&mut system, &dataset, &out, 0.9)?;
    bar.finish_and_clear();
    stages.push(("features + train + score", t.elapsed().as_secs_f64()));

    println!(
        "{:<10} {:>7} {:>10} {:>10} {:>8}",
        "machine", "section", "AUC source", "AUC target", "pAUC"
    );
    let sections: Vec<SectionMetrics> = reports.iter().filter_map(|r| r.metrics.clone()).collect();
    for s in &sections {
        let auc = |name: &str| {
            s.domains
                .iter()
                .find(|d| d.domain.map(|d| d.to_string()).as_deref() == Some(name))
                .map_or("-".to_string(), |d| format!("{:.4}", d.auc))
        };
        println!(
            "{:<10} {:>7} {:>10} {:>10} {:>8.4}",
            s.machine,
            format!("{:02}", s.section),
            auc("source"),
            auc("target"),
            s.pauc
        );
    }
    if !sections.is_empty() {
        let all: Vec<f64> = sections.iter().flat_map(|s| s.official_values()).collect();
        println!(
            "harmonic mean of all AUCs and pAUCs: {:.4}",
            harmonic_mean(&all)?
        );
        println!("official score: {:.4}", official_score(&sections)?);
    }
    if let Some(out) = &args.out {
        println!("challenge CSVs written to {}", out.display());
    }
    stages.push(("total", started.elapsed().as_secs_f64()));
    for (stage, seconds) in &stages {
        println!("time {stage:<26} {seconds:>8.1} s");
    }
    Ok(())
}
