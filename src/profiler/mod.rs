//! Per-kernel GPU time. [`profile`] runs a recording once untimed (pipeline compilation and
//! first-touch costs are excluded), then `iterations` times with every dispatch timed by GPU
//! timestamps, or by the wall clock of a lone submit when the adapter has no timestamp queries.
//! [`run`] times a whole run instead (every kernel a context runs while it is on).

pub mod run;

use std::collections::BTreeMap;

use crate::context::Context;
use crate::error::Result;
use crate::runtime::Recorder;

/// How the times were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingMethod {
    /// GPU timestamp queries around each dispatch.
    Timestamps,
    /// Wall clock around a submit-and-wait of each dispatch (includes submit overhead).
    WallClock,
}

/// Times of one kernel over all timed iterations.
#[derive(Clone, Debug)]
pub struct KernelTime {
    pub kernel: &'static str,
    /// Dispatches of this kernel per iteration.
    pub calls_per_iteration: usize,
    /// Mean seconds per iteration (all its dispatches together).
    pub mean_s: f64,
    /// Fastest iteration's seconds.
    pub min_s: f64,
}

/// The result of [`profile`].
#[derive(Clone, Debug)]
pub struct Profile {
    pub method: TimingMethod,
    pub iterations: usize,
    /// One row per kernel, in order of first dispatch.
    pub kernels: Vec<KernelTime>,
}

impl Profile {
    /// Mean seconds per iteration over all kernels.
    pub fn mean_total_s(&self) -> f64 {
        self.kernels.iter().map(|k| k.mean_s).sum()
    }

    /// Fastest iteration's total (sum of per-kernel minima: a lower bound).
    pub fn min_total_s(&self) -> f64 {
        self.kernels.iter().map(|k| k.min_s).sum()
    }
}

/// Profiles `record` (which records the same work on every call). `wall_clock` forces the
/// fallback even where timestamps exist.
pub fn profile(
    ctx: &Context,
    iterations: usize,
    wall_clock: bool,
    mut record: impl FnMut(&mut Recorder) -> Result<()>,
) -> Result<Profile> {
    let mut warmup = Recorder::new(ctx);
    record(&mut warmup)?;
    warmup.submit_and_wait()?;

    let mut order: Vec<&'static str> = Vec::new();
    let mut per_iteration: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut calls: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut method = TimingMethod::WallClock;
    for iteration in 0..iterations.max(1) {
        let mut rec = Recorder::profiling(ctx, wall_clock);
        record(&mut rec)?;
        let timings = rec.submit_profiled()?;
        if ctx.has_timestamps() && !wall_clock {
            method = TimingMethod::Timestamps;
        }
        let mut sums: BTreeMap<&'static str, f64> = BTreeMap::new();
        for t in &timings {
            if !order.contains(&t.kernel) {
                order.push(t.kernel);
            }
            *sums.entry(t.kernel).or_default() += t.seconds;
            if iteration == 0 {
                *calls.entry(t.kernel).or_default() += 1;
            }
        }
        for (kernel, seconds) in sums {
            per_iteration.entry(kernel).or_default().push(seconds);
        }
    }
    let kernels = order
        .into_iter()
        .map(|kernel| {
            let times = per_iteration.get(kernel).cloned().unwrap_or_default();
            let mean_s = times.iter().sum::<f64>() / times.len().max(1) as f64;
            let min_s = times.iter().copied().fold(f64::INFINITY, f64::min);
            KernelTime {
                kernel,
                calls_per_iteration: calls.get(kernel).copied().unwrap_or(0),
                mean_s,
                min_s: if min_s.is_finite() { min_s } else { 0.0 },
            }
        })
        .collect();
    Ok(Profile {
        method,
        iterations: iterations.max(1),
        kernels,
    })
}
