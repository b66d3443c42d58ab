//! OE-Flow's joint loss (paper 004, REFERENCE-SPECS §6): a normalizing flow on the OE embeddings,
//! trained through [`EmbeddingLoss`] on the clean normal rows of every batch.
//!
//! `L = L_machine + 5 L_section + w L_flow` with 004's `w = 1e-7`: the weight applies to the
//! gradient the flow sends back into the embeddings (and so the backbone), while the flow's own
//! parameters get the gradient of the unweighted mean NLL. Adam is invariant to a constant factor
//! on a parameter's gradient, so weighting the flow's parameters by 1e-7 would change nothing
//! but the epsilon's share; the weight only matters for the backbone, whose gradient is a sum of
//! the heads' and the flow's.
//!
//! The flow reads the embeddings standardised per channel ([`InputStandardizer`]): running
//! statistics of the clean rows during training (a step uses those of the steps before it, so
//! the flow joins once the first [`crate::models::oe::flow_input::MIN_FIRST_ROWS`] clean rows
//! have been seen), exact statistics of the normal training embeddings once
//! training ends ([`FlowEmbeddingLoss::fit_input`]). The NLLs it reports are of the embeddings
//! themselves: the standardisation's log-det is included.
//!
//! With a [`DomainLatent`] (OE-DFlow), the first latent channels of every row follow
//! `N(k v, 1)` for the row's category `v` (set per batch with [`FlowEmbeddingLoss::set_categories`]),
//! or, with [`FlowEmbeddingLoss::set_segment_values`], for the parameter of the normal segment
//! each row came from (looked up per batch through [`EmbeddingLoss::set_batch_rows`]).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::{mul, scale};
use crate::models::flow::{DomainLatent, Flow, FlowConfig, FlowNll};
use crate::models::oe::flow_input::InputStandardizer;
use crate::models::oe::train::EmbeddingLoss;
use crate::nn::{reuse, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;
use std::path::Path;

/// 004's weight of the flow loss in the backbone's gradient.
pub const FLOW_BACKBONE_WEIGHT: f32 = 1e-7;

/// What [`EmbeddingLoss::after_step`] reads back of the last recorded batch.
struct LastBatch {
    embeddings: Tensor,
    clean: Vec<bool>,
    /// Per-row NLL of the standardised rows, when the flow took part in the step.
    nll: Option<Tensor>,
}

/// A flow trained on the clean rows of each OE batch.
pub struct FlowEmbeddingLoss {
    ctx: Context,
    pub flow: Flow,
    /// The standardisation in front of the flow.
    pub input: InputStandardizer,
    pub nll: FlowNll,
    /// Factor on the gradient reaching the embeddings.
    pub backbone_weight: f32,
    row_mask: Option<Tensor>,
    value_mask: Option<Tensor>,
    masked_z: Option<Tensor>,
    masked_logdet: Option<Tensor>,
    grad_embeddings: Option<Tensor>,
    standardized: Option<Tensor>,
    grad_input: Option<Tensor>,
    /// The last recorded batch, for [`EmbeddingLoss::after_step`].
    last: Option<LastBatch>,
    /// OE-DFlow: the physical parameter `v` of every normal training segment.
    segment_values: Option<Vec<f32>>,
}

impl FlowEmbeddingLoss {
    /// A fresh flow of `config` (its channels are the embedding size).
    pub fn new(ctx: &Context, config: FlowConfig, domain: Option<DomainLatent>) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            flow: Flow::new(ctx, config)?,
            input: InputStandardizer::new(ctx, config.channels)?,
            nll: FlowNll::new(ctx, domain),
            backbone_weight: FLOW_BACKBONE_WEIGHT,
            row_mask: None,
            value_mask: None,
            masked_z: None,
            masked_logdet: None,
            grad_embeddings: None,
            standardized: None,
            grad_input: None,
            last: None,
            segment_values: None,
        })
    }

    /// Loads a flow and its input statistics saved by [`FlowEmbeddingLoss::save`].
    pub fn load(
        ctx: &Context,
        path: &Path,
        config: FlowConfig,
        domain: Option<DomainLatent>,
    ) -> Result<Self> {
        let mut loss = Self::new(ctx, config, domain)?;
        crate::io::checkpoint::load_checkpoint(ctx, path, &loss.flow.state_dict())?;
        crate::io::checkpoint::load_checkpoint(ctx, path, &loss.input.state_dict()).map_err(
            |e| {
                let text = e.to_string();
                if text.contains("input_norm.") && text.contains("is missing") {
                    HarkError::invalid(
                        "oe-flow",
                        format!(
                            "{text} (a flow saved before hark standardised the flow's input; \
                             train it again)"
                        ),
                    )
                } else {
                    e
                }
            },
        )?;
        loss.flow.refresh_permutations()?;
        loss.input.refresh_from_tensors(ctx)?;
        Ok(loss)
    }

    /// Saves the flow and its input statistics as safetensors (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::checkpoint::save_checkpoint(
            &self.ctx,
            path,
            &self.state_dict(),
            self.flow.metadata(),
        )
    }

    fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries = self.flow.state_dict();
        entries.extend(self.input.state_dict());
        entries
    }

    /// Sets the input statistics to those of `embeddings` (`[rows, D]`, all normal rows).
    pub fn fit_input(&mut self, embeddings: &[f32]) -> Result<()> {
        self.input.fit(&self.ctx, embeddings)
    }

    /// `(z, logdet)` of embeddings `x` `[N, D]`: standardised, then through the flow (`logdet` is
    /// the flow's; add [`FlowEmbeddingLoss::input_log_det`] for the embeddings' density).
    pub fn latents(
        &mut self,
        rec: &mut Recorder,
        x: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, Tensor)> {
        let y = reuse(&self.ctx, &mut self.standardized, x.shape())?;
        self.input.forward(rec, x, &y)?;
        self.flow.forward(rec, &y, mode)
    }

    /// The standardisation's log-det (every row's): NLL of `x` = NLL of `y` minus this.
    pub fn input_log_det(&self) -> f64 {
        self.input.log_det()
    }

    /// Categories (OE-DFlow's physical parameter) of the next batch's rows.
    pub fn set_categories(&mut self, categories: &[u32]) -> Result<()> {
        self.nll.set_categories(categories)
    }

    /// OE-DFlow: the parameter `v` of every normal training segment (`OeTrainData::normal`
    /// order); each batch's z_d means then follow its rows' segments.
    pub fn set_segment_values(&mut self, values: Vec<f32>) {
        self.segment_values = Some(values);
    }
}

impl EmbeddingLoss for FlowEmbeddingLoss {
    fn record(
        &mut self,
        rec: &mut Recorder,
        embeddings: &Tensor,
        clean: &[bool],
    ) -> Result<Tensor> {
        let shape = embeddings.shape().to_vec();
        let (b, d) = (shape[0], shape[1]);
        let out = reuse(&self.ctx, &mut self.grad_embeddings, &shape)?;
        if !self.input.is_fitted() {
            // No statistics yet: this step only measures the batch for the next one.
            rec.zero(&out);
            self.last = Some(LastBatch {
                embeddings: embeddings.clone(),
                clean: clean.to_vec(),
                nll: None,
            });
            return Ok(out);
        }
        let clean_rows = clean.iter().filter(|&&c| c).count();
        // Mean NLL over the clean rows: the other rows' upstream gradients are masked to 0.
        let rows: Vec<f32> = clean.iter().map(|&c| f32::from(u8::from(c))).collect();
        let values: Vec<f32> = rows
            .iter()
            .flat_map(|&m| std::iter::repeat_n(m, d))
            .collect();
        let row_mask = reuse(&self.ctx, &mut self.row_mask, &[b])?;
        row_mask.write(&self.ctx, &rows)?;
        let value_mask = reuse(&self.ctx, &mut self.value_mask, &shape)?;
        value_mask.write(&self.ctx, &values)?;
        let (z, logdet) = self.latents(rec, embeddings, Mode::Train)?;
        let (nll, _) = self.nll.forward(rec, &z, &logdet)?;
        let (grad_z, grad_logdet) =
            self.nll
                .backward(rec, &z, &logdet, 1.0 / clean_rows.max(1) as f32)?;
        let masked_z = reuse(&self.ctx, &mut self.masked_z, &shape)?;
        mul(rec, &grad_z, &value_mask, &masked_z)?;
        let masked_logdet = reuse(&self.ctx, &mut self.masked_logdet, &[b])?;
        mul(rec, &grad_logdet, &row_mask, &masked_logdet)?;
        let grad_y = self.flow.backward(rec, &masked_z, &masked_logdet)?;
        let grad_x = reuse(&self.ctx, &mut self.grad_input, &shape)?;
        self.input.backward(rec, &grad_y, &grad_x)?;
        scale(rec, &grad_x, self.backbone_weight, &out)?;
        self.last = Some(LastBatch {
            embeddings: embeddings.clone(),
            clean: clean.to_vec(),
            nll: Some(nll),
        });
        Ok(out)
    }

    fn after_step(&mut self, ctx: &Context) -> Result<Option<f64>> {
        let Some(last) = self.last.take() else {
            return Ok(None);
        };
        // The NLL under the statistics this step used, then the statistics move on.
        let mean_nll = match &last.nll {
            Some(nll) => {
                let values = nll.to_vec(ctx)?;
                let picked: Vec<f64> = values
                    .iter()
                    .zip(&last.clean)
                    .filter(|(_, &c)| c)
                    .map(|(&v, _)| f64::from(v))
                    .collect();
                (!picked.is_empty()).then(|| {
                    picked.iter().sum::<f64>() / picked.len() as f64 - self.input.log_det()
                })
            }
            None => None,
        };
        let embeddings = last.embeddings.to_vec(ctx)?;
        self.input.update(ctx, &embeddings, &last.clean)?;
        Ok(mean_nll)
    }

    fn params(&self) -> Vec<&Param> {
        self.flow.params()
    }

    fn set_batch_rows(&mut self, rows: &[Option<usize>]) -> Result<()> {
        let Some(values) = &self.segment_values else {
            return Ok(());
        };
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            batch.push(match row {
                Some(i) => *values.get(*i).ok_or_else(|| {
                    HarkError::shape(
                        "oe-dflow",
                        format!("segment {i} of {} with a parameter value", values.len()),
                    )
                })?,
                // Pseudo-anomalies are masked out of the flow loss; any mean will do.
                None => 0.0,
            });
        }
        self.nll.set_values(&batch)
    }
}
