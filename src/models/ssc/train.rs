//! Training of the classifier (paper 002): cross-entropy on the section, the batch-hard triplet
//! loss on the embedding and an auxiliary cross-entropy on the attribute classes, weighted and
//! summed, with Adam (lr 2e-4 as the paper) on seeded batches.

pub use super::step::Step;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::optim::AdamConfig;
use crate::models::ssc::data::ClipInputs;
use crate::models::ssc::network::SscNetwork;
use crate::nn::Adam;
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::Tensor;
use crate::train::{self, RunId, Schedule, Shuffle, TrainState};

/// Weights of the three losses (paper 002's eq. 5 sums them with weight 1) and the triplet's
/// settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossWeights {
    pub section: f32,
    pub triplet: f32,
    pub attribute: f32,
    /// Hinge margin of the triplet loss, on the cosine distance.
    pub margin: f32,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            section: 1.0,
            triplet: 1.0,
            attribute: 1.0,
            margin: 0.3,
        }
    }
}

/// Which labels the triplet loss separates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripletLabels {
    /// The sections (the paper's choice).
    Section,
    /// The attribute classes: used when a machine type has one section, where section labels
    /// leave the triplet loss without negatives.
    Attribute,
}

/// Optimisation settings.
#[derive(Clone, Copy, Debug)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    pub weights: LossWeights,
    pub triplet_labels: TripletLabels,
}

/// Progress of training, reported once per epoch.
#[derive(Clone, Copy, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean weighted total over the sampled batches, and its three parts (unweighted).
    pub loss: f64,
    pub section_loss: f64,
    pub triplet_loss: f64,
    pub attribute_loss: f64,
}

/// A batch's labels: class indices per clip.
#[derive(Clone, Debug)]
pub struct Labels {
    pub sections: Vec<usize>,
    pub attributes: Vec<usize>,
}

/// Trains `network` on `data` (already standardised) with class `labels`; `progress` sees every
/// epoch. Batches are drawn without replacement by a seeded shuffle (the last partial batch of an
/// epoch is dropped; fewer clips than the batch size make one batch of all clips).
pub fn train(
    ctx: &Context,
    network: &mut SscNetwork,
    data: &ClipInputs,
    labels: &Labels,
    settings: &TrainSettings,
    progress: impl FnMut(&EpochReport),
) -> Result<()> {
    train_resumable(ctx, network, data, labels, settings, None, progress)
}

/// [`train`] that saves its state after every epoch to `state.path` and, with `state.resume`,
/// continues from it: the result is the same as one uninterrupted run.
pub fn train_resumable(
    ctx: &Context,
    network: &mut SscNetwork,
    data: &ClipInputs,
    labels: &Labels,
    settings: &TrainSettings,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&EpochReport),
) -> Result<()> {
    let n = data.count;
    if n < 2 {
        return Err(HarkError::invalid("ssc", "fewer than 2 training clips"));
    }
    if labels.sections.len() != n || labels.attributes.len() != n {
        return Err(HarkError::shape("ssc", "one label per clip"));
    }
    for values in [&data.waves, &data.mels, &data.extras] {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(HarkError::invalid(
                "ssc",
                format!("input value {i} is not finite"),
            ));
        }
    }
    let batch = settings.batch_size.clamp(2, n);
    let w = settings.weights;
    let mut training = SscTraining {
        step: Step::new(ctx, network, batch)?,
        optimizer: Adam::new(ctx, &network.params(), AdamConfig::adam(settings.lr))?,
        network,
        data,
        labels,
        settings,
    };
    let schedule = Schedule::drop_last(settings.epochs, batch);
    let state = state.map(|s| {
        s.identified(
            RunId {
                what: "ssc",
                model: "ssc",
                rows: ("train.clips", n),
                batch,
                seed: settings.seed,
            },
            &[
                ("train.weights", format!("{:?}", settings.weights)),
                (
                    "train.triplet_labels",
                    format!("{:?}", settings.triplet_labels),
                ),
            ],
        )
    });
    train::run(
        ctx,
        &mut training,
        &mut Shuffle::new(n, settings.seed ^ 0x55c),
        &schedule,
        state.as_ref(),
        |_| {},
        |_, done| {
            let mean = [done.loss(0), done.loss(1), done.loss(2)];
            progress(&EpochReport {
                epoch: done.epoch,
                epochs: done.epochs,
                loss: f64::from(w.section) * mean[0]
                    + f64::from(w.triplet) * mean[1]
                    + f64::from(w.attribute) * mean[2],
                section_loss: mean[0],
                triplet_loss: mean[1],
                attribute_loss: mean[2],
            });
            Ok(())
        },
    )
}

/// A [`Step`]'s buffers with what the loop needs to run it: the network, its optimizer and
/// the training data.
struct SscTraining<'a> {
    step: Step,
    optimizer: Adam,
    network: &'a mut SscNetwork,
    data: &'a ClipInputs,
    labels: &'a Labels,
    settings: &'a TrainSettings,
}

impl train::Step for SscTraining<'_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], _rng: &mut SeededRng) -> Result<()> {
        self.step.upload(
            ctx,
            self.network,
            self.data,
            self.labels,
            rows,
            self.settings.triplet_labels,
        )
    }

    fn record(&mut self, rec: &mut Recorder, probe: bool) -> Result<()> {
        self.step
            .record(rec, self.network, &self.settings.weights, probe)?;
        self.optimizer.step(rec, &self.network.params())
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        Ok(self.step.read_losses(ctx)?.to_vec())
    }

    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.network.state_dict();
        tensors.extend(self.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.optimizer
    }
}
