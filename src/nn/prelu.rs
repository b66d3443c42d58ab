//! `PRelu` as torch.nn.PReLU(num_parameters): learned slopes for the negative part, one shared
//! or one per channel (axis 1), on the prelu kernels.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::activation::{prelu_backward_input, prelu_backward_weight};
use crate::kernels::elementwise::prelu;
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// torch.nn.PReLU(num_parameters): one learned slope shared by all channels, or one per channel
/// (axis 1), initialised to 0.25.
pub struct PRelu {
    ctx: Context,
    pub weight: Param,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl PRelu {
    /// `torch.nn.PReLU(num_parameters, init=0.25)`: `{name}.weight` `[num_parameters]`.
    pub fn new(ctx: &Context, name: &str, num_parameters: usize) -> Result<Self> {
        if num_parameters == 0 {
            return Err(HarkError::invalid(
                "prelu",
                "num_parameters must be at least 1",
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            weight: Param::new(
                ctx,
                format!("{name}.weight"),
                &[num_parameters],
                &vec![0.25; num_parameters],
            )?,
            saved_input: None,
            output: None,
            grad_input: None,
        })
    }
}

impl Layer for PRelu {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = reuse(&self.ctx, &mut self.output, x.shape())?;
        prelu(rec, x, &self.weight.value, &y)?;
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self
            .saved_input
            .as_ref()
            .ok_or_else(|| HarkError::invalid("prelu", "backward without a training forward"))?;
        if grad_output.shape() != x.shape() {
            return Err(HarkError::shape(
                "prelu",
                format!(
                    "grad_output {:?} for input {:?}",
                    grad_output.shape(),
                    x.shape()
                ),
            ));
        }
        prelu_backward_weight(rec, x, grad_output, &self.weight.grad)?;
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        prelu_backward_input(rec, x, &self.weight.value, grad_output, &grad_x)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.weight]
    }
}
