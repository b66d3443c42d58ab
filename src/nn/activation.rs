//! `Activation`: ReLU, LeakyReLU, sigmoid, tanh, softplus and ReLU6 as torch's, forward on the
//! elementwise and softplus kernels, backward on `activation_backward`.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::activation::{
    activation_backward, softplus, ActivationGrad, SOFTPLUS_THRESHOLD,
};
use crate::kernels::elementwise::{unary, UnaryOp};
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Which elementwise nonlinearity an [`Activation`] applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    Relu,
    /// torch.nn.LeakyReLU's `negative_slope`.
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// torch.nn.Softplus(beta, threshold); torch's defaults are 1 and [`SOFTPLUS_THRESHOLD`].
    Softplus {
        beta: f32,
        threshold: f32,
    },
    /// torch.nn.ReLU6: `min(max(x, 0), 6)`.
    Relu6,
}

impl Nonlinearity {
    /// torch.nn.Softplus() with its defaults.
    pub fn softplus() -> Self {
        Nonlinearity::Softplus {
            beta: 1.0,
            threshold: SOFTPLUS_THRESHOLD,
        }
    }

    /// The backward op, and whether it reads the forward's output (else its input).
    fn grad(self) -> (ActivationGrad, bool) {
        match self {
            // ReLU's gradient is LeakyReLU's with slope 0 (0 at x = 0, as torch).
            Nonlinearity::Relu => (ActivationGrad::LeakyRelu(0.0), false),
            Nonlinearity::LeakyRelu(slope) => (ActivationGrad::LeakyRelu(slope), false),
            Nonlinearity::Sigmoid => (ActivationGrad::Sigmoid, true),
            Nonlinearity::Tanh => (ActivationGrad::Tanh, true),
            Nonlinearity::Softplus { beta, threshold } => {
                (ActivationGrad::Softplus { beta, threshold }, false)
            }
            Nonlinearity::Relu6 => (ActivationGrad::Relu6, false),
        }
    }
}

/// An elementwise activation without parameters (any input shape).
pub struct Activation {
    ctx: Context,
    pub nonlinearity: Nonlinearity,
    /// The forward input or output, whichever the gradient is computed from.
    saved: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl Activation {
    pub fn new(ctx: &Context, nonlinearity: Nonlinearity) -> Self {
        Self {
            ctx: ctx.clone(),
            nonlinearity,
            saved: None,
            output: None,
            grad_input: None,
        }
    }

    /// torch.nn.ReLU.
    pub fn relu(ctx: &Context) -> Self {
        Self::new(ctx, Nonlinearity::Relu)
    }
}

impl Layer for Activation {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = reuse(&self.ctx, &mut self.output, x.shape())?;
        match self.nonlinearity {
            Nonlinearity::Relu => unary(rec, UnaryOp::Relu, x, &y)?,
            Nonlinearity::LeakyRelu(slope) => unary(rec, UnaryOp::LeakyRelu(slope), x, &y)?,
            Nonlinearity::Sigmoid => unary(rec, UnaryOp::Sigmoid, x, &y)?,
            Nonlinearity::Tanh => unary(rec, UnaryOp::Tanh, x, &y)?,
            Nonlinearity::Softplus { beta, threshold } => softplus(rec, x, beta, threshold, &y)?,
            Nonlinearity::Relu6 => unary(rec, UnaryOp::Relu6, x, &y)?,
        }
        let (_, from_output) = self.nonlinearity.grad();
        let saved = if from_output { &y } else { x };
        self.saved = (mode == Mode::Train).then(|| saved.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let saved = self.saved.as_ref().ok_or_else(|| {
            HarkError::invalid("activation", "backward without a training forward")
        })?;
        if grad_output.shape() != saved.shape() {
            return Err(HarkError::shape(
                "activation",
                format!(
                    "grad_output {:?} for output {:?}",
                    grad_output.shape(),
                    saved.shape()
                ),
            ));
        }
        let grad_x = reuse(&self.ctx, &mut self.grad_input, saved.shape())?;
        let (op, _) = self.nonlinearity.grad();
        activation_backward(rec, op, saved, grad_output, &grad_x)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
