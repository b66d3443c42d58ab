//! The monitoring benchmark: N synthetic streams (one clip looped, each stream from its own
//! offset) replayed as fast as the monitor takes them, one hop per stream per tick. It measures
//! audio seconds taken per wall second, whether N streams keep up with real time (a tick of N
//! hops scored within one hop of wall time), and the latency from a window's last sample to its
//! decision (in this replay: the tick's scoring time, what a live monitor that keeps up sees).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::monitor::engine::{Monitor, MonitorConfig};
use crate::monitor::events::Event;
use crate::monitor::runner::{run, EventSink, RunOptions};
use crate::monitor::scoring::WindowScorer;
use crate::monitor::source::Source;
use crate::monitor::sources::{LoopSource, StallingSource};

/// What one benchmark run measured.
#[derive(Clone, Debug)]
pub struct BenchRun {
    pub streams: usize,
    pub windows: u64,
    pub ticks: u64,
    /// Audio seconds taken from all streams.
    pub audio_s: f64,
    pub wall_s: f64,
    pub latency_p50_s: f64,
    pub latency_p99_s: f64,
    /// Mean wall seconds between consecutive scoring ticks after the first (which pays for
    /// first-use costs): the time one hop of every stream takes.
    pub tick_s: f64,
    pub hop_s: f64,
    /// Gaps the sources lost audio in, and gaps the monitor reported.
    pub gaps_injected: u64,
    pub gaps_reported: u64,
    /// Stalls injected, and `stalled` / `resumed` events the monitor reported.
    pub stalls_injected: u64,
    pub stalls_reported: u64,
    pub resumes_reported: u64,
    /// The process's resident memory over the run (Linux; `None` elsewhere).
    pub memory: Option<MemoryTrace>,
}

/// Resident memory (MiB) sampled after every scoring tick.
#[derive(Clone, Copy, Debug)]
pub struct MemoryTrace {
    /// After 10, 40, 70 and 100 % of the ticks: the shape of any growth (a plateau or a ramp).
    /// The first is taken once buffers, caches and pipelines are in place.
    pub quarters_mib: [f64; 4],
    /// The largest sample from 10 % of the ticks on.
    pub peak_mib: f64,
}

impl MemoryTrace {
    fn from_samples(samples: &[f64]) -> Option<Self> {
        let from_warm = samples.get(samples.len() / 10..)?;
        let at = |percent: usize| samples[(samples.len() * percent / 100).min(samples.len() - 1)];
        (!from_warm.is_empty()).then(|| Self {
            quarters_mib: [at(10), at(40), at(70), at(100)],
            peak_mib: from_warm.iter().copied().fold(f64::MIN, f64::max),
        })
    }

    /// After the first tenth of the ticks.
    pub fn warm_mib(&self) -> f64 {
        self.quarters_mib[0]
    }

    /// After the last tick.
    pub fn end_mib(&self) -> f64 {
        self.quarters_mib[3]
    }

    /// Growth from the warm sample to the peak, in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.peak_mib - self.warm_mib()
    }
}

/// This process's resident memory in MiB (Linux's `/proc/self/status`; `None` elsewhere).
pub fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

impl BenchRun {
    /// Audio seconds per wall second, all streams together, in the steady state (one hop of
    /// every stream per tick).
    pub fn audio_per_wall(&self) -> f64 {
        if self.tick_s.is_finite() && self.tick_s > 0.0 {
            self.streams as f64 * self.hop_s / self.tick_s
        } else {
            self.audio_s / self.wall_s.max(f64::MIN_POSITIVE)
        }
    }

    /// How many times faster than real time each stream ran (>= 1: keeps up).
    pub fn realtime_factor(&self) -> f64 {
        self.audio_per_wall() / self.streams.max(1) as f64
    }
}

#[derive(Default)]
struct Latencies {
    values: Vec<f64>,
    /// When each round that scored something ended.
    ticks: Vec<Instant>,
    /// Resident memory after each of those rounds.
    memory: Vec<f64>,
    gaps: u64,
    stalls: u64,
    resumes: u64,
}

impl EventSink for Latencies {
    fn emit(&mut self, events: &[Event]) -> Result<()> {
        let before = self.values.len();
        for e in events {
            match e {
                Event::Score { latency_s, .. } => self.values.push(*latency_s),
                Event::Gap { .. } => self.gaps += 1,
                Event::Stalled { .. } => self.stalls += 1,
                Event::Resumed { .. } => self.resumes += 1,
                _ => {}
            }
        }
        if self.values.len() > before {
            self.ticks.push(Instant::now());
            self.memory.extend(resident_mib());
        }
        Ok(())
    }
}

/// The `q` quantile (nearest rank) of `values`.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Audio lost at regular intervals in every stream.
#[derive(Clone, Copy, Debug)]
pub struct InjectedGaps {
    /// Seconds of audio between gaps.
    pub every_s: f64,
    /// Seconds lost in each gap.
    pub gap_s: f64,
}

/// The first stream delivers nothing for `pause_s` wall seconds once `after_s` seconds of its
/// audio have come through, then goes on without losing audio; the run reports a source as
/// stalled after half the pause.
#[derive(Clone, Copy, Debug)]
pub struct InjectedStall {
    pub after_s: f64,
    pub pause_s: f64,
}

/// Faults injected into the benchmark's streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct InjectedFaults {
    pub gaps: Option<InjectedGaps>,
    pub stall: Option<InjectedStall>,
}

/// Replays `streams` loops of `clip` (each `seconds` long, offsets spread over the clip, with
/// `faults` injected) through a monitor built from `scorer` and `config`; returns the
/// measurement and the scorer.
pub fn bench_streams(
    scorer: WindowScorer,
    config: MonitorConfig,
    clip: Arc<[f32]>,
    streams: usize,
    seconds: f64,
    faults: InjectedFaults,
) -> Result<(BenchRun, WindowScorer)> {
    let rate = scorer.sample_rate();
    let mut monitor = Monitor::new(scorer, config)?;
    // The monitor's hop: rounded to whole STFT hops when it scores incrementally.
    let hop = monitor.geometry().hop;
    let total = (seconds * f64::from(rate)) as u64;
    let spread = clip.len() / streams.max(1);
    let injected = Arc::new(AtomicU64::new(0));
    let to_samples = |s: f64| (s * f64::from(rate)) as u64;
    let sources: Vec<(Box<dyn Source>, u32)> = (0..streams)
        .map(|i| {
            let source = LoopSource::new(
                &format!("synthetic-{i:04}"),
                rate,
                Arc::clone(&clip),
                i * spread,
                hop,
                total,
            );
            let source = match faults.gaps {
                Some(g) => source.with_gaps(
                    to_samples(g.every_s),
                    to_samples(g.gap_s),
                    Arc::clone(&injected),
                ),
                None => source,
            };
            match faults.stall {
                Some(stall) if i == 0 => Box::new(StallingSource::new(
                    source,
                    to_samples(stall.after_s),
                    Duration::from_secs_f64(stall.pause_s),
                )) as Box<dyn Source>,
                _ => Box::new(source) as Box<dyn Source>,
            }
        })
        .map(|source| (source, 0))
        .collect();
    let mut latencies = Latencies::default();
    let mut options = RunOptions::default();
    if let Some(stall) = faults.stall {
        options.stall_timeout = Duration::from_secs_f64(stall.pause_s / 2.0);
    }
    let summary = run(&mut monitor, sources, &mut latencies, &options)?;
    let measured = BenchRun {
        streams,
        windows: summary.windows,
        ticks: summary.ticks,
        audio_s: summary.samples as f64 / f64::from(rate),
        wall_s: summary.wall_s,
        latency_p50_s: quantile(&latencies.values, 0.5),
        latency_p99_s: quantile(&latencies.values, 0.99),
        tick_s: match latencies.ticks.as_slice() {
            [first, .., last] if latencies.ticks.len() > 2 => {
                last.duration_since(*first).as_secs_f64() / (latencies.ticks.len() - 1) as f64
            }
            _ => f64::NAN,
        },
        hop_s: hop as f64 / f64::from(rate),
        gaps_injected: injected.load(Ordering::Relaxed),
        gaps_reported: latencies.gaps,
        stalls_injected: u64::from(faults.stall.is_some() && streams > 0),
        stalls_reported: latencies.stalls,
        resumes_reported: latencies.resumes,
        memory: MemoryTrace::from_samples(&latencies.memory),
    };
    Ok((measured, monitor.into_scorer()))
}
