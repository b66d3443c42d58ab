//! `hark bench monitor --streams N --system S`: N synthetic streams replayed as fast as the
//! monitor takes them: audio seconds scored per wall second, the largest stream count (of 1, 2,
//! 4, ... N) that keeps up with real time, the p50/p99 latency from a window's last sample to its
//! decision, and the GPU time per kernel of the N-stream run. The measuring is the library's
//! (`hark::monitor::bench`); this file sets up the model and prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use hark::audio::dataset::{read_dataset, MachineDataset, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::{read_wav_samples, AnomalyScorer, EnergyScorer};
use hark::models::autoencoder::{AutoencoderConfig, AutoencoderSystem};
use hark::models::stats_knn::{StatsKnnConfig, StatsKnnSystem};
use hark::monitor::bench::{
    bench_streams, resident_mib, BenchRun, InjectedFaults, InjectedGaps, InjectedStall,
};
use hark::monitor::{Monitor, MonitorConfig, ScoringModel, WindowScorer};
use hark::{Context, HarkError};

use super::train::System;

#[derive(Debug, Args)]
pub struct BenchMonitorArgs {
    /// Streams monitored at once (the sweep also runs 1, 2, 4, ... below it).
    #[arg(long, default_value_t = 64, value_parser = super::values::positive_usize)]
    streams: usize,
    /// ae, stats-knn and energy are fitted here on synthetic clips; any other system needs
    /// --models (and the clips it was trained on, --data or --train-dir).
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    /// A model folder to load instead of fitting one here.
    #[arg(long)]
    models: Option<PathBuf>,
    /// With --models: the training data (as `hark monitor` takes it).
    #[arg(long, requires = "models")]
    data: Option<PathBuf>,
    #[arg(long, requires = "models")]
    train_dir: Option<PathBuf>,
    #[arg(long)]
    machine: Option<String>,
    /// Synthetic clip length in seconds (training clips and the streams' audio).
    #[arg(long, default_value_t = 10.0, value_parser = super::values::positive_f64)]
    clip_seconds: f64,
    /// Synthetic training clips the model is fitted on.
    #[arg(long, default_value_t = 16, value_parser = super::values::positive_usize)]
    train_clips: usize,
    /// ae: training epochs (the bench times scoring; the model's quality does not matter).
    #[arg(long, default_value_t = 2, value_parser = super::values::positive_usize)]
    epochs: usize,
    /// Window in seconds (default: the clip length).
    #[arg(long, value_parser = super::values::positive_f64)]
    window: Option<f64>,
    #[arg(long, default_value_t = 1.0, value_parser = super::values::positive_f64)]
    hop: f64,
    /// Audio seconds per stream in each run (default: one window and ten hops).
    #[arg(long, value_parser = super::values::positive_f64)]
    seconds: Option<f64>,
    #[arg(long, default_value_t = 256, value_parser = super::values::positive_usize)]
    max_batch: usize,
    /// auto: ae and flow score only the vectors new since the last window (the hop rounded to
    /// whole 512-sample STFT hops); off: every window scored whole.
    #[arg(long, value_enum, default_value_t = super::monitor::IncrementalMode::Auto)]
    incremental: super::monitor::IncrementalMode,
    /// Only the N-stream run, no sweep below it.
    #[arg(long)]
    no_sweep: bool,
    /// Leave the N-stream run's dispatches untimed (no per-kernel GPU times).
    #[arg(long)]
    no_profile: bool,
    /// Inject a gap into every stream after every this many seconds of audio (the N-stream
    /// run reports gaps injected and reported, and the resident memory before and after).
    #[arg(long, value_parser = super::values::positive_f64)]
    gap_every: Option<f64>,
    /// Seconds of audio lost in each injected gap.
    #[arg(long, default_value_t = 0.5, value_parser = super::values::positive_f64)]
    gap: f64,
    /// Make the first stream of the N-stream run stall (deliver nothing, then go on) once this
    /// many seconds of its audio have come through; the run reports the stall and the resumption.
    #[arg(long, value_parser = super::values::positive_f64)]
    stall_after: Option<f64>,
    /// Wall seconds the stalled stream stays silent (reported as stalled after half of them).
    #[arg(long, default_value_t = 10.0, value_parser = super::values::positive_f64)]
    stall_for: f64,
}

/// A temporary folder removed on drop (the synthetic data).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A synthetic fan section: its clips, and the test clips joined (the audio streams loop over).
fn synthetic_data(
    args: &BenchMonitorArgs,
    dir: &Path,
) -> hark::Result<(MachineDataset, Arc<[f32]>)> {
    generate(&SynthConfig {
        out: dir.to_path_buf(),
        machines: vec![MachineType::Fan],
        sections: 1,
        train_clips: args.train_clips,
        test_clips: 4,
        clip_seconds: args.clip_seconds as f32,
        stems: false,
        ..SynthConfig::default()
    })?;
    let machine = read_dataset(dir)?
        .machines
        .into_iter()
        .next()
        .ok_or_else(|| {
            HarkError::invalid("hark bench monitor", "the synthetic set has no machine")
        })?;
    let mut audio = Vec::new();
    for clip in machine.split(Split::Test) {
        audio.extend(read_wav_samples(&clip.path)?);
    }
    Ok((machine, audio.into()))
}

/// ae, stats-knn or energy fitted on the synthetic training clips.
fn fitted_here(
    ctx: &Context,
    args: &BenchMonitorArgs,
    machine: &MachineDataset,
) -> hark::Result<WindowScorer> {
    let features = super::train::features();
    let scorer: Box<dyn AnomalyScorer> = match args.system {
        System::Ae => {
            let system = AutoencoderSystem::new(
                ctx,
                AutoencoderConfig {
                    epochs: args.epochs,
                    features,
                    ..AutoencoderConfig::default()
                },
            )?;
            return WindowScorer::fit_model(
                ScoringModel::VectorMean(Box::new(system)),
                machine,
                features.sample_rate,
                0.9,
            );
        }
        System::StatsKnn => Box::new(StatsKnnSystem::new(
            ctx,
            StatsKnnConfig::with_defaults(features),
        )?),
        System::Energy => Box::new(EnergyScorer::default()),
        other => {
            return Err(HarkError::invalid(
                "hark bench monitor",
                format!(
                    "--system {other:?} is not fitted by the bench: give --models with --data \
                     or --train-dir (or use ae, stats-knn, energy)"
                ),
            ))
        }
    };
    WindowScorer::fit(scorer, machine, features.sample_rate, 0.9)
}

fn print_run(run: &BenchRun) {
    println!(
        "{:>7} {:>8} {:>10.1} {:>8.2}x {:>9.1} {:>9.1} {:>9.1}",
        run.streams,
        run.windows,
        run.audio_per_wall(),
        run.realtime_factor(),
        run.tick_s * 1e3,
        run.latency_p50_s * 1e3,
        run.latency_p99_s * 1e3
    );
}

pub fn run(args: &BenchMonitorArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("hark-bench-monitor-{}", std::process::id())));
    let (machine, clip) = synthetic_data(args, &scratch.0)?;
    let mut scorer = match &args.models {
        Some(models) => super::monitor_model::window_scorer(
            &ctx,
            &super::monitor_model::ModelArgs {
                system: args.system,
                models: models.clone(),
                data: args.data.clone(),
                train_dir: args.train_dir.clone(),
                machine: args.machine.clone(),
                percentile: 0.9,
            },
        )?,
        None => fitted_here(&ctx, args, &machine)?,
    };
    let rate = scorer.sample_rate();
    let to_samples = |s: f64| (s * f64::from(rate)).round().max(1.0) as usize;
    let config = MonitorConfig {
        window: args.window.map(to_samples),
        hop: to_samples(args.hop),
        max_batch: args.max_batch,
        incremental: args.incremental.enabled(),
        ..MonitorConfig::default()
    };
    // A monitor built only to say how it scores (the runs build their own).
    let probe = Monitor::new(scorer, config)?;
    let note = super::monitor::scoring_note(&probe);
    let hop_s = probe.geometry().seconds(probe.geometry().hop as u64);
    scorer = probe.into_scorer();
    let window_s = args.window.unwrap_or(args.clip_seconds);
    let seconds = args.seconds.unwrap_or(window_s + 10.0 * hop_s);
    println!(
        "{} on {}: {window_s} s windows every {hop_s} s, {note}, {seconds} s of audio per stream",
        scorer.system(),
        ctx.adapter_info().name,
    );
    println!(
        "{:>7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "streams", "windows", "audio s/s", "realtime", "tick ms", "p50 ms", "p99 ms"
    );
    let mut counts: Vec<usize> = Vec::new();
    if !args.no_sweep {
        counts.extend((0..).map(|p| 1usize << p).take_while(|&n| n < args.streams));
    }
    counts.push(args.streams);
    let mut keeping_up = None;
    let mut last = None;
    for &n in &counts {
        let profiled = n == args.streams;
        let memory_before = resident_mib();
        if profiled && !args.no_profile {
            hark::profiler::run::start();
        }
        let faults = if profiled {
            InjectedFaults {
                gaps: args.gap_every.map(|every_s| InjectedGaps {
                    every_s,
                    gap_s: args.gap,
                }),
                stall: args.stall_after.map(|after_s| InjectedStall {
                    after_s,
                    pause_s: args.stall_for,
                }),
            }
        } else {
            InjectedFaults::default()
        };
        let (measured, back) =
            bench_streams(scorer, config, Arc::clone(&clip), n, seconds, faults)?;
        scorer = back;
        print_run(&measured);
        if profiled {
            print_faults(&measured, memory_before);
            println!(
                "        pipelines compiled {}, bind groups cached {}, parameter chunks {}",
                ctx.pipeline_count(),
                ctx.cached_bind_groups(),
                ctx.param_chunks()
            );
        }
        if measured.realtime_factor() >= 1.0 {
            keeping_up = Some(n);
        }
        last = Some(measured);
    }
    match keeping_up {
        Some(n) if n == args.streams => println!(
            "all {n} streams keep up with real time (try a larger --streams for the limit)"
        ),
        Some(n) => println!("largest stream count that keeps up with real time: {n}"),
        None => println!("no stream count tried keeps up with real time"),
    }
    if let Some(run) = &last {
        println!(
            "{} streams: {:.1} audio s per wall s, latency p50 {:.0} ms, p99 {:.0} ms",
            run.streams,
            run.audio_per_wall(),
            run.latency_p50_s * 1e3,
            run.latency_p99_s * 1e3
        );
    }
    if args.no_profile {
        println!("GPU time per kernel: not taken (--no-profile)");
    } else {
        super::demo::print_run_profile(hark::profiler::run::take()?);
    }
    Ok(())
}

/// The fault run's counts and the resident memory over it.
fn print_faults(run: &BenchRun, memory_before: Option<f64>) {
    println!(
        "        gaps injected {}, reported {}; stalls injected {}, reported {}, resumed {}",
        run.gaps_injected,
        run.gaps_reported,
        run.stalls_injected,
        run.stalls_reported,
        run.resumes_reported
    );
    let mib = |m: Option<f64>| m.map_or("?".into(), |m| format!("{m:.0}"));
    match run.memory {
        Some(m) => println!(
            "        resident memory {} MiB before the run; after 10/40/70/100 % of its ticks \
             {:.0}/{:.0}/{:.0}/{:.0} MiB, peak {:.0} from 10 % on (growth {:+.1} MiB)",
            mib(memory_before),
            m.quarters_mib[0],
            m.quarters_mib[1],
            m.quarters_mib[2],
            m.quarters_mib[3],
            m.peak_mib,
            m.growth_mib()
        ),
        None => println!(
            "        resident memory {} MiB before the run, {} after",
            mib(memory_before),
            mib(resident_mib())
        ),
    }
}
