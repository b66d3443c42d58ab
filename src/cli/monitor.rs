//! `hark monitor`: score live audio streams with a saved model. The model loads as in `hark
//! score` (same `--system`, `--models`, and the training clips, whose scores set the threshold);
//! the streams come from replayed WAV files, watched folders, raw PCM on stdin or (feature
//! `audio-input`) an input device; events go out as JSON lines. The library does the work
//! (`hark::monitor`); this file parses and wires.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use hark::monitor::sources::{FolderWatch, Pace, PcmEncoding, PcmSource, WavReplay};
use hark::monitor::{
    run, AudioFormat, DecisionRule, Monitor, MonitorConfig, Outputs, RunOptions, Source,
};
use hark::{Context, HarkError};

use super::monitor_model::{window_scorer, ModelArgs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplaySpeed {
    Realtime,
    Fast,
}

/// Whether windows are scored incrementally where the system allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IncrementalMode {
    /// `ae` and `flow`: only new vectors and each window's edges (the hop is rounded to whole
    /// STFT hops, 512 samples); other systems: whole windows.
    Auto,
    /// Every window scored whole (the hop as given).
    Off,
}

impl IncrementalMode {
    pub fn enabled(self) -> bool {
        self == Self::Auto
    }
}

/// The monitor's startup line about how windows are scored.
pub(crate) fn scoring_note(monitor: &Monitor) -> String {
    let g = monitor.geometry();
    match monitor.incremental() {
        Some(l) if g.hop != monitor.requested_hop() => format!(
            "scored incrementally (hop rounded from {} s to {} s, a whole number of {}-sample \
             STFT hops)",
            g.seconds(monitor.requested_hop() as u64),
            g.seconds(g.hop as u64),
            l.stft_hop
        ),
        Some(_) => "scored incrementally".to_string(),
        None => "each window scored whole".to_string(),
    }
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A stream of WAV files: NAME=FILE (repeat with the same NAME to play several back to
    /// back); a bare FILE is a stream named after it.
    #[arg(long = "wav", value_name = "NAME=FILE")]
    wav: Vec<String>,
    /// How WAV streams are replayed.
    #[arg(long, value_enum, default_value_t = ReplaySpeed::Realtime)]
    replay: ReplaySpeed,
    /// A folder a recorder writes WAV clips into: NAME=DIR; new complete files are played in
    /// name order.
    #[arg(long = "watch", value_name = "NAME=DIR")]
    watch: Vec<String>,
    /// Seconds a watched file's size must stay the same before it is read.
    #[arg(long, default_value_t = 1.0, value_parser = super::values::non_negative_f64)]
    settle: f64,
    /// Raw PCM on stdin: s16le or f32le (interleaved; the model needs mono).
    #[arg(long, value_name = "ENCODING")]
    stdin: Option<String>,
    /// Sample rate of the stdin stream.
    #[arg(long, default_value_t = 16_000, value_parser = super::values::sample_rate)]
    rate: u32,
    /// Channels of the stdin stream.
    #[arg(long, default_value_t = 1)]
    channels: u16,
    /// Name of the stdin stream.
    #[arg(long, default_value = "stdin")]
    stdin_name: String,
    /// A live input device: NAME or NAME=DEVICE (a substring of the device's name; without it
    /// the default input). Needs a build with `--features audio-input`.
    #[arg(long, value_name = "NAME[=DEVICE]")]
    device: Vec<String>,
    /// The section every stream belongs to.
    #[arg(long, default_value_t = 0)]
    section: u32,
    /// Window length in seconds (default: the training clips' length).
    #[arg(long, value_parser = super::values::positive_f64)]
    window: Option<f64>,
    /// Seconds between windows.
    #[arg(long, default_value_t = 1.0, value_parser = super::values::positive_f64)]
    hop: f64,
    /// Alert once K of the last N windows exceed the threshold.
    #[arg(long, default_value_t = 2, value_parser = super::values::positive_usize)]
    alert_k: usize,
    #[arg(long, default_value_t = 3, value_parser = super::values::positive_usize)]
    alert_n: usize,
    /// All-clear after M windows in a row below the threshold.
    #[arg(long, default_value_t = 3, value_parser = super::values::positive_usize)]
    clear_m: usize,
    /// Windows that may wait per stream; beyond it the oldest are dropped and counted.
    #[arg(long, default_value_t = 4, value_parser = super::values::positive_usize)]
    max_backlog: usize,
    /// Most windows scored in one batch.
    #[arg(long, default_value_t = 256, value_parser = super::values::positive_usize)]
    max_batch: usize,
    /// auto: ae and flow compute only the vectors new since the last window (the hop is rounded
    /// to whole 512-sample STFT hops); off: every window scored whole.
    #[arg(long, value_enum, default_value_t = IncrementalMode::Auto)]
    incremental: IncrementalMode,
    /// JSON lines to this file (appended) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// One CSV per stream (`<NAME>.csv`: time_s,score,threshold,state), appended.
    #[arg(long)]
    csv_dir: Option<PathBuf>,
    /// Decision state file: resumed from when present, rewritten atomically after every tick.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Seconds without audio before a source is reported as stalled (a watched folder is
    /// silent between files: give it more than a clip's length).
    #[arg(long, default_value_t = 30.0, value_parser = super::values::positive_f64)]
    stall_timeout: f64,
}

fn split_named<'a>(flag: &str, text: &'a str) -> hark::Result<(String, &'a str)> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Ok((name.to_string(), value))
        }
        Some(_) => Err(HarkError::invalid(
            "hark monitor",
            format!("{flag} {text}: expected NAME=VALUE"),
        )),
        None => {
            let stem = Path::new(text)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((stem, text))
        }
    }
}

fn seconds_to_samples(seconds: f64, rate: u32) -> usize {
    (seconds * f64::from(rate)).round().max(1.0) as usize
}

fn sources(args: &MonitorArgs, rate: u32, hop: usize) -> hark::Result<Vec<Box<dyn Source>>> {
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    let pace = match args.replay {
        ReplaySpeed::Realtime => Pace::Realtime,
        ReplaySpeed::Fast => Pace::Fast,
    };
    let mut wav: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for spec in &args.wav {
        let (name, file) = split_named("--wav", spec)?;
        match wav.iter_mut().find(|(n, _)| *n == name) {
            Some((_, files)) => files.push(PathBuf::from(file)),
            None => wav.push((name, vec![PathBuf::from(file)])),
        }
    }
    for (name, files) in wav {
        out.push(Box::new(WavReplay::new(&name, files, pace, hop)?));
    }
    let mono = AudioFormat {
        sample_rate: rate,
        channels: 1,
    };
    for spec in &args.watch {
        let (name, dir) = split_named("--watch", spec)?;
        let settle = Duration::from_secs_f64(args.settle);
        out.push(Box::new(FolderWatch::new(
            &name,
            Path::new(dir),
            mono,
            settle,
            hop,
        )?));
    }
    if let Some(encoding) = &args.stdin {
        let format = AudioFormat {
            sample_rate: args.rate,
            channels: args.channels,
        };
        // A minute of audio may wait before the oldest is dropped (and reported as a gap).
        let capacity = 60 * args.rate as usize * usize::from(args.channels.max(1));
        out.push(Box::new(PcmSource::spawn(
            &args.stdin_name,
            Box::new(std::io::stdin()),
            PcmEncoding::parse(encoding)?,
            format,
            capacity,
            hop,
        )));
    }
    for spec in &args.device {
        out.push(device_source(spec, rate, hop)?);
    }
    if out.is_empty() {
        return Err(HarkError::invalid(
            "hark monitor",
            "no streams: give --wav, --watch, --stdin or --device",
        ));
    }
    Ok(out)
}

#[cfg(feature = "audio-input")]
fn device_source(spec: &str, rate: u32, hop: usize) -> hark::Result<Box<dyn Source>> {
    let (name, device) = match spec.split_once('=') {
        Some((name, device)) => (name, Some(device)),
        None => (spec, None),
    };
    let capacity = 60 * rate as usize;
    Ok(Box::new(
        hark::monitor::sources::device::DeviceSource::open(name, device, rate, capacity, hop)?,
    ))
}

#[cfg(not(feature = "audio-input"))]
fn device_source(spec: &str, _rate: u32, _hop: usize) -> hark::Result<Box<dyn Source>> {
    Err(HarkError::invalid(
        "hark monitor",
        format!(
            "--device {spec}: this hark was built without live audio input; rebuild it with \
             `cargo build --release --features audio-input` (on Linux this needs the ALSA \
             headers: `apt-get install libasound2-dev`)"
        ),
    ))
}

pub fn run_monitor(args: &MonitorArgs) -> hark::Result<()> {
    let rule = DecisionRule {
        alert_k: args.alert_k,
        alert_n: args.alert_n,
        clear_m: args.clear_m,
    };
    rule.check()?;
    let ctx = Context::new()?;
    let scorer = window_scorer(&ctx, &args.model)?;
    let rate = scorer.sample_rate();
    let hop = seconds_to_samples(args.hop, rate);
    let config = MonitorConfig {
        window: args.window.map(|w| seconds_to_samples(w, rate)),
        hop,
        max_backlog: args.max_backlog,
        max_batch: args.max_batch,
        rule,
        incremental: args.incremental.enabled(),
    };
    let thresholds = scorer.thresholds().clone();
    let mut monitor = Monitor::new(scorer, config)?;
    // The hop the monitor uses (rounded to whole STFT hops when scoring incrementally).
    let hop = monitor.geometry().hop;
    let streams = sources(args, rate, hop)?;
    let (json, json_name): (Box<dyn std::io::Write>, String) = match &args.out {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| HarkError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
            (Box::new(file), path.display().to_string())
        }
        None => (Box::new(std::io::stdout()), "stdout".to_string()),
    };
    let mut outputs = Outputs::new(json, &json_name, args.csv_dir.clone())?;
    let g = *monitor.geometry();
    eprintln!(
        "monitoring {} stream(s), {} s windows every {} s, {}, thresholds {:?}; at most \
         {:.1} MiB of audio per stream",
        streams.len(),
        g.seconds(g.window as u64),
        g.seconds(g.hop as u64),
        scoring_note(&monitor),
        thresholds,
        g.bytes_per_stream() as f64 / (1 << 20) as f64
    );
    let options = RunOptions {
        state_file: args.state.clone(),
        stall_timeout: Duration::from_secs_f64(args.stall_timeout),
        ..RunOptions::default()
    };
    let sections = streams.into_iter().map(|s| (s, args.section)).collect();
    let summary = run(&mut monitor, sections, &mut outputs, &options)?;
    eprintln!(
        "{} windows scored in {} ticks, {:.1} s of audio in {:.1} s",
        summary.windows,
        summary.ticks,
        summary.samples as f64 / f64::from(rate),
        summary.wall_s
    );
    Ok(())
}
