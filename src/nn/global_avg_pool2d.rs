//! `GlobalAvgPool2d`: `[N, C, H, W]` -> `[N, C]`, the mean over each channel's `H x W` plane
//! (torch's `adaptive_avg_pool2d(x, 1).flatten(1)`, Keras' `GlobalAveragePooling2D`). Forward on
//! the mean reduction; backward spreads `grad / (H W)` over the plane as a rank-1 matmul, so no
//! kernel of its own.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::kernels::reduce::mean;
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct GlobalAvgPool2d {
    ctx: Context,
    input_shape: Option<Vec<usize>>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
    /// `[1, H W]` filled with `1 / (H W)`: the right factor of the backward's outer product.
    spread: Option<Tensor>,
}

impl GlobalAvgPool2d {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            input_shape: None,
            output: None,
            grad_input: None,
            spread: None,
        }
    }

    fn spread(&mut self, plane: usize) -> Result<Tensor> {
        if let Some(t) = &self.spread {
            if t.numel() == plane {
                return Ok(t.clone());
            }
        }
        let t = Tensor::from_slice(&self.ctx, &[1, plane], &vec![1.0 / plane as f32; plane])?;
        self.spread = Some(t.clone());
        Ok(t)
    }
}

impl Layer for GlobalAvgPool2d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[n, c, h, w] = x.shape() else {
            return Err(HarkError::shape(
                "global_avg_pool2d",
                format!("input {:?} must be [N, C, H, W]", x.shape()),
            ));
        };
        let y = reuse(&self.ctx, &mut self.output, &[n, c])?;
        mean(rec, &x.reshape(&[n * c, h * w])?, 1, &y)?;
        self.input_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let shape = self.input_shape.clone().ok_or_else(|| {
            HarkError::invalid("global_avg_pool2d", "backward without a training forward")
        })?;
        let &[n, c, h, w] = shape.as_slice() else {
            return Err(HarkError::shape(
                "global_avg_pool2d",
                "saved input is not 4-D",
            ));
        };
        if grad_output.shape() != [n, c] {
            return Err(HarkError::shape(
                "global_avg_pool2d",
                format!(
                    "grad_output {:?} for output [{n}, {c}]",
                    grad_output.shape()
                ),
            ));
        }
        let spread = self.spread(h * w)?;
        let grad_x = reuse(&self.ctx, &mut self.grad_input, &shape)?;
        // grad_x[nc, hw] = grad[nc] * 1 / (H W): a [N C, 1] x [1, H W] product.
        matmul(
            rec,
            &grad_output.reshape(&[n * c, 1])?,
            &spread,
            &grad_x.reshape(&[n * c, h * w])?,
            &MatmulOptions::default(),
        )?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
