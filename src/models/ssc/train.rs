//! Training of the classifier (paper 002): cross-entropy on the section, the batch-hard triplet
//! loss on the embedding and an auxiliary cross-entropy on the attribute classes, weighted and
//! summed, with Adam (lr 2e-4 as the paper) on seeded batches.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::loss::{
    batch_hard_triplet, batch_hard_triplet_backward, cross_entropy, cross_entropy_backward,
    TripletMetric, TRIPLET_ANCHOR_WORDS,
};
use crate::kernels::optim::AdamConfig;
use crate::models::ssc::data::ClipInputs;
use crate::models::ssc::network::{SscInputs, SscNetwork};
use crate::nn::{Adam, Mode};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, Schedule, Shuffle, TrainState};

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

/// Device buffers of one batch and its losses (reused across steps).
pub struct Step {
    batch: usize,
    pub wave: Tensor,
    pub mel: Tensor,
    pub extra: Option<Tensor>,
    section_target: Tensor,
    attribute_target: Tensor,
    triplet_labels: Tensor,
    anchors: Tensor,
    grad_section: Tensor,
    grad_attribute: Tensor,
    grad_triplet: Tensor,
    rows: Tensor,
    /// Section CE, triplet, attribute CE.
    losses: [Tensor; 3],
    staging: StepStaging,
}

#[derive(Default)]
struct StepStaging {
    wave: Vec<f32>,
    mel: Vec<f32>,
    extra: Vec<f32>,
    sections: Vec<f32>,
    attributes: Vec<f32>,
    triplet: Vec<f32>,
}

fn one_hot(out: &mut Vec<f32>, indices: &[usize], classes: usize) {
    out.clear();
    out.resize(indices.len() * classes, 0.0);
    for (row, &c) in indices.iter().enumerate() {
        out[row * classes + c] = 1.0;
    }
}

impl Step {
    /// Buffers for batches of `batch` clips of `network`'s shape.
    pub fn new(ctx: &Context, network: &SscNetwork, batch: usize) -> Result<Self> {
        let s = *network.shape();
        let frames = s.frames();
        let zeros = |shape: &[usize]| Tensor::zeros(ctx, shape, DType::F32);
        Ok(Self {
            batch,
            wave: zeros(&[batch, 1, s.samples])?,
            mel: zeros(&[batch, s.mel_bins, frames])?,
            extra: (s.extra_dims > 0)
                .then(|| zeros(&[batch, s.extra_dims, frames]))
                .transpose()?,
            section_target: zeros(&[batch, s.sections])?,
            attribute_target: zeros(&[batch, s.attributes])?,
            triplet_labels: zeros(&[batch])?,
            anchors: zeros(&[batch, TRIPLET_ANCHOR_WORDS])?,
            grad_section: zeros(&[batch, s.sections])?,
            grad_attribute: zeros(&[batch, s.attributes])?,
            grad_triplet: zeros(&[batch, s.embedding])?,
            rows: zeros(&[batch])?,
            losses: [zeros(&[1])?, zeros(&[1])?, zeros(&[1])?],
            staging: StepStaging::default(),
        })
    }

    /// Uploads clips `picked` of `data` with their `labels` (indexed like `data`).
    pub fn upload(
        &mut self,
        ctx: &Context,
        network: &SscNetwork,
        data: &ClipInputs,
        labels: &Labels,
        picked: &[usize],
        triplet: TripletLabels,
    ) -> Result<()> {
        if picked.len() != self.batch {
            return Err(HarkError::invalid("ssc", "batch size changed"));
        }
        let s = *network.shape();
        let frames = s.frames();
        let st = &mut self.staging;
        let (mel_size, extra_size) = (s.mel_bins * frames, s.extra_dims * frames);
        st.wave.clear();
        st.mel.clear();
        st.extra.clear();
        for &i in picked {
            st.wave
                .extend_from_slice(&data.waves[i * s.samples..(i + 1) * s.samples]);
            st.mel
                .extend_from_slice(&data.mels[i * mel_size..(i + 1) * mel_size]);
            if extra_size > 0 {
                st.extra
                    .extend_from_slice(&data.extras[i * extra_size..(i + 1) * extra_size]);
            }
        }
        let sections: Vec<usize> = picked.iter().map(|&i| labels.sections[i]).collect();
        let attributes: Vec<usize> = picked.iter().map(|&i| labels.attributes[i]).collect();
        one_hot(&mut st.sections, &sections, s.sections);
        one_hot(&mut st.attributes, &attributes, s.attributes);
        let chosen = match triplet {
            TripletLabels::Section => &sections,
            TripletLabels::Attribute => &attributes,
        };
        st.triplet = chosen.iter().map(|&c| c as f32).collect();
        self.wave.write(ctx, &st.wave)?;
        self.mel.write(ctx, &st.mel)?;
        if let Some(extra) = &self.extra {
            extra.write(ctx, &st.extra)?;
        }
        self.section_target.write(ctx, &st.sections)?;
        self.attribute_target.write(ctx, &st.attributes)?;
        self.triplet_labels.write(ctx, &st.triplet)
    }

    pub fn inputs(&self) -> SscInputs<'_> {
        SscInputs {
            wave: &self.wave,
            mel: &self.mel,
            extra: self.extra.as_ref(),
        }
    }

    /// Records forward, the losses' gradients, backward and (with `losses`) the three loss values
    /// into [`Step::losses`]. The optimizer step is the caller's.
    pub fn record(
        &self,
        rec: &mut Recorder,
        network: &mut SscNetwork,
        weights: &LossWeights,
        losses: bool,
    ) -> Result<()> {
        let inputs = self.inputs();
        let out = network.forward(rec, &inputs, Mode::Train)?;
        cross_entropy_backward(
            rec,
            &out.section_logits,
            &self.section_target,
            weights.section,
            &self.grad_section,
        )?;
        cross_entropy_backward(
            rec,
            &out.attribute_logits,
            &self.attribute_target,
            weights.attribute,
            &self.grad_attribute,
        )?;
        let metric = TripletMetric::Cosine;
        let triplet = weights.triplet != 0.0 || losses;
        if triplet {
            batch_hard_triplet(
                rec,
                &out.embedding,
                &self.triplet_labels,
                weights.margin,
                metric,
                &self.anchors,
                &self.losses[1],
            )?;
        }
        let grad_embedding = if weights.triplet != 0.0 {
            batch_hard_triplet_backward(
                rec,
                &out.embedding,
                &self.triplet_labels,
                metric,
                &self.anchors,
                weights.triplet,
                &self.grad_triplet,
            )?;
            Some(&self.grad_triplet)
        } else {
            None
        };
        if losses {
            let targets = [&self.section_target, &self.attribute_target];
            let logits = [&out.section_logits, &out.attribute_logits];
            for ((logits, target), loss) in logits.iter().zip(targets).zip([0, 2]) {
                cross_entropy(rec, logits, target, &self.rows, &self.losses[loss])?;
            }
        }
        network.backward(
            rec,
            &inputs,
            &self.grad_section,
            &self.grad_attribute,
            grad_embedding,
        )
    }

    /// The last recorded (section, triplet, attribute) losses (waits for the GPU).
    pub fn read_losses(&self, ctx: &Context) -> Result<[f64; 3]> {
        let mut out = [0.0; 3];
        for (o, t) in out.iter_mut().zip(&self.losses) {
            *o = f64::from(t.to_vec(ctx)?[0]);
        }
        Ok(out)
    }
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
            "ssc",
            &[
                ("hark_model", "ssc".to_string()),
                ("train.clips", n.to_string()),
                ("train.batch_size", batch.to_string()),
                ("train.seed", settings.seed.to_string()),
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
