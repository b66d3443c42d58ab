//! The monitoring benchmark: N synthetic streams (one clip looped, each stream from its own
//! offset) replayed as fast as the monitor takes them, one hop per stream per tick. It measures
//! audio seconds taken per wall second, whether N streams keep up with real time (a tick of N
//! hops scored within one hop of wall time), and the latency from a window's last sample to its
//! decision (in this replay: the tick's scoring time, what a live monitor that keeps up sees).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Result;
use crate::monitor::engine::{Monitor, MonitorConfig};
use crate::monitor::events::Event;
use crate::monitor::runner::{run, EventSink, RunOptions};
use crate::monitor::scoring::WindowScorer;
use crate::monitor::source::Source;
use crate::monitor::sources::LoopSource;

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
    ticks: Vec<std::time::Instant>,
    gaps: u64,
}

impl EventSink for Latencies {
    fn emit(&mut self, events: &[Event]) -> Result<()> {
        let before = self.values.len();
        for e in events {
            match e {
                Event::Score { latency_s, .. } => self.values.push(*latency_s),
                Event::Gap { .. } => self.gaps += 1,
                _ => {}
            }
        }
        if self.values.len() > before {
            self.ticks.push(std::time::Instant::now());
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

/// Replays `streams` loops of `clip` (each `seconds` long, offsets spread over the clip, with
/// `gaps` injected) through a monitor built from `scorer` and `config`; returns the measurement
/// and the scorer.
pub fn bench_streams(
    scorer: WindowScorer,
    config: MonitorConfig,
    clip: Arc<[f32]>,
    streams: usize,
    seconds: f64,
    gaps: Option<InjectedGaps>,
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
            let source = match gaps {
                Some(g) => source.with_gaps(
                    to_samples(g.every_s),
                    to_samples(g.gap_s),
                    Arc::clone(&injected),
                ),
                None => source,
            };
            (Box::new(source) as Box<dyn Source>, 0)
        })
        .collect();
    let mut latencies = Latencies::default();
    let summary = run(
        &mut monitor,
        sources,
        &mut latencies,
        &RunOptions::default(),
    )?;
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
    };
    Ok((measured, monitor.into_scorer()))
}
