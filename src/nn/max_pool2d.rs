//! `MaxPool2d` as torch.nn.MaxPool2d (floor mode, -inf padding): the forward saves each
//! window's argmax, and backward scatters the output gradient to it. No parameters.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::pool::{max_pool2d, max_pool2d_backward, PoolParams};
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// What both pools keep: the output, the argmax positions (u32 bits in an f32 tensor), and the
/// input shape of the last training forward.
pub(crate) struct PoolState {
    ctx: Context,
    output: Option<Tensor>,
    indices: Option<Tensor>,
    pub(crate) saved_shape: Option<Vec<usize>>,
    grad_input: Option<Tensor>,
}

impl PoolState {
    pub(crate) fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            output: None,
            indices: None,
            saved_shape: None,
            grad_input: None,
        }
    }

    /// The output and index tensors for an output of `shape`.
    pub(crate) fn outputs(&mut self, shape: &[usize]) -> Result<(Tensor, Tensor)> {
        Ok((
            reuse(&self.ctx, &mut self.output, shape)?,
            reuse(&self.ctx, &mut self.indices, shape)?,
        ))
    }

    /// The indices and a gradient tensor of the saved input shape, for backward.
    pub(crate) fn backward_tensors(&mut self, kernel: &'static str) -> Result<(Tensor, Tensor)> {
        let (Some(shape), Some(indices)) = (&self.saved_shape, &self.indices) else {
            return Err(HarkError::invalid(
                kernel,
                "backward without a training forward",
            ));
        };
        let indices = indices.clone();
        let grad_x = reuse(&self.ctx, &mut self.grad_input, shape)?;
        Ok((indices, grad_x))
    }
}

/// torch.nn.MaxPool2d over `[N, C, H, W]`.
pub struct MaxPool2d {
    pub params: PoolParams,
    state: PoolState,
}

impl MaxPool2d {
    /// `torch.nn.MaxPool2d(kernel, stride, padding)` (torch's default stride is the kernel).
    pub fn new(ctx: &Context, params: PoolParams) -> Self {
        Self {
            params,
            state: PoolState::new(ctx),
        }
    }
}

impl Layer for MaxPool2d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[n, c, h, w] = x.shape() else {
            return Err(HarkError::shape(
                "max_pool2d",
                format!("input {:?} must be [N, C, H, W]", x.shape()),
            ));
        };
        let (oh, ow) = self.params.output_size(h, w).ok_or_else(|| {
            HarkError::shape(
                "max_pool2d",
                format!("{:?} does not fit input {:?}", self.params, x.shape()),
            )
        })?;
        let (y, indices) = self.state.outputs(&[n, c, oh, ow])?;
        max_pool2d(rec, x, &y, &indices, &self.params)?;
        self.state.saved_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let (indices, grad_x) = self.state.backward_tensors("max_pool2d")?;
        max_pool2d_backward(rec, grad_output, &indices, &grad_x, &self.params)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
