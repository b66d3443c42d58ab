//! The buffers of one SSC training step: the batch's inputs and targets on the device, the
//! recorded forward and backward of the three losses, and their read-back.

use super::train::{Labels, LossWeights, TripletLabels};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::loss::{
    batch_hard_triplet, batch_hard_triplet_backward, cross_entropy, cross_entropy_backward,
    TripletMetric, TRIPLET_ANCHOR_WORDS,
};
use crate::models::ssc::data::ClipInputs;
use crate::models::ssc::network::{SscInputs, SscNetwork};
use crate::nn::Mode;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

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
