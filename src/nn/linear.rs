//! `Linear` as torch.nn.Linear: `y = x W^T + b`, W `[out, in]`; forward and backward are the
//! tiled matmul (with the bias in its epilogue) and a column sum for the bias gradient.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::kernels::reduce;
use crate::nn::layer::{reuse, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct Linear {
    ctx: Context,
    pub weight: Param,
    pub bias: Option<Param>,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl Linear {
    /// torch's default initialisation: weight and bias uniform in `±1/sqrt(in)`.
    pub fn new(
        ctx: &Context,
        name: &str,
        inputs: usize,
        outputs: usize,
        bias: bool,
        init: &mut SeededInit,
    ) -> Result<Self> {
        let bound = 1.0 / (inputs as f32).sqrt();
        let weight = Param::new(
            ctx,
            format!("{name}.weight"),
            &[outputs, inputs],
            &init.uniform(outputs * inputs, bound),
        )?;
        let bias = if bias {
            Some(Param::new(
                ctx,
                format!("{name}.bias"),
                &[outputs],
                &init.uniform(outputs, bound),
            )?)
        } else {
            None
        };
        Ok(Self {
            ctx: ctx.clone(),
            weight,
            bias,
            saved_input: None,
            output: None,
            grad_input: None,
        })
    }

    fn dims(&self) -> (usize, usize) {
        let s = self.weight.value.shape();
        (s[0], s[1])
    }
}

impl Layer for Linear {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (outputs, inputs) = self.dims();
        let [batch, features] = *x.shape() else {
            return Err(HarkError::shape(
                "linear",
                format!("input {:?} must be [batch, features]", x.shape()),
            ));
        };
        if features != inputs {
            return Err(HarkError::shape(
                "linear",
                format!("input {:?} for a {inputs} -> {outputs} layer", x.shape()),
            ));
        }
        let y = reuse(&self.ctx, &mut self.output, &[batch, outputs])?;
        let options = MatmulOptions {
            trans_b: true,
            bias: self.bias.as_ref().map(|b| &b.value),
            ..Default::default()
        };
        matmul(rec, x, &self.weight.value, &y, &options)?;
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self
            .saved_input
            .as_ref()
            .ok_or_else(|| HarkError::invalid("linear", "backward without a training forward"))?;
        // dW = dY^T X: dY is stored [batch, out], i.e. op(A) = A^T.
        let grad_w = MatmulOptions {
            trans_a: true,
            ..Default::default()
        };
        matmul(rec, grad_output, x, &self.weight.grad, &grad_w)?;
        if let Some(bias) = &self.bias {
            reduce::sum(rec, grad_output, 0, &bias.grad)?;
        }
        // dX = dY W.
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        matmul(
            rec,
            grad_output,
            &self.weight.value,
            &grad_x,
            &MatmulOptions::default(),
        )?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight)
            .chain(self.bias.as_ref())
            .collect()
    }
}
