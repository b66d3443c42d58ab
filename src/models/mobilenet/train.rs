//! Training the MobileNetV2 section classifier: the per-batch report and the step the shared
//! loop ([`crate::train`]) runs, resumable from a saved state.

use super::network::MobileNetV2;
use super::system::{MobileNetConfig, Patches};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::loss::{cross_entropy, cross_entropy_backward};
use crate::kernels::optim::AdamConfig;
use crate::nn::{Adam, Layer, Mode};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, RunId, Schedule, Shuffle, Step, TrainState};

/// Progress of training, reported after every batch.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches: usize,
    /// Mean cross-entropy of the batches sampled so far in this epoch (`None` before the first).
    pub loss: Option<f64>,
    pub patches: usize,
}

/// Trains `model` to classify `labels[clip]` from the patches; `progress` sees every batch.
/// Batches are drawn from a seeded shuffle of all patches; the last partial batch of an epoch
/// is dropped (BatchNorm needs at least 2 samples; the batch is clamped to the patch count).
pub fn train(
    ctx: &Context,
    model: &mut MobileNetV2,
    patches: &Patches,
    labels: &[usize],
    config: &MobileNetConfig,
    progress: impl FnMut(&StepReport),
) -> Result<()> {
    train_resumable(ctx, model, patches, labels, config, None, progress)
}

/// [`train`] that saves its state after every epoch to `state.path` and, with `state.resume`,
/// continues from it: the result is the same as one uninterrupted run.
pub fn train_resumable(
    ctx: &Context,
    model: &mut MobileNetV2,
    patches: &Patches,
    labels: &[usize],
    config: &MobileNetConfig,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&StepReport),
) -> Result<()> {
    let classes = model.config.classes;
    let n = patches.index.len();
    check_training_data(patches, labels, classes)?;
    let batch_size = config.batch_size.clamp(2, n);
    let len = patches.patch_len();
    let mut step = MobileNetStep {
        optimizer: Adam::new(ctx, &model.params(), AdamConfig::adam(config.lr))?,
        model,
        patches,
        labels,
        classes,
        staging: vec![0.0f32; batch_size * len],
        targets: vec![0.0f32; batch_size * classes],
        x: Tensor::zeros(
            ctx,
            &[batch_size, 1, patches.frames, patches.mels],
            DType::F32,
        )?,
        target: Tensor::zeros(ctx, &[batch_size, classes], DType::F32)?,
        grad: Tensor::zeros(ctx, &[batch_size, classes], DType::F32)?,
        rows: Tensor::zeros(ctx, &[batch_size], DType::F32)?,
        loss: Tensor::zeros(ctx, &[1], DType::F32)?,
    };
    let schedule = Schedule::drop_last(config.epochs, batch_size);
    let state = state.map(|s| {
        s.identified(
            RunId {
                what: "mobilenet",
                model: "mobilenet",
                rows: ("train.patches", n),
                batch: batch_size,
                seed: config.seed,
            },
            &[
                ("train.classes", classes.to_string()),
                ("patch_frames", config.frames.to_string()),
                ("hop_frames", config.hop_frames.to_string()),
                ("n_mels", config.features.n_mels.to_string()),
            ],
        )
    });
    train::run(
        ctx,
        &mut step,
        &mut Shuffle::new(n, config.seed ^ 0x5eed),
        &schedule,
        state.as_ref(),
        |done| {
            progress(&StepReport {
                epoch: done.epoch,
                epochs: done.epochs,
                batch: done.batch,
                batches: done.batches,
                loss: done.losses.map(|l| l[0]),
                patches: n,
            })
        },
        |_, _| Ok(()),
    )
}

/// Refuses fewer than 2 patches, a label past the classifier's classes and non-finite input.
fn check_training_data(patches: &Patches, labels: &[usize], classes: usize) -> Result<()> {
    if patches.index.len() < 2 {
        return Err(HarkError::invalid(
            "mobilenet",
            "fewer than 2 training patches",
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(HarkError::invalid(
            "mobilenet",
            format!("label {bad} for {classes} classes"),
        ));
    }
    if let Some(i) = patches.clips.iter().flatten().position(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            "mobilenet",
            format!("log-mel value {i} is not finite"),
        ));
    }
    Ok(())
}

/// One batch of MobileNetV2 training: patches and their one-hot classes in, cross-entropy out.
struct MobileNetStep<'a> {
    model: &'a mut MobileNetV2,
    optimizer: Adam,
    patches: &'a Patches,
    labels: &'a [usize],
    classes: usize,
    staging: Vec<f32>,
    targets: Vec<f32>,
    x: Tensor,
    target: Tensor,
    grad: Tensor,
    rows: Tensor,
    loss: Tensor,
}

impl Step for MobileNetStep<'_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], _rng: &mut SeededRng) -> Result<()> {
        let (len, classes) = (self.patches.patch_len(), self.classes);
        self.targets.fill(0.0);
        for (row, &p) in rows.iter().enumerate() {
            self.patches
                .copy_patch(p, &mut self.staging[row * len..(row + 1) * len]);
            self.targets[row * classes + self.labels[self.patches.index[p].0]] = 1.0;
        }
        self.x.write(ctx, &self.staging)?;
        self.target.write(ctx, &self.targets)
    }

    fn record(&mut self, rec: &mut Recorder, probe: bool) -> Result<()> {
        let logits = self.model.forward(rec, &self.x, Mode::Train)?;
        cross_entropy_backward(rec, &logits, &self.target, 1.0, &self.grad)?;
        self.model.backward(rec, &self.grad)?;
        self.optimizer.step(rec, &self.model.params())?;
        if probe {
            cross_entropy(rec, &logits, &self.target, &self.rows, &self.loss)?;
        }
        Ok(())
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        Ok(vec![f64::from(self.loss.to_vec(ctx)?[0])])
    }

    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.model.state_dict();
        tensors.extend(self.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.optimizer
    }
}
