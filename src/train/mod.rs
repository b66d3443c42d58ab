//! The epoch loop the trained systems share: a seeded shuffle of the training rows each epoch,
//! batches cut from it, one recorded step per batch, the losses read back on a few batches only
//! (each read waits for the GPU) and averaged per epoch, and a callback after every batch and
//! every epoch (progress, saving a resumable state).
//!
//! A system supplies its [`Step`]: the upload of a batch, the recorded forward, backward and
//! optimizer step, and the read-back of its losses. The loop owns the order of the rows and the
//! generator that shuffles them, so the same seed gives the same batches in every system, and a
//! resumed run replays the shuffles of the epochs it skips ([`Shuffle::skip_epochs`]).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, require_same_run, save_checkpoint};
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

/// The training rows in the order of the current epoch, and the generator that shuffles them.
pub struct Shuffle {
    order: Vec<usize>,
    rng: SeededRng,
}

impl Shuffle {
    /// Rows `0..n` in order; the generator seeded with `seed` (each system mixes its own
    /// constant into the user's seed, so that systems trained with one seed draw differently).
    pub fn new(n: usize, seed: u64) -> Self {
        Self {
            order: (0..n).collect(),
            rng: SeededRng::new(seed),
        }
    }

    /// The next epoch's order: a Fisher-Yates shuffle of the current one.
    pub fn next_epoch(&mut self) {
        let n = self.order.len();
        for i in (1..n).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
    }

    /// Replays the shuffles of `epochs` epochs, as a resumed run must to see the same batches
    /// as an uninterrupted one (valid for systems that draw nothing else from the generator).
    pub fn skip_epochs(&mut self, epochs: usize) {
        for _ in 0..epochs {
            self.next_epoch();
        }
    }

    /// The rows of the current epoch, in order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The order and the generator's state as checkpoint metadata.
    fn metadata(&self) -> [(String, String); 2] {
        let order: Vec<String> = self.order.iter().map(usize::to_string).collect();
        [
            (SHUFFLE_RNG.to_string(), self.rng.state().to_string()),
            (SHUFFLE_ORDER.to_string(), order.join(",")),
        ]
    }

    /// Restores [`Shuffle::metadata`]; `None` when the state has none (then the caller replays).
    fn restore(&mut self, metadata: &HashMap<String, String>, what: &str) -> Option<Result<()>> {
        let rng = metadata.get(SHUFFLE_RNG)?;
        let order = metadata.get(SHUFFLE_ORDER)?;
        let bad = || HarkError::invalid("training state", format!("{what}: malformed shuffle"));
        let parsed = (|| {
            let rng: u64 = rng.parse().ok()?;
            let order: Vec<usize> = if order.is_empty() {
                Vec::new()
            } else {
                order
                    .split(',')
                    .map(|v| v.parse().ok())
                    .collect::<Option<_>>()?
            };
            let mut sorted = order.clone();
            sorted.sort_unstable();
            sorted
                .iter()
                .enumerate()
                .all(|(i, &v)| i == v)
                .then_some((rng, order))
        })();
        Some(match parsed {
            Some((rng, order)) if order.len() == self.order.len() => {
                self.rng = SeededRng::from_state(rng);
                self.order = order;
                Ok(())
            }
            _ => Err(bad()),
        })
    }
}

const SHUFFLE_RNG: &str = "train.shuffle.rng";
const SHUFFLE_ORDER: &str = "train.shuffle.order";
const EPOCHS_DONE: &str = "train.epochs_done";

/// Where a training keeps its resumable state and whether to continue from it: what the caller
/// chooses (`hark train --resume`); the system adds what identifies its run ([`Resumable`]).
#[derive(Clone, Debug)]
pub struct TrainState {
    pub path: PathBuf,
    /// Continue from `path` when it exists (otherwise start afresh and overwrite it).
    pub resume: bool,
}

impl TrainState {
    /// The state of `system` (e.g. `"flow"`) for `machine` in the models folder `dir`:
    /// `<dir>/<system>_<machine>.train.safetensors`.
    pub fn in_models_dir(dir: &std::path::Path, system: &str, machine: &str, resume: bool) -> Self {
        Self {
            path: dir.join(format!("{system}_{machine}.train.safetensors")),
            resume,
        }
    }

    /// The state of a run identified by `run` (keys and values a resumed state must match).
    pub fn identified(&self, what: &'static str, run: &[(&str, String)]) -> Resumable {
        Resumable {
            path: self.path.clone(),
            resume: self.resume,
            what,
            run: run
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }
}

/// Where a training keeps its resumable state, written atomically after every epoch, and
/// whether to continue from it. A resumed run gives the same result as an uninterrupted one:
/// the state holds the model, the optimizer's moments and step, the epochs done, and the
/// shuffle's order and generator.
#[derive(Clone, Debug)]
pub struct Resumable {
    pub path: PathBuf,
    /// Continue from `path` when it exists (otherwise start afresh and overwrite it).
    pub resume: bool,
    /// The system, for messages.
    pub what: &'static str,
    /// What identifies the run (model kind, data size, batch size, seed, ...): saved with the
    /// state, and a state whose values differ is refused, naming the key.
    pub run: HashMap<String, String>,
}

impl Resumable {
    fn save<S: Step>(
        &self,
        ctx: &Context,
        step: &mut S,
        shuffle: &Shuffle,
        done: usize,
    ) -> Result<()> {
        let mut metadata = step.optimizer().state_metadata();
        metadata.extend(self.run.clone());
        metadata.extend(shuffle.metadata());
        metadata.insert(EPOCHS_DONE.to_string(), done.to_string());
        save_checkpoint(ctx, &self.path, &step.state_tensors(), metadata)
    }

    /// Loads the state into `step` and `shuffle` when resuming from an existing file; returns
    /// the epochs it had done (0 when starting afresh).
    fn load<S: Step>(&self, ctx: &Context, step: &mut S, shuffle: &mut Shuffle) -> Result<usize> {
        if !(self.resume && self.path.exists()) {
            return Ok(0);
        }
        let metadata = load_checkpoint(ctx, &self.path, &step.state_tensors())?;
        let keys = self.run.keys().map(String::as_str);
        require_same_run(self.what, &self.path, &metadata, &self.run, keys)?;
        step.optimizer().restore_metadata(&metadata)?;
        let done: usize = metadata
            .get(EPOCHS_DONE)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                HarkError::invalid(
                    self.what,
                    format!("{}: no {EPOCHS_DONE}", self.path.display()),
                )
            })?;
        let what = self.path.display().to_string();
        match shuffle.restore(&metadata, &what) {
            Some(restored) => restored?,
            // A state written before the shuffle was saved (the autoencoder's, which draws
            // nothing else from the generator): replay the shuffles of the epochs done.
            None => shuffle.skip_epochs(done),
        }
        Ok(done)
    }
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
    /// Steps run in the epoch.
    pub batches: usize,
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
                batches,
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
    fn a_shuffle_is_a_permutation_fixed_by_its_seed() {
        let mut a = Shuffle::new(37, 5);
        let mut b = Shuffle::new(37, 5);
        a.next_epoch();
        b.next_epoch();
        assert_eq!(a.order(), b.order());
        let mut sorted = a.order().to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..37).collect::<Vec<_>>());
        assert_ne!(a.order(), (0..37).collect::<Vec<_>>().as_slice());
        let mut c = Shuffle::new(37, 6);
        c.next_epoch();
        assert_ne!(a.order(), c.order());
    }

    #[test]
    fn skipping_epochs_replays_their_shuffles() {
        let mut a = Shuffle::new(10, 1);
        for _ in 0..3 {
            a.next_epoch();
        }
        let mut b = Shuffle::new(10, 1);
        b.skip_epochs(3);
        assert_eq!(a.order(), b.order());
    }

    #[test]
    fn a_shuffle_state_round_trips_and_a_bad_one_is_refused() {
        let mut a = Shuffle::new(9, 4);
        a.next_epoch();
        let metadata: HashMap<String, String> = a.metadata().into_iter().collect();
        let mut b = Shuffle::new(9, 0);
        assert!(matches!(b.restore(&metadata, "test"), Some(Ok(()))));
        a.next_epoch();
        b.next_epoch();
        assert_eq!(a.order(), b.order());
        let mut short = Shuffle::new(8, 0);
        assert!(matches!(short.restore(&metadata, "test"), Some(Err(_))));
        let mut broken = metadata.clone();
        broken.insert(SHUFFLE_ORDER.to_string(), "0,1,1,3,4,5,6,7,8".to_string());
        assert!(matches!(b.restore(&broken, "test"), Some(Err(_))));
        assert!(b.restore(&HashMap::new(), "test").is_none());
    }

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
