//! `BatchNorm1d` as torch.nn.BatchNorm1d over `[batch, features]` (or `[N, C, L]`), optionally
//! followed by a ReLU fused into the same kernels (the DCASE autoencoder's Dense -> BN -> ReLU).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::{batchnorm, batchnorm_backward, BatchNormConfig, BatchNormState};
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

pub struct BatchNorm1d {
    ctx: Context,
    name: String,
    config: BatchNormConfig,
    pub weight: Param,
    pub bias: Param,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    saved: Tensor,
    saved_io: Option<(Tensor, Tensor)>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl BatchNorm1d {
    /// torch's initialisation: weight 1, bias 0, running mean 0, running var 1.
    pub fn new(
        ctx: &Context,
        name: &str,
        channels: usize,
        config: BatchNormConfig,
    ) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            name: name.to_string(),
            config,
            weight: Param::new(
                ctx,
                format!("{name}.weight"),
                &[channels],
                &vec![1.0; channels],
            )?,
            bias: Param::new(
                ctx,
                format!("{name}.bias"),
                &[channels],
                &vec![0.0; channels],
            )?,
            running_mean: Tensor::zeros(ctx, &[channels], DType::F32)?,
            running_var: Tensor::from_slice(ctx, &[channels], &vec![1.0; channels])?,
            saved: Tensor::zeros(ctx, &[channels, 2], DType::F32)?,
            saved_io: None,
            output: None,
            grad_input: None,
        })
    }
}

impl Layer for BatchNorm1d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if mode == Mode::Train
            && x.shape().first().copied().unwrap_or(0) * x.shape().get(2).copied().unwrap_or(1) < 2
        {
            return Err(HarkError::invalid(
                "batchnorm",
                "training needs more than one value per channel (a batch of at least 2)",
            ));
        }
        let y = reuse(&self.ctx, &mut self.output, x.shape())?;
        let state = BatchNormState {
            gamma: &self.weight.value,
            beta: &self.bias.value,
            running_mean: &self.running_mean,
            running_var: &self.running_var,
        };
        batchnorm(
            rec,
            x,
            &state,
            &self.config,
            mode == Mode::Train,
            &y,
            &self.saved,
        )?;
        self.saved_io = (mode == Mode::Train).then(|| (x.clone(), y.clone()));
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let (x, y) = self.saved_io.as_ref().ok_or_else(|| {
            HarkError::invalid("batchnorm", "backward without a training forward")
        })?;
        let dx = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        batchnorm_backward(
            rec,
            x,
            y,
            grad_output,
            &self.weight.value,
            &self.saved,
            &self.config,
            &dx,
            &self.weight.grad,
            &self.bias.grad,
        )?;
        Ok(dx)
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        vec![
            (format!("{}.running_mean", self.name), &self.running_mean),
            (format!("{}.running_var", self.name), &self.running_var),
        ]
    }
}
