//! The epoch loop the trained systems share: a seeded shuffle of the training rows each epoch,
//! batches cut from it, one recorded step per batch, the losses read back on a few batches only
//! (each read waits for the GPU) and averaged per epoch, and a callback after every batch and
//! every epoch (progress, saving a resumable state).
//!
//! A system supplies its [`Step`]: the upload of a batch, the recorded forward, backward and
//! optimizer step, and the read-back of its losses. The loop owns the order of the rows and the
//! generator that shuffles them, so the same seed gives the same batches in every system; its
//! [`Resumable`] state, saved after every epoch, holds the model, the optimizer and the shuffle,
//! so that a resumed run ends as an uninterrupted one would.

mod shuffle;
mod state;

pub use shuffle::Shuffle;
pub use state::{Resumable, RunId, TrainState};

use crate::context::Context;
use crate::error::Result;
use crate::nn::Adam;
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// One batch of a system's training, as the loop drives it.
pub trait Step {
    /// Writes the inputs of the batch made of training rows `rows`. `rng` is the generator that
    /// shuffles the rows, for a system's own draws (mixup weights, pseudo-anomalies) so that
    /// they follow from the seed too.
    fn upload(&mut self, ctx: &Context, rows: &[usize], rng: &mut SeededRng) -> Result<()>;

    /// Records the forward pass, the backward pass and the optimizer step of the uploaded batch;
    /// with `probe`, also what [`Step::read_losses`] reads.
    fn record(&mut self, rec: &mut Recorder, probe: bool) -> Result<()>;

    /// The losses of the last probed step, read after its submit (waits for the GPU).
    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>>;

    /// Every tensor training changes (parameters, running statistics, adaptive scales) and the
    /// optimizer's moments, under stable names: what a resumable state saves and restores.
    fn state_tensors(&self) -> Vec<(String, &Tensor)>;

    /// The optimizer, whose step count and settings a resumable state keeps.
    fn optimizer(&mut self) -> &mut Adam;
}

/// What happens to the rows left over when the batch size does not divide them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remainder {
    /// `n / batch` full batches; the last rows of the shuffle sit the epoch out.
    Drop,
    /// `ceil(n / batch)` batches; the last one wraps around to the epoch's first rows to stay full.
    WrapAround,
}

/// Which steps read their losses back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// About `per_epoch` steps spread over the epoch, and always the last one.
    Spread { per_epoch: usize },
    /// Every step.
    Every,
}

impl Probe {
    /// Whether step `b` of `batches` reads its losses.
    pub fn probes(self, b: usize, batches: usize) -> bool {
        match self {
            Probe::Spread { per_epoch } => {
                b.is_multiple_of((batches / per_epoch.max(1)).max(1)) || b + 1 == batches
            }
            Probe::Every => true,
        }
    }
}

/// How the loop cuts and runs an epoch.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Epochs in all (a resumed run starts later, see [`run`]).
    pub epochs: usize,
    /// Rows per batch (already clamped to the data by the system).
    pub batch: usize,
    pub remainder: Remainder,
    pub probe: Probe,
}

impl Schedule {
    /// `epochs` of `batch`-row batches, the remainder dropped, losses read on about four steps
    /// an epoch: what most systems run.
    pub fn drop_last(epochs: usize, batch: usize) -> Self {
        Self {
            epochs,
            batch,
            remainder: Remainder::Drop,
            probe: Probe::Spread { per_epoch: 4 },
        }
    }

    /// Steps per epoch over `n` rows.
    pub fn batches(&self, n: usize) -> usize {
        let batch = self.batch.max(1);
        match self.remainder {
            Remainder::Drop => n / batch,
            Remainder::WrapAround => n.div_ceil(batch),
        }
    }
}

/// Copies the rows `rows` of `source` (`[n, dims]` row-major) one after another into `out`.
pub fn gather_rows(out: &mut [f32], source: &[f32], dims: usize, rows: &[usize]) {
    for (row, &index) in rows.iter().enumerate() {
        out[row * dims..(row + 1) * dims]
            .copy_from_slice(&source[index * dims..(index + 1) * dims]);
    }
}

/// Where the loop stands after a step.
#[derive(Clone, Debug)]
pub struct BatchDone<'a> {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based.
    pub batch: usize,
    pub batches: usize,
    /// The epoch's mean of each loss over the steps probed so far (`None` before the first).
    pub losses: Option<&'a [f64]>,
}

/// The end of an epoch.
#[derive(Clone, Debug)]
pub struct EpochDone {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// The mean of each loss over the epoch's probed steps (empty when none was probed).
    pub losses: Vec<f64>,
}

impl EpochDone {
    /// Loss `i`, 0 when it was not read.
    pub fn loss(&self, i: usize) -> f64 {
        self.losses.get(i).copied().unwrap_or(0.0)
    }
}

/// Runs the epochs of `schedule` of `step` over the rows `shuffle` orders: each epoch shuffles,
/// then runs every batch (upload, record, submit, and on probed steps the read-back), calling
/// `on_batch` after each step and `on_epoch` after each epoch with the step itself (to read
/// more of it). With `state`, the run continues from a saved state (when resuming) and saves
/// its own after every epoch, before `on_epoch`. Waits for the GPU at the end.
pub fn run<S: Step>(
    ctx: &Context,
    step: &mut S,
    shuffle: &mut Shuffle,
    schedule: &Schedule,
    state: Option<&Resumable>,
    mut on_batch: impl FnMut(&BatchDone),
    mut on_epoch: impl FnMut(&mut S, &EpochDone) -> Result<()>,
) -> Result<()> {
    let first_epoch = match state {
        Some(state) => state.load(ctx, step, shuffle)?,
        None => 0,
    };
    if first_epoch > schedule.epochs {
        return Err(crate::error::HarkError::invalid(
            "training",
            format!(
                "the saved state has {first_epoch} epochs done, more than the {} asked for: give \
                 at least --epochs {first_epoch}, or train afresh",
                schedule.epochs
            ),
        ));
    }
    let n = shuffle.order.len();
    let batches = schedule.batches(n);
    let batch = schedule.batch.max(1);
    let mut rows = Vec::with_capacity(batch);
    for epoch in first_epoch..schedule.epochs {
        shuffle.next_epoch();
        let mut sums: Vec<f64> = Vec::new();
        let mut means: Vec<f64> = Vec::new();
        let mut probed = 0usize;
        for b in 0..batches {
            rows.clear();
            match schedule.remainder {
                Remainder::Drop => {
                    rows.extend_from_slice(&shuffle.order[b * batch..(b + 1) * batch])
                }
                Remainder::WrapAround => {
                    rows.extend((0..batch).map(|r| shuffle.order[(b * batch + r) % n]))
                }
            }
            step.upload(ctx, &rows, &mut shuffle.rng)?;
            let probe = schedule.probe.probes(b, batches);
            let mut rec = Recorder::new(ctx);
            step.record(&mut rec, probe)?;
            rec.submit()?;
            if probe {
                let losses = step.read_losses(ctx)?;
                sums.resize(losses.len().max(sums.len()), 0.0);
                for (s, l) in sums.iter_mut().zip(losses) {
                    *s += l;
                }
                probed += 1;
                means = sums.iter().map(|s| s / probed as f64).collect();
            }
            on_batch(&BatchDone {
                epoch: epoch + 1,
                epochs: schedule.epochs,
                batch: b + 1,
                batches,
                losses: (probed > 0).then_some(means.as_slice()),
            });
        }
        if let Some(state) = state {
            state.save(ctx, step, shuffle, epoch + 1)?;
        }
        on_epoch(
            step,
            &EpochDone {
                epoch: epoch + 1,
                epochs: schedule.epochs,
                losses: means,
            },
        )?;
    }
    ctx.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_spread_over_an_epoch_and_always_take_the_last_step() {
        let spread = Probe::Spread { per_epoch: 4 };
        let probed: Vec<usize> = (0..10).filter(|&b| spread.probes(b, 10)).collect();
        assert_eq!(probed, [0, 2, 4, 6, 8, 9]);
        assert!((0..3).all(|b| spread.probes(b, 3)));
        assert!((0..5).all(|b| Probe::Every.probes(b, 5)));
    }

    #[test]
    fn gathering_rows_copies_them_in_the_batch_order() {
        let source = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        let mut out = [0.0; 4];
        gather_rows(&mut out, &source, 2, &[2, 0]);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0]);
    }

    #[test]
    fn the_remainder_is_dropped_or_wrapped() {
        let mut schedule = Schedule {
            epochs: 1,
            batch: 4,
            remainder: Remainder::Drop,
            probe: Probe::Every,
        };
        assert_eq!(schedule.batches(10), 2);
        assert_eq!(schedule.batches(3), 0);
        schedule.remainder = Remainder::WrapAround;
        assert_eq!(schedule.batches(10), 3);
        assert_eq!(schedule.batches(8), 2);
    }
}
