//! Whole-run profiling: the GPU time of every kernel the process runs between [`start`] and
//! [`take`] (a training run, a demo; every context), not one recording repeated as
//! [`super::profile`] does. Every recorder made by [`crate::Recorder::new`] while it is on, on
//! an adapter with timestamp queries, times its dispatches with GPU timestamps; the timestamps
//! are read back lazily (in batches, and at the end), so the run is not serialised on a
//! read-back per submit. Recorders on a caller's encoder ([`crate::Recorder::for_encoder`]) and
//! adapters without timestamp queries are not timed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::context::{lock, Context};
use crate::error::Result;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static STATE: Mutex<Option<RunProfileState>> = Mutex::new(None);

/// Read back pending timestamps once this many submits are waiting.
const PENDING_LIMIT: usize = 256;

/// Kernel rows of a whole run.
#[derive(Clone, Debug, Default)]
pub struct RunProfile {
    /// (kernel, dispatches, GPU seconds), slowest first.
    pub kernels: Vec<(&'static str, usize, f64)>,
    /// Dispatches that ran untimed (recordings past the query set's size).
    pub untimed_dispatches: usize,
}

impl RunProfile {
    /// GPU seconds of all timed dispatches.
    pub fn total_s(&self) -> f64 {
        self.kernels.iter().map(|k| k.2).sum()
    }
}

/// One submitted recording whose timestamps are not read yet.
pub(crate) struct PendingTimestamps {
    pub(crate) ctx: Context,
    pub(crate) staging: wgpu::Buffer,
    pub(crate) kernels: Vec<&'static str>,
}

/// The state a context keeps while a run profile is on.
#[derive(Default)]
pub(crate) struct RunProfileState {
    pending: Vec<PendingTimestamps>,
    sums: BTreeMap<&'static str, (usize, f64)>,
    untimed: usize,
}

impl RunProfileState {
    fn absorb(&mut self, pending: Vec<PendingTimestamps>) -> Result<()> {
        for p in pending {
            let period = f64::from(p.ctx.queue().get_timestamp_period());
            let ticks: Vec<u64> = crate::tensor::read_mapped(&p.ctx, &p.staging, "timestamps")?;
            for (i, kernel) in p.kernels.iter().enumerate() {
                let (Some(&start), Some(&end)) = (ticks.get(2 * i), ticks.get(2 * i + 1)) else {
                    continue;
                };
                let entry = self.sums.entry(kernel).or_default();
                entry.0 += 1;
                entry.1 += end.saturating_sub(start) as f64 * period * 1e-9;
            }
        }
        Ok(())
    }
}

/// Starts timing every kernel the process runs (forgetting an earlier run profile).
pub fn start() {
    *lock(&STATE) = Some(RunProfileState::default());
    ACTIVE.store(true, Ordering::SeqCst);
}

/// Whether a run profile is being taken.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Stops the run profile and returns it (`None` when none was started). Waits for the GPUs.
pub fn take() -> Result<Option<RunProfile>> {
    ACTIVE.store(false, Ordering::SeqCst);
    let Some(mut state) = lock(&STATE).take() else {
        return Ok(None);
    };
    let pending = std::mem::take(&mut state.pending);
    state.absorb(pending)?;
    let mut kernels: Vec<_> = state
        .sums
        .into_iter()
        .map(|(kernel, (calls, seconds))| (kernel, calls, seconds))
        .collect();
    kernels.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(Some(RunProfile {
        kernels,
        untimed_dispatches: state.untimed,
    }))
}

/// Called by a recorder after its submit: keeps the timestamps for later, reading back a batch
/// when many are waiting.
pub(crate) fn push(pending: Option<PendingTimestamps>, untimed: usize) -> Result<()> {
    let ready = {
        let mut guard = lock(&STATE);
        let Some(state) = guard.as_mut() else {
            return Ok(());
        };
        state.untimed += untimed;
        state.pending.extend(pending);
        if state.pending.len() < PENDING_LIMIT {
            return Ok(());
        }
        std::mem::take(&mut state.pending)
    };
    // Read outside the lock: the read waits for the GPU.
    let mut absorbed = RunProfileState::default();
    absorbed.absorb(ready)?;
    let mut guard = lock(&STATE);
    if let Some(state) = guard.as_mut() {
        for (kernel, (calls, seconds)) in absorbed.sums {
            let entry = state.sums.entry(kernel).or_default();
            entry.0 += calls;
            entry.1 += seconds;
        }
    }
    Ok(())
}
