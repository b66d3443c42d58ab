//! `Sequential`: layers applied in order; backward runs them in reverse.

use crate::error::Result;
use crate::nn::layer::{Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    pub fn new(layers: Vec<Box<dyn Layer>>) -> Self {
        Self { layers }
    }
}

impl Layer for Sequential {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut current = x.clone();
        for layer in &mut self.layers {
            current = layer.forward(rec, &current, mode)?;
        }
        Ok(current)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let mut grad = grad_output.clone();
        for layer in self.layers.iter_mut().rev() {
            grad = layer.backward(rec, &grad)?;
        }
        Ok(grad)
    }

    fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        self.layers.iter().flat_map(|l| l.buffers()).collect()
    }
}
