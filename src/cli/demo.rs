//! `hark demo`: the main job. Without arguments it generates a small synthetic dataset in a
//! temporary folder, fits the training-free few-shot system (`stats-knn`) on every machine type,
//! scores the test clips, and prints the per-section AUC/pAUC table, the official score, the ROC
//! plots and CSVs it wrote, the time per stage and the GPU time per kernel of the whole run.
//! `--system` runs any other system (trained with `--epochs`), `--data` a real dataset.
//!
//! The stages run through the same code as `hark train`, `hark score` and `hark evaluate`, so
//! the demo shows exactly what those commands do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser, ValueEnum};
use hark::audio::dataset::read_dataset;
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::evaluate_score_files;
use hark::detect::metrics::{official_score, SectionMetrics};
use hark::detect::plots::plot_section;
use hark::profiler::run::RunProfile;
use hark::HarkError;

use super::train::System;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The system to run. The default, stats-knn, needs no training and fits the 5-minute demo
    /// on a CPU; the learned systems take `--epochs`.
    #[arg(long, value_enum, default_value_t = System::StatsKnn)]
    system: System,
    /// A DCASE dataset root to use instead of generated data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the models, the challenge CSVs and the ROC plots.
    #[arg(long, default_value = "hark-demo")]
    out: PathBuf,
    /// Training epochs per machine type for the learned systems (default: 5 for ae, otherwise
    /// the system's own default).
    #[arg(long, value_parser = super::values::positive_usize)]
    epochs: Option<usize>,
    /// Synthetic training clips per machine type (5 % of them from the target domain). The
    /// kNN detector gains from every normal clip: 40 gave 0.56-0.58, 100 0.60-0.63, 200 0.64
    /// (BENCHMARKS.md, "The main job").
    #[arg(long, default_value_t = 200, value_parser = super::values::positive_usize)]
    clips: usize,
    /// Synthetic test clips per machine type (a quarter per domain x label).
    #[arg(long, default_value_t = 100, value_parser = super::values::positive_usize)]
    test_clips: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Removes the generated dataset when the demo ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints the running stage every 10 s on stderr (a terminal or a log alike), so a long stage
/// never looks like a hang.
struct Heartbeat {
    stage: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(started: Instant) -> Self {
        let stage = Arc::new(Mutex::new(String::from("starting")));
        let stop = Arc::new(AtomicBool::new(false));
        let (stage_t, stop_t) = (Arc::clone(&stage), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut next = Duration::from_secs(10);
            while !stop_t.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if started.elapsed() >= next {
                    let stage = stage_t.lock().map(|s| s.clone()).unwrap_or_default();
                    eprintln!("[demo {:>4.0} s] {stage}", started.elapsed().as_secs_f64());
                    next += Duration::from_secs(10);
                }
            }
        });
        Self {
            stage,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, stage: impl Into<String>) {
        let stage = stage.into();
        eprintln!("demo: {stage}");
        if let Ok(mut s) = self.stage.lock() {
            *s = stage;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn system_name(system: System) -> String {
    system
        .to_possible_value()
        .map_or_else(|| format!("{system:?}"), |v| v.get_name().to_string())
}

/// Runs one `hark` subcommand in this process, as the command line would.
fn hark(argv: &[String]) -> hark::Result<()> {
    let cli = super::Cli::try_parse_from(std::iter::once("hark".to_string()).chain(argv.to_vec()))
        .map_err(|e| HarkError::invalid("demo", e.to_string()))?;
    super::run(cli)
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

pub fn run(args: &DemoArgs) -> hark::Result<()> {
    if let Some(data) = &args.data {
        hark::paths::check_apart("demo", ("--out", &args.out), &[("--data", data)])?;
    }
    let started = Instant::now();
    hark::profiler::run::start();
    let heartbeat = Heartbeat::start(started);
    let ctx = hark::Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?})",
        info.name, info.device_type, info.backend
    );
    drop(ctx);
    let scratch = TempDir(std::env::temp_dir().join(format!("hark-demo-{}", std::process::id())));
    let mut stages: Vec<(&str, f64)> = Vec::new();

    let root = match &args.data {
        Some(root) => root.clone(),
        None => {
            heartbeat.set("synthesising the dataset");
            let t = Instant::now();
            let root = synthesise(args, &scratch.0.join("data"))?;
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

    let system = system_name(args.system);
    // Trained into the scratch folder, so that a demo run again over its own `--out` starts
    // afresh (`hark train` refuses to start an ae run over an earlier one), then copied out.
    let models = scratch.0.join("models");
    let kept_models = args.out.join("models");
    let scores = args.out.join("scores");
    let plots = args.out.join("plots");
    train_and_score(args, &root, &models, &scores, &heartbeat, &mut stages)?;

    heartbeat.set("evaluating and plotting");
    let t = Instant::now();
    let evaluated = evaluate_score_files(&scores, &dataset)?;
    let mut written = 0;
    for section in &evaluated {
        written += plot_section(section, &plots)?.len();
    }
    stages.push(("evaluate + plots", t.elapsed().as_secs_f64()));
    copy_models(&models, &kept_models)?;
    stages.push(("total", started.elapsed().as_secs_f64()));
    drop(heartbeat);

    let sections: Vec<SectionMetrics> = evaluated.into_iter().map(|e| e.metrics).collect();
    let written_to = Outputs {
        scores: &scores,
        plots: &plots,
        plot_count: written,
        models: &kept_models,
    };
    print_summary(&system, &sections, &written_to, &stages)?;
    print_run_profile(hark::profiler::run::take()?);
    Ok(())
}

/// `hark train` and `hark score` of the demo's system on `root` (models into `models`, challenge
/// CSVs into `scores`), each timed into `stages`.
fn train_and_score(
    args: &DemoArgs,
    root: &Path,
    models: &Path,
    scores: &Path,
    heartbeat: &Heartbeat,
    stages: &mut Vec<(&str, f64)>,
) -> hark::Result<()> {
    let system = system_name(args.system);
    let command = |name: &str| -> Vec<String> {
        vec![
            name.to_string(),
            "--system".into(),
            system.clone(),
            "--data".into(),
            path_arg(root),
            "--models".into(),
            path_arg(models),
            "--seed".into(),
            args.seed.to_string(),
        ]
    };

    heartbeat.set(format!("training {system} on every machine type"));
    let t = Instant::now();
    let mut train = command("train");
    let epochs = args
        .epochs
        .or(matches!(args.system, System::Ae).then_some(5));
    if let Some(epochs) = epochs {
        train.extend(["--epochs".to_string(), epochs.to_string()]);
    }
    hark(&train)?;
    stages.push(("train", t.elapsed().as_secs_f64()));

    heartbeat.set(format!("scoring the test clips with {system}"));
    let t = Instant::now();
    let mut score = command("score");
    score.extend(["--out".to_string(), path_arg(scores)]);
    hark(&score)?;
    stages.push(("score", t.elapsed().as_secs_f64()));
    Ok(())
}

/// Where a demo run left its outputs.
struct Outputs<'a> {
    scores: &'a Path,
    plots: &'a Path,
    plot_count: usize,
    models: &'a Path,
}

/// The run's official score, where its outputs went and how long each stage took.
fn print_summary(
    system: &str,
    sections: &[SectionMetrics],
    out: &Outputs,
    stages: &[(&str, f64)],
) -> hark::Result<()> {
    println!();
    if !sections.is_empty() {
        println!(
            "{system}: official score {:.4} (harmonic mean of every section's source and \
             target AUC and pAUC; 0.5 is chance)",
            official_score(sections)?
        );
    }
    println!(
        "challenge CSVs in {}, {} ROC / histogram plots in {}, models in {}",
        out.scores.display(),
        out.plot_count,
        out.plots.display(),
        out.models.display()
    );
    for (stage, seconds) in stages {
        println!("time {stage:<18} {seconds:>8.1} s");
    }
    Ok(())
}

/// Generates the demo's synthetic dataset under `root`: every machine type, two sections for the
/// section classifiers (they learn by telling sections apart), one for the rest.
fn synthesise(args: &DemoArgs, root: &Path) -> hark::Result<PathBuf> {
    let config = SynthConfig {
        out: root.to_path_buf(),
        machines: MachineType::ALL.to_vec(),
        // The section classifiers learn by telling sections apart.
        sections: if matches!(args.system, System::Mobilenet | System::Ssc) {
            2
        } else {
            1
        },
        train_clips: args.clips,
        test_clips: args.test_clips,
        seed: args.seed,
        stems: false,
        ..SynthConfig::default()
    };
    let report = generate(&config)?;
    println!(
        "generated {} synthetic clips ({} machine types, {} section(s) each) in {}",
        report.clips,
        config.machines.len(),
        config.sections,
        root.display()
    );
    Ok(root.to_path_buf())
}

/// Copies the model files of the run into `to` (replacing those of an earlier demo), each
/// written atomically.
fn copy_models(from: &Path, to: &Path) -> hark::Result<()> {
    let io = |path: &Path, source| HarkError::Io {
        path: path.display().to_string(),
        source,
    };
    // `energy` has no model: nothing to copy.
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io(from, e))?.path();
        if let Some(name) = path.file_name().filter(|_| path.is_file()) {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            hark::io::atomic::write_bytes_atomically(&to.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// The GPU time of the whole run per kernel, slowest first.
pub(crate) fn print_run_profile(profile: Option<RunProfile>) {
    let Some(profile) = profile.filter(|p| !p.kernels.is_empty()) else {
        println!("no per-kernel GPU time: the adapter has no timestamp queries");
        return;
    };
    let total = profile.total_s();
    println!(
        "GPU time per kernel over the whole run ({:.1} s in {} dispatches; GPU timestamps):",
        total,
        profile.kernels.iter().map(|k| k.1).sum::<usize>()
    );
    for (kernel, calls, seconds) in profile.kernels.iter().take(12) {
        println!(
            "  {kernel:<32} {calls:>8} calls {seconds:>9.3} s {:>5.1} %",
            100.0 * seconds / total.max(f64::MIN_POSITIVE)
        );
    }
    if profile.kernels.len() > 12 {
        let rest: f64 = profile.kernels[12..].iter().map(|k| k.2).sum();
        println!(
            "  {} other kernels{:>27.3} s",
            profile.kernels.len() - 12,
            rest
        );
    }
    if profile.untimed_dispatches > 0 {
        println!(
            "  ({} dispatches ran untimed: recordings past 2048 dispatches)",
            profile.untimed_dispatches
        );
    }
}
