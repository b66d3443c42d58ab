//! The resumable state of a training: where it is kept and what it holds.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Shuffle, Step};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, require_same_run, save_checkpoint, CheckpointHeader};

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

    /// The state of the run `id`, with `more` keys and values of the system's own that a
    /// resumed state must match too.
    pub fn identified(&self, id: RunId, more: &[(&str, String)]) -> Resumable {
        let (rows_key, rows) = id.rows;
        let run: HashMap<String, String> = [
            ("hark_model", id.model.to_string()),
            (rows_key, rows.to_string()),
            ("train.batch_size", id.batch.to_string()),
            ("train.seed", id.seed.to_string()),
        ]
        .into_iter()
        .chain(more.iter().cloned())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Resumable {
            path: self.path.clone(),
            resume: self.resume,
            what: id.what,
            run,
            replay_missing_shuffle: false,
        }
    }
}

/// What every system's run is identified by: its model kind (`hark_model`), the training rows
/// (under the system's own key, e.g. `train.vectors`), the batch size and the seed.
#[derive(Clone, Copy, Debug)]
pub struct RunId {
    /// The system, for messages.
    pub what: &'static str,
    pub model: &'static str,
    pub rows: (&'static str, usize),
    pub batch: usize,
    pub seed: u64,
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
    /// A state without the shuffle (written before it was saved) replays the shuffles of the
    /// epochs done: right only for a system that draws nothing else from the generator (the
    /// autoencoder, whose older states lack it). Otherwise such a state is refused.
    pub replay_missing_shuffle: bool,
}

impl Resumable {
    pub(super) fn save<S: Step>(
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
    pub(super) fn load<S: Step>(
        &self,
        ctx: &Context,
        step: &mut S,
        shuffle: &mut Shuffle,
    ) -> Result<usize> {
        if !(self.resume && self.path.exists()) {
            return Ok(0);
        }
        // The run is checked before any tensor is loaded, so that a refused state leaves the
        // model as it was.
        let header = CheckpointHeader::read(&self.path)?;
        let keys = self.run.keys().map(String::as_str);
        require_same_run(self.what, &self.path, &header.metadata, &self.run, keys)?;
        let metadata = load_checkpoint(ctx, &self.path, &step.state_tensors())?;
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
            None if self.replay_missing_shuffle => shuffle.skip_epochs(done),
            None => {
                return Err(HarkError::invalid(
                    self.what,
                    format!("{what}: the state holds no shuffle (train.shuffle.rng and .order)"),
                ))
            }
        }
        Ok(done)
    }
}
