//! Adam / AdamW over all parameters of a model: one GPU kernel per parameter tensor per step,
//! moments kept on the GPU, learning rate from an [`LrSchedule`].

use std::collections::HashMap;

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::optim::{adam_step, clip_scale, AdamConfig};
use crate::nn::layer::Param;
use crate::nn::schedule::LrSchedule;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

pub struct Adam {
    pub config: AdamConfig,
    /// Learning rate per step (default: constant `config.lr`).
    pub schedule: LrSchedule,
    /// Clip the gradients to this global L2 norm before each step (torch's `clip_grad_norm_`),
    /// on the GPU without a read-back.
    pub max_grad_norm: Option<f32>,
    clip: Option<(Tensor, Tensor)>,
    /// Steps taken.
    pub step: u64,
    /// (exp_avg, exp_avg_sq) per parameter, in the order of the parameter list.
    pub moments: Vec<(Tensor, Tensor)>,
}

impl Adam {
    pub fn new(ctx: &Context, params: &[&Param], config: AdamConfig) -> Result<Self> {
        let moments = params
            .iter()
            .map(|p| {
                Ok((
                    Tensor::zeros(ctx, p.value.shape(), DType::F32)?,
                    Tensor::zeros(ctx, p.value.shape(), DType::F32)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            schedule: LrSchedule::Constant(config.lr),
            max_grad_norm: None,
            clip: None,
            step: 0,
            moments,
        })
    }

    /// Records one step over `params` (the same list, in the same order, as at creation).
    pub fn step(&mut self, rec: &mut Recorder, params: &[&Param]) -> Result<()> {
        if params.len() != self.moments.len() {
            return Err(HarkError::invalid(
                "adam",
                format!(
                    "{} parameters, optimizer built for {}",
                    params.len(),
                    self.moments.len()
                ),
            ));
        }
        let config = AdamConfig {
            lr: self.schedule.lr(self.step),
            ..self.config
        };
        self.step += 1;
        let scale = match self.max_grad_norm {
            Some(max_norm) => {
                if self.clip.is_none() {
                    let ctx = rec.context();
                    self.clip = Some((
                        Tensor::zeros(ctx, &[params.len()], DType::F32)?,
                        Tensor::zeros(ctx, &[2], DType::F32)?,
                    ));
                }
                let (partials, scale) = self
                    .clip
                    .as_ref()
                    .ok_or_else(|| HarkError::invalid("adam", "clipping buffers missing"))?;
                let grads: Vec<&Tensor> = params.iter().map(|p| &p.grad).collect();
                clip_scale(rec, &grads, max_norm, partials, scale)?;
                Some(scale)
            }
            None => None,
        };
        for (p, (m, v)) in params.iter().zip(&self.moments) {
            adam_step(rec, &config, self.step, 1.0, &p.grad, &p.value, m, v, scale)?;
        }
        Ok(())
    }

    /// The moment tensors under torch's optimizer-state names (`optimizer.state.{i}.exp_avg`,
    /// `optimizer.state.{i}.exp_avg_sq`, `i` = the parameter's index), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        self.moments
            .iter()
            .enumerate()
            .flat_map(|(i, (m, v))| {
                [
                    (format!("optimizer.state.{i}.exp_avg"), m),
                    (format!("optimizer.state.{i}.exp_avg_sq"), v),
                ]
            })
            .collect()
    }

    /// The scalar state (steps taken, hyper-parameters) as checkpoint metadata.
    pub fn state_metadata(&self) -> HashMap<String, String> {
        let c = &self.config;
        HashMap::from([
            ("optimizer.step".to_string(), self.step.to_string()),
            ("optimizer.lr".to_string(), c.lr.to_string()),
            (
                "optimizer.betas".to_string(),
                format!("{},{}", c.beta1, c.beta2),
            ),
            ("optimizer.eps".to_string(), c.eps.to_string()),
            (
                "optimizer.weight_decay".to_string(),
                c.weight_decay.to_string(),
            ),
            ("optimizer.decoupled".to_string(), c.decoupled.to_string()),
        ])
    }

    /// Restores the step count from [`Adam::state_metadata`] (the moments are loaded as tensors).
    /// A checkpoint written with other hyper-parameters is refused: resuming would silently
    /// change the run.
    pub fn restore_metadata(&mut self, metadata: &HashMap<String, String>) -> Result<()> {
        let ours = self.state_metadata();
        for key in ours.keys().filter(|k| k.as_str() != "optimizer.step") {
            let theirs = metadata.get(key).map(String::as_str).unwrap_or("missing");
            if theirs != ours[key] {
                return Err(HarkError::invalid(
                    "adam",
                    format!(
                        "checkpoint has {key} = {theirs}, this run uses {}",
                        ours[key]
                    ),
                ));
            }
        }
        self.step = metadata
            .get("optimizer.step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| HarkError::invalid("adam", "checkpoint has no optimizer.step"))?;
        Ok(())
    }
}
