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
//! With a [`DomainLatent`] (OE-DFlow), the first latent channels of every row follow
//! `N(k v, 1)` for the row's category `v` (set per batch with [`FlowEmbeddingLoss::set_categories`]),
//! or, with [`FlowEmbeddingLoss::set_segment_values`], for the parameter of the normal segment
//! each row came from (looked up per batch through [`EmbeddingLoss::set_batch_rows`]).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::{mul, scale};
use crate::models::flow::{DomainLatent, Flow, FlowConfig, FlowNll};
use crate::models::oe::train::EmbeddingLoss;
use crate::nn::{reuse, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// 004's weight of the flow loss in the backbone's gradient.
pub const FLOW_BACKBONE_WEIGHT: f32 = 1e-7;

/// A flow trained on the clean rows of each OE batch.
pub struct FlowEmbeddingLoss {
    ctx: Context,
    pub flow: Flow,
    pub nll: FlowNll,
    /// Factor on the gradient reaching the embeddings.
    pub backbone_weight: f32,
    row_mask: Option<Tensor>,
    value_mask: Option<Tensor>,
    masked_z: Option<Tensor>,
    masked_logdet: Option<Tensor>,
    grad_embeddings: Option<Tensor>,
    /// OE-DFlow: the physical parameter `v` of every normal training segment.
    segment_values: Option<Vec<f32>>,
}

impl FlowEmbeddingLoss {
    /// A fresh flow of `config` (its channels are the embedding size).
    pub fn new(ctx: &Context, config: FlowConfig, domain: Option<DomainLatent>) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            flow: Flow::new(ctx, config)?,
            nll: FlowNll::new(ctx, domain),
            backbone_weight: FLOW_BACKBONE_WEIGHT,
            row_mask: None,
            value_mask: None,
            masked_z: None,
            masked_logdet: None,
            grad_embeddings: None,
            segment_values: None,
        })
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
        let (z, logdet) = self.flow.forward(rec, embeddings, Mode::Train)?;
        self.nll.forward(rec, &z, &logdet)?;
        let (grad_z, grad_logdet) =
            self.nll
                .backward(rec, &z, &logdet, 1.0 / clean_rows.max(1) as f32)?;
        let masked_z = reuse(&self.ctx, &mut self.masked_z, &shape)?;
        mul(rec, &grad_z, &value_mask, &masked_z)?;
        let masked_logdet = reuse(&self.ctx, &mut self.masked_logdet, &[b])?;
        mul(rec, &grad_logdet, &row_mask, &masked_logdet)?;
        let grad_x = self.flow.backward(rec, &masked_z, &masked_logdet)?;
        let out = reuse(&self.ctx, &mut self.grad_embeddings, &shape)?;
        scale(rec, &grad_x, self.backbone_weight, &out)?;
        Ok(out)
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
