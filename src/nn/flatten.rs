//! `Flatten` as torch.nn.Flatten(): `[N, ...]` viewed as `[N, prod(...)]` (no copy), between a
//! convolutional stack and a Linear head.

use crate::error::{HarkError, Result};
use crate::nn::layer::{Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

#[derive(Default)]
pub struct Flatten {
    input_shape: Option<Vec<usize>>,
}

impl Flatten {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Flatten {
    fn forward(&mut self, _rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let Some((&batch, rest)) = x.shape().split_first() else {
            return Err(HarkError::shape("flatten", "a scalar has no batch axis"));
        };
        let y = x.reshape(&[batch, rest.iter().product()])?;
        self.input_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        Ok(y)
    }

    fn backward(&mut self, _rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let shape = self
            .input_shape
            .as_ref()
            .ok_or_else(|| HarkError::invalid("flatten", "backward without a training forward"))?;
        grad_output.reshape(shape)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
