//! Training the OE feature extractor (paper 004 eqs. 1-3, 8): balanced batches of normal
//! segments of the target machine type (first half) and pseudo-anomalous segments of the other
//! machine types (second half); mixup of each row with its mirror row `B - 1 - b` (a normal
//! segment with a pseudo-anomaly) with probability `mixup_prob` and `lambda ~ U(0, 1)`, inputs
//! and labels alike; `L = L_machine + class_weight * L_class`, both binary cross-entropies with
//! logits (pseudo-anomalies have all-zero class targets); Adam. An optional
//! [`EmbeddingLoss`] (e.g. a normalizing flow's NLL) adds its gradient on the embeddings.

use super::batch::make_batch;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::add;
use crate::kernels::loss::{bce_with_logits, bce_with_logits_backward};
use crate::kernels::optim::AdamConfig;
use crate::models::oe::network::OeNetwork;
use crate::nn::{Adam, Layer, Mode, Param};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, Probe, Remainder, Schedule, Shuffle};

/// An extra loss on the embedding batch, trained jointly with the feature extractor.
pub trait EmbeddingLoss {
    /// Records the loss's forward and backward on `embeddings` `[B, D]` (after the heads'
    /// backward, before the backbone's). `clean[b]` is true for the rows that are unmixed
    /// normal segments, the only ones a density model should fit. Returns the gradient of the
    /// weighted loss with respect to the embeddings, `[B, D]`; it is added to the heads'.
    fn record(&mut self, rec: &mut Recorder, embeddings: &Tensor, clean: &[bool])
        -> Result<Tensor>;

    /// Its trainable parameters, stepped by the same optimizer (same list every call).
    fn params(&self) -> Vec<&Param>;

    /// Called before each [`EmbeddingLoss::record`] with the source of every batch row: the
    /// index of its normal segment in [`OeTrainData::normal`] (`None` for pseudo-anomalies), so
    /// that a loss can look up per-segment side information (OE-DFlow's physical parameter).
    /// Rows that are mixed keep their own segment's index; `clean` says which are unmixed.
    fn set_batch_rows(&mut self, _rows: &[Option<usize>]) -> Result<()> {
        Ok(())
    }

    /// Called after each step has run (the GPU is idle): the loss may read back what it
    /// recorded. Returns the step's loss value for the epoch report, if it has one.
    fn after_step(&mut self, _ctx: &Context) -> Result<Option<f64>> {
        Ok(None)
    }
}

/// Training settings.
#[derive(Clone, Copy, Debug)]
pub struct OeTrainConfig {
    pub epochs: usize,
    /// Rows per batch (even; half normal, half pseudo-anomalous).
    pub batch_size: usize,
    pub lr: f32,
    /// `lambda_section` of 004 eq. 1.
    pub class_weight: f32,
    /// Probability that a row is mixed with its mirror row.
    pub mixup_prob: f32,
    pub seed: u64,
}

impl Default for OeTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            lr: 1e-3,
            class_weight: 5.0,
            mixup_prob: 0.5,
            seed: 0,
        }
    }
}

/// Training data: segments `[rows, frames * mels]` each.
pub struct OeTrainData<'a> {
    pub normal: &'a [f32],
    /// Class of every normal segment (`< network.classes`).
    pub classes: &'a [usize],
    pub pseudo: &'a [f32],
}

/// Mean losses of one epoch.
#[derive(Clone, Copy, Debug)]
pub struct OeEpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// `L_machine + class_weight * L_class`, mean over the epoch's batches.
    pub loss: f64,
    pub machine_loss: f64,
    pub class_loss: f64,
    /// The extra loss's mean over the steps that reported one (OE-Flow: the flow's NLL of the
    /// clean rows, nats per row); `None` without one.
    pub extra_loss: Option<f64>,
}

/// The device buffers of one training step of a batch of `rows` segments, and its recording
/// (forward, both losses, backward through the heads, the optional [`EmbeddingLoss`] and the
/// backbone, Adam).
pub struct OeStep {
    x: Tensor,
    machine_target: Tensor,
    class_target: Tensor,
    machine_grad: Tensor,
    class_grad: Tensor,
    grad_embedding: Tensor,
    grad_total: Tensor,
    machine_rows: Tensor,
    class_rows: Tensor,
    machine_loss: Tensor,
    class_loss: Tensor,
    class_weight: f32,
}

impl OeStep {
    pub fn new(ctx: &Context, net: &OeNetwork, rows: usize, class_weight: f32) -> Result<Self> {
        let (frames, mels, classes) = (net.config.frames, net.config.mels, net.classes);
        let zeros = |shape: &[usize]| Tensor::zeros(ctx, shape, DType::F32);
        Ok(Self {
            x: zeros(&[rows, 1, frames, mels])?,
            machine_target: zeros(&[rows, 1])?,
            class_target: zeros(&[rows, classes])?,
            machine_grad: zeros(&[rows, 1])?,
            class_grad: zeros(&[rows, classes])?,
            grad_embedding: zeros(&[rows, net.config.embedding])?,
            grad_total: zeros(&[rows, net.config.embedding])?,
            machine_rows: zeros(&[rows])?,
            class_rows: zeros(&[rows])?,
            machine_loss: zeros(&[1])?,
            class_loss: zeros(&[1])?,
            class_weight,
        })
    }

    /// Uploads a batch: segments, machine targets `[rows]`, class targets `[rows, classes]`.
    pub fn write(&self, ctx: &Context, x: &[f32], machine: &[f32], classes: &[f32]) -> Result<()> {
        self.x.write(ctx, x)?;
        self.machine_target.write(ctx, machine)?;
        self.class_target.write(ctx, classes)
    }

    /// Records one step on the uploaded batch; `clean` marks the unmixed normal rows.
    pub fn record(
        &self,
        rec: &mut Recorder,
        net: &mut OeNetwork,
        extra: Option<&mut dyn EmbeddingLoss>,
        clean: &[bool],
        optimizer: &mut Adam,
    ) -> Result<()> {
        let embedding = net.embed(rec, &self.x, Mode::Train)?;
        let machine_logits = net.machine_head.forward(rec, &embedding, Mode::Train)?;
        let class_logits = net.class_head.forward(rec, &embedding, Mode::Train)?;
        bce_with_logits(
            rec,
            &machine_logits,
            &self.machine_target,
            &self.machine_rows,
            &self.machine_loss,
        )?;
        bce_with_logits(
            rec,
            &class_logits,
            &self.class_target,
            &self.class_rows,
            &self.class_loss,
        )?;
        bce_with_logits_backward(
            rec,
            &machine_logits,
            &self.machine_target,
            1.0,
            &self.machine_grad,
        )?;
        bce_with_logits_backward(
            rec,
            &class_logits,
            &self.class_target,
            self.class_weight,
            &self.class_grad,
        )?;
        let from_machine = net.machine_head.backward(rec, &self.machine_grad)?;
        let from_class = net.class_head.backward(rec, &self.class_grad)?;
        add(rec, &from_machine, &from_class, &self.grad_embedding)?;
        match extra {
            Some(e) => {
                let g = e.record(rec, &embedding, clean)?;
                add(rec, &self.grad_embedding, &g, &self.grad_total)?;
                net.backbone.backward(rec, &self.grad_total)?;
                let mut params = net.params();
                params.extend(e.params());
                optimizer.step(rec, &params)
            }
            None => {
                net.backbone.backward(rec, &self.grad_embedding)?;
                optimizer.step(rec, &net.params())
            }
        }
    }

    /// `(L_machine, L_class)` of the last submitted step (waits for it).
    pub fn losses(&self, ctx: &Context) -> Result<(f64, f64)> {
        Ok((
            f64::from(self.machine_loss.to_vec(ctx)?[0]),
            f64::from(self.class_loss.to_vec(ctx)?[0]),
        ))
    }
}

/// Trains `net` on `data`; returns one report per epoch (also given to `progress`).
pub fn train_oe(
    ctx: &Context,
    net: &mut OeNetwork,
    data: &OeTrainData,
    config: &OeTrainConfig,
    extra: Option<&mut dyn EmbeddingLoss>,
    mut progress: impl FnMut(&OeEpochReport),
) -> Result<Vec<OeEpochReport>> {
    let (frames, mels) = (net.config.frames, net.config.mels);
    let seg = frames * mels;
    let classes = net.classes;
    let n = data.normal.len() / seg;
    if n == 0 || data.normal.len() != n * seg || data.classes.len() != n {
        return Err(HarkError::shape(
            "oe training",
            format!(
                "{} normal values and {} classes for segments of {seg}",
                data.normal.len(),
                data.classes.len()
            ),
        ));
    }
    if data.pseudo.is_empty() || !data.pseudo.len().is_multiple_of(seg) {
        return Err(HarkError::invalid(
            "oe training",
            "pseudo-anomalies needed (clips of other machine types), in whole segments",
        ));
    }
    if let Some(c) = data.classes.iter().find(|&&c| c >= classes) {
        return Err(HarkError::invalid(
            "oe training",
            format!("class {c} for a head of {classes}"),
        ));
    }
    let half = (config.batch_size / 2).clamp(1, n);
    let b = 2 * half;
    let mut params: Vec<&Param> = net.params();
    if let Some(e) = extra.as_ref() {
        params.extend(e.params());
    }
    let optimizer = Adam::new(ctx, &params, AdamConfig::adam(config.lr))?;
    drop(params);
    let mut training = OeTraining {
        buffers: OeStep::new(ctx, net, b, config.class_weight)?,
        net,
        extra,
        optimizer,
        data,
        config,
        seg,
        clean: Vec::new(),
        extra_sum: 0.0,
        extra_steps: 0,
    };
    let schedule = Schedule {
        epochs: config.epochs,
        batch: half,
        remainder: Remainder::WrapAround,
        probe: Probe::Every,
    };
    let mut shuffle = Shuffle::new(n, config.seed ^ 0x0e0e);
    let mut reports = Vec::with_capacity(config.epochs);
    train::run(
        ctx,
        &mut training,
        &mut shuffle,
        &schedule,
        None,
        |_| {},
        |training, done| {
            let (machine_loss, class_loss) = (done.loss(0), done.loss(1));
            let extra_steps = std::mem::take(&mut training.extra_steps);
            let extra_sum = std::mem::take(&mut training.extra_sum);
            let report = OeEpochReport {
                epoch: done.epoch,
                epochs: done.epochs,
                loss: machine_loss + f64::from(config.class_weight) * class_loss,
                machine_loss,
                class_loss,
                extra_loss: (extra_steps > 0).then(|| extra_sum / extra_steps as f64),
            };
            progress(&report);
            reports.push(report);
            Ok(())
        },
    )?;
    Ok(reports)
}

/// An [`OeStep`]'s buffers with what the loop needs to run it: the network, the optional extra
/// embedding loss, the optimizer over both, and the data the batches are made from.
struct OeTraining<'a, 'e> {
    buffers: OeStep,
    net: &'a mut OeNetwork,
    extra: Option<&'e mut dyn EmbeddingLoss>,
    optimizer: Adam,
    data: &'a OeTrainData<'a>,
    config: &'a OeTrainConfig,
    seg: usize,
    /// Which rows of the uploaded batch are unmixed normal segments.
    clean: Vec<bool>,
    /// The extra loss over the epoch's steps that reported one.
    extra_sum: f64,
    extra_steps: usize,
}

impl train::Step for OeTraining<'_, '_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], rng: &mut SeededRng) -> Result<()> {
        let classes = self.net.classes;
        let batch = make_batch(
            self.data,
            rows,
            rng,
            self.seg,
            classes,
            self.config.mixup_prob,
        );
        self.buffers
            .write(ctx, &batch.x, &batch.machine, &batch.classes)?;
        if let Some(e) = self.extra.as_mut() {
            let b = 2 * rows.len();
            let sources: Vec<Option<usize>> = (0..b).map(|r| rows.get(r).copied()).collect();
            e.set_batch_rows(&sources)?;
        }
        self.clean = batch.clean;
        Ok(())
    }

    fn record(&mut self, rec: &mut Recorder, _probe: bool) -> Result<()> {
        self.buffers.record(
            rec,
            self.net,
            self.extra
                .as_mut()
                .map(|e| &mut **e as &mut dyn EmbeddingLoss),
            &self.clean,
            &mut self.optimizer,
        )
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        let (machine, class) = self.buffers.losses(ctx)?;
        if let Some(e) = self.extra.as_mut() {
            if let Some(v) = e.after_step(ctx)? {
                self.extra_sum += v;
                self.extra_steps += 1;
            }
        }
        Ok(vec![machine, class])
    }

    /// The network, the extra loss's parameters and the optimizer's moments. Not a whole
    /// state with an extra loss that keeps host-side statistics (OE-Flow's input
    /// standardiser): the OE systems offer no resume.
    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.net.state_dict();
        if let Some(extra) = &self.extra {
            tensors.extend(
                extra
                    .params()
                    .into_iter()
                    .map(|p| (format!("extra.{}", p.name), &p.value)),
            );
        }
        tensors.extend(self.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.optimizer
    }
}
