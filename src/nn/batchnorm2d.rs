//! `BatchNorm2d` as torch.nn.BatchNorm2d over `[N, C, H, W]`: a [`BatchNorm1d`] on the
//! `[N, C, H * W]` view (the statistics are per channel over N, H and W either way).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::nn::batchnorm::BatchNorm1d;
use crate::nn::layer::{Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct BatchNorm2d {
    /// The per-channel weight, bias and running statistics (`{name}.weight`, `.bias`,
    /// `.running_mean`, `.running_var`).
    pub inner: BatchNorm1d,
    input_shape: Option<Vec<usize>>,
}

impl BatchNorm2d {
    /// torch's initialisation: weight 1, bias 0, running mean 0, running var 1.
    pub fn new(
        ctx: &Context,
        name: &str,
        channels: usize,
        config: BatchNormConfig,
    ) -> Result<Self> {
        Ok(Self {
            inner: BatchNorm1d::new(ctx, name, channels, config)?,
            input_shape: None,
        })
    }
}

impl Layer for BatchNorm2d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[n, c, h, w] = x.shape() else {
            return Err(HarkError::shape(
                "batchnorm2d",
                format!("input {:?} must be [N, C, H, W]", x.shape()),
            ));
        };
        let y = self.inner.forward(rec, &x.reshape(&[n, c, h * w])?, mode)?;
        self.input_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        y.reshape(x.shape())
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let shape = self.input_shape.as_ref().ok_or_else(|| {
            HarkError::invalid("batchnorm2d", "backward without a training forward")
        })?;
        if grad_output.shape() != shape.as_slice() {
            return Err(HarkError::shape(
                "batchnorm2d",
                format!("grad_output {:?} for input {shape:?}", grad_output.shape()),
            ));
        }
        let &[n, c, h, w] = shape.as_slice() else {
            return Err(HarkError::shape("batchnorm2d", "saved input is not 4-D"));
        };
        let dx = self
            .inner
            .backward(rec, &grad_output.reshape(&[n, c, h * w])?)?;
        dx.reshape(shape)
    }

    fn params(&self) -> Vec<&Param> {
        self.inner.params()
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        self.inner.buffers()
    }
}
