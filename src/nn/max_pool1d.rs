//! `MaxPool1d` as torch.nn.MaxPool1d (floor mode, -inf padding) on the 2-D pool kernels: the
//! forward saves each window's argmax, and backward scatters the output gradient to it.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::pool::{max_pool1d, max_pool1d_backward, Pool1dParams};
use crate::nn::layer::{Layer, Mode, Param};
use crate::nn::max_pool2d::PoolState;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// torch.nn.MaxPool1d over `[N, C, L]`.
pub struct MaxPool1d {
    pub params: Pool1dParams,
    state: PoolState,
}

impl MaxPool1d {
    /// `torch.nn.MaxPool1d(kernel, stride, padding)` (torch's default stride is the kernel).
    pub fn new(ctx: &Context, params: Pool1dParams) -> Self {
        Self {
            params,
            state: PoolState::new(ctx),
        }
    }
}

impl Layer for MaxPool1d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[n, c, len] = x.shape() else {
            return Err(HarkError::shape(
                "max_pool1d",
                format!("input {:?} must be [N, C, L]", x.shape()),
            ));
        };
        let out_len = self.params.output_len(len).ok_or_else(|| {
            HarkError::shape(
                "max_pool1d",
                format!("{:?} does not fit input {:?}", self.params, x.shape()),
            )
        })?;
        let (y, indices) = self.state.outputs(&[n, c, out_len])?;
        max_pool1d(rec, x, &y, &indices, &self.params)?;
        self.state.saved_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let (indices, grad_x) = self.state.backward_tensors("max_pool1d")?;
        max_pool1d_backward(rec, grad_output, &indices, &grad_x, &self.params)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
