//! The flow's training loss and anomaly score, per sample
//! `-log p(x) = 0.5 ||z - mu||^2 + (D/2) log(2 pi) - logdet`, with the domain-invariant latent of
//! 004: a few leading channels z_d follow N(k v, 1) for a per-sample integer category v, and the
//! score uses the other channels z_c only.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::flow::{flow_nll, flow_nll_backward};
use crate::nn::reuse;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// z_d: the first `channels` latent channels follow N(k v, 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DomainLatent {
    pub channels: usize,
    /// 004: 5 / (minimum distance between parameter values).
    pub k: f32,
}

/// The per-sample NLL and score kernels with their output buffers.
pub struct FlowNll {
    ctx: Context,
    domain: Option<DomainLatent>,
    mean: Option<Tensor>,
    nll: Option<Tensor>,
    score: Option<Tensor>,
    grad_z: Option<Tensor>,
    grad_logdet: Option<Tensor>,
}

impl FlowNll {
    pub fn new(ctx: &Context, domain: Option<DomainLatent>) -> Self {
        Self {
            ctx: ctx.clone(),
            domain,
            mean: None,
            nll: None,
            score: None,
            grad_z: None,
            grad_logdet: None,
        }
    }

    fn shifted(&self) -> usize {
        self.domain.map_or(0, |d| d.channels)
    }

    /// Writes the per-sample means of z_d (`k v_n`) for the next calls; `categories` holds one
    /// integer category per sample (ignored without a domain latent, where the means are 0).
    pub fn set_categories(&mut self, categories: &[u32]) -> Result<()> {
        let k = self.domain.map_or(0.0, |d| d.k);
        let values: Vec<f32> = categories.iter().map(|&v| k * v as f32).collect();
        let mean = reuse(&self.ctx, &mut self.mean, &[values.len()])?;
        mean.write(&self.ctx, &values)
    }

    /// Writes the per-sample means of z_d (`k v_n`) for real-valued parameters `values` (one per
    /// sample; the means are 0 without a domain latent).
    pub fn set_values(&mut self, values: &[f32]) -> Result<()> {
        let k = self.domain.map_or(0.0, |d| d.k);
        let means: Vec<f32> = values.iter().map(|&v| k * v).collect();
        let mean = reuse(&self.ctx, &mut self.mean, &[means.len()])?;
        mean.write(&self.ctx, &means)
    }

    fn mean_for(&mut self, n: usize) -> Result<Tensor> {
        match &self.mean {
            Some(m) if m.numel() == n => Ok(m.clone()),
            Some(m) if self.domain.is_some() => Err(HarkError::shape(
                "flow_nll",
                format!("{} categories for a batch of {n}", m.numel()),
            )),
            _ if self.domain.is_some() => Err(HarkError::invalid(
                "flow_nll",
                "the domain latent needs set_categories before the loss",
            )),
            _ => {
                let mean = reuse(&self.ctx, &mut self.mean, &[n])?;
                mean.write(&self.ctx, &vec![0.0; n])?;
                Ok(mean)
            }
        }
    }

    /// `(nll, score)` per sample (`[N]` each, reused buffers) of latents `z` and `logdet`.
    pub fn forward(
        &mut self,
        rec: &mut Recorder,
        z: &Tensor,
        logdet: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let n = logdet.numel();
        let mean = self.mean_for(n)?;
        let nll = reuse(&self.ctx, &mut self.nll, &[n])?;
        let score = reuse(&self.ctx, &mut self.score, &[n])?;
        flow_nll(rec, z, logdet, &mean, self.shifted(), &nll, &score)?;
        Ok((nll, score))
    }

    /// `(grad_z, grad_logdet)` of `scale * sum_n nll[n]` (`scale = 1 / N` for the batch mean).
    pub fn backward(
        &mut self,
        rec: &mut Recorder,
        z: &Tensor,
        logdet: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor)> {
        let n = logdet.numel();
        let mean = self.mean_for(n)?;
        let grad_z = reuse(&self.ctx, &mut self.grad_z, z.shape())?;
        let grad_logdet = reuse(&self.ctx, &mut self.grad_logdet, &[n])?;
        flow_nll_backward(
            rec,
            z,
            logdet,
            &mean,
            self.shifted(),
            scale,
            &grad_z,
            &grad_logdet,
        )?;
        Ok((grad_z, grad_logdet))
    }
}
