//! Training of the embedding model (REFERENCE-SPECS §4): every batch is mixed with its reverse
//! on the GPU (waveforms linearly, labels by the elementwise max, one lambda ~ U(0, 1) per
//! sample), embedded, and scored by sub-cluster AdaCos, whose scale adapts on the device; Adam
//! with the Keras L2 regulariser. One submit per step; the loss is read back a few times an
//! epoch.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::loss::{mixup, sc_adacos, sc_adacos_backward, MixupMode, ScAdaCosWorkspace};
use crate::kernels::optim::AdamConfig;
use crate::nn::{Adam, Mode, Param};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, RunId, Schedule, Shuffle, TrainState};

use super::model::EmbeddingModel;

/// Training settings (the reference: 10 epochs, batch 64, Adam lr 1e-3, L2 1e-5).
#[derive(Clone, Copy, Debug)]
pub struct EmbedTrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    /// Keras `l2(weight_decay)` on every weight: Adam's L2 term gets twice it (the gradient of
    /// `wd * w^2`).
    pub weight_decay: f32,
    /// Train the AdaCos centres too (the paper's ablation; the reference keeps them fixed).
    pub trainable_centres: bool,
    pub seed: u64,
}

impl Default for EmbedTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 1e-5,
            trainable_centres: false,
            seed: 0,
        }
    }
}

/// Progress of training, reported once per epoch.
#[derive(Clone, Copy, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean AdaCos loss of the sampled batches of the epoch.
    pub loss: f64,
    /// The adaptive scale after the epoch.
    pub scale: f32,
}

/// GPU tensors of one training batch.
struct BatchTensors {
    waves: Tensor,
    mixed_waves: Tensor,
    labels: Tensor,
    mixed_labels: Tensor,
    lambdas: Tensor,
    grad: Tensor,
    loss: Tensor,
    work: ScAdaCosWorkspace,
}

/// One training step's state: the optimizer and the batch tensors, reused every step.
pub struct TrainStep {
    optimizer: Adam,
    t: BatchTensors,
    trainable_centres: bool,
}

fn trained_params(model: &EmbeddingModel, trainable_centres: bool) -> Vec<&Param> {
    let mut params = model.net.params();
    if trainable_centres {
        params.push(&model.centres);
    }
    params
}

impl TrainStep {
    /// Steps of `batch` clips for `model` with `config`'s optimizer settings.
    pub fn new(
        ctx: &Context,
        model: &EmbeddingModel,
        batch: usize,
        config: &EmbedTrainConfig,
    ) -> Result<Self> {
        let samples = model.net.config().samples;
        let classes = model.classes.len();
        let adam = AdamConfig {
            weight_decay: 2.0 * config.weight_decay,
            ..AdamConfig::adam(config.lr)
        };
        let optimizer = Adam::new(ctx, &trained_params(model, config.trainable_centres), adam)?;
        let zeros = |shape: &[usize]| Tensor::zeros(ctx, shape, DType::F32);
        Ok(Self {
            optimizer,
            t: BatchTensors {
                waves: zeros(&[batch, samples])?,
                mixed_waves: zeros(&[batch, samples])?,
                labels: zeros(&[batch, classes])?,
                mixed_labels: zeros(&[batch, classes])?,
                lambdas: zeros(&[batch])?,
                grad: zeros(&[batch, model.net.dim()])?,
                loss: zeros(&[1])?,
                work: ScAdaCosWorkspace::new(ctx, batch, model.centres.value.shape()[0])?,
            },
            trainable_centres: config.trainable_centres,
        })
    }

    /// Uploads a batch: waveforms `[batch, samples]`, one-hot labels `[batch, classes]`, and
    /// the mixup weight of every sample.
    pub fn write(
        &self,
        ctx: &Context,
        waves: &[f32],
        labels: &[f32],
        lambdas: &[f32],
    ) -> Result<()> {
        self.t.waves.write(ctx, waves)?;
        self.t.labels.write(ctx, labels)?;
        self.t.lambdas.write(ctx, lambdas)
    }

    /// Records one step on the batch last written: mixup, forward, AdaCos (with its scale
    /// update), backward and Adam.
    pub fn record(&mut self, rec: &mut Recorder, model: &mut EmbeddingModel) -> Result<()> {
        let t = &self.t;
        mixup(rec, MixupMode::Linear, &t.waves, &t.lambdas, &t.mixed_waves)?;
        mixup(rec, MixupMode::Max, &t.labels, &t.lambdas, &t.mixed_labels)?;
        let emb = model.net.forward(rec, &t.mixed_waves, Mode::Train)?;
        let c = &model.centres;
        sc_adacos(
            rec,
            &emb,
            &c.value,
            &t.mixed_labels,
            &model.scale,
            true,
            &t.work,
            &t.loss,
        )?;
        let grad_centres = self.trainable_centres.then_some(&c.grad);
        sc_adacos_backward(
            rec,
            &emb,
            &c.value,
            &t.mixed_labels,
            &model.scale,
            &t.work,
            1.0,
            &t.grad,
            grad_centres,
        )?;
        model.net.backward(rec, &t.grad)?;
        self.optimizer
            .step(rec, &trained_params(model, self.trainable_centres))
    }

    /// The last step's mean AdaCos loss (1 element).
    pub fn loss(&self) -> &Tensor {
        &self.t.loss
    }
}

/// Trains `model` on `waves` (all of the network's clip length) with class `labels` (indices
/// into `model.classes`); `progress` sees every epoch. Batches are `batch_size` clips (fewer
/// clips: one batch of all); the remainder of an epoch's shuffle is dropped.
pub fn train_embedding(
    ctx: &Context,
    model: &mut EmbeddingModel,
    waves: &[Vec<f32>],
    labels: &[usize],
    config: &EmbedTrainConfig,
    progress: impl FnMut(&EpochReport),
) -> Result<()> {
    train_embedding_resumable(ctx, model, waves, labels, config, None, progress)
}

/// [`train_embedding`] that saves its state after every epoch to `state.path` and, with `state.resume`,
/// continues from it: the result is the same as one uninterrupted run.
pub fn train_embedding_resumable(
    ctx: &Context,
    model: &mut EmbeddingModel,
    waves: &[Vec<f32>],
    labels: &[usize],
    config: &EmbedTrainConfig,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&EpochReport),
) -> Result<()> {
    let n = waves.len();
    let samples = model.net.config().samples;
    let classes = model.classes.len();
    if n < 2 || labels.len() != n {
        return Err(HarkError::invalid(
            "embedding",
            format!(
                "{n} clips and {} labels: need at least 2 of each, as many labels as clips",
                labels.len()
            ),
        ));
    }
    if let Some(i) = waves.iter().position(|w| w.len() != samples) {
        return Err(HarkError::shape(
            "embedding",
            format!(
                "clip {i} has {} samples, the network takes {samples}",
                waves[i].len()
            ),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(HarkError::invalid(
            "embedding",
            format!("label {bad} but only {classes} classes"),
        ));
    }
    let batch = config.batch_size.clamp(2, n);
    let mut training = EmbedTraining {
        step: TrainStep::new(ctx, model, batch, config)?,
        model,
        waves,
        labels,
        staging: vec![0.0f32; batch * samples],
        onehot: vec![0.0f32; batch * classes],
    };
    let schedule = Schedule::drop_last(config.epochs, batch);
    let state = state.map(|s| {
        s.identified(
            RunId {
                what: "embedding",
                model: "embedding",
                rows: ("train.clips", n),
                batch,
                seed: config.seed,
            },
            &[(
                "train.trainable_centres",
                config.trainable_centres.to_string(),
            )],
        )
    });
    train::run(
        ctx,
        &mut training,
        &mut Shuffle::new(n, config.seed ^ 0x05ee_de3b),
        &schedule,
        state.as_ref(),
        |_| {},
        |training, done| {
            let scale = training.model.scale.to_vec(ctx)?;
            progress(&EpochReport {
                epoch: done.epoch,
                epochs: done.epochs,
                loss: done.loss(0),
                scale: scale[0],
            });
            Ok(())
        },
    )
}

/// A [`TrainStep`]'s buffers with the model and the data the loop feeds it.
struct EmbedTraining<'a> {
    step: TrainStep,
    model: &'a mut EmbeddingModel,
    waves: &'a [Vec<f32>],
    labels: &'a [usize],
    staging: Vec<f32>,
    onehot: Vec<f32>,
}

impl train::Step for EmbedTraining<'_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], rng: &mut SeededRng) -> Result<()> {
        let samples = self.model.net.config().samples;
        let classes = self.model.classes.len();
        self.onehot.fill(0.0);
        for (row, &index) in rows.iter().enumerate() {
            self.staging[row * samples..(row + 1) * samples].copy_from_slice(&self.waves[index]);
            self.onehot[row * classes + self.labels[index]] = 1.0;
        }
        let lambdas: Vec<f32> = (0..rows.len()).map(|_| rng.uniform(0.0, 1.0)).collect();
        self.step.write(ctx, &self.staging, &self.onehot, &lambdas)
    }

    fn record(&mut self, rec: &mut Recorder, _probe: bool) -> Result<()> {
        self.step.record(rec, self.model)
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        Ok(vec![f64::from(self.step.loss().to_vec(ctx)?[0])])
    }

    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.model.tensors();
        tensors.extend(self.step.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.step.optimizer
    }
}

/// Clips per inference batch (bounds the activations of 10 s clips).
pub const EMBED_BATCH: usize = 16;

/// Embeddings `[clips, dim]` (row-major) of `waves` in evaluation mode.
pub fn embed(ctx: &Context, model: &mut EmbeddingModel, waves: &[Vec<f32>]) -> Result<Vec<f32>> {
    let samples = model.net.config().samples;
    let mut out = Vec::with_capacity(waves.len() * model.net.dim());
    let mut staging = Vec::new();
    for chunk in waves.chunks(EMBED_BATCH) {
        staging.clear();
        for w in chunk {
            if w.len() != samples {
                return Err(HarkError::shape(
                    "embedding",
                    format!("a clip of {} samples, the network takes {samples}", w.len()),
                ));
            }
            staging.extend_from_slice(w);
        }
        let x = Tensor::from_slice(ctx, &[chunk.len(), samples], &staging)?;
        let mut rec = Recorder::new(ctx);
        let y = model.net.forward(&mut rec, &x, Mode::Eval)?;
        rec.submit()?;
        out.extend(y.to_vec(ctx)?);
    }
    Ok(out)
}
