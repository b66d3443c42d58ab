//! `Residual`: `y = body(x) + shortcut(x)`, the shortcut the identity or any layer (ResNet's
//! projection, a 1x1 conv with BatchNorm). Backward adds the two input gradients.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::add;
use crate::nn::layer::{reuse, Layer, Mode, Param};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct Residual {
    ctx: Context,
    pub body: Box<dyn Layer>,
    /// `None`: the identity.
    pub shortcut: Option<Box<dyn Layer>>,
    input_shape: Option<Vec<usize>>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl Residual {
    /// `body(x) + x`.
    pub fn new(ctx: &Context, body: Box<dyn Layer>) -> Self {
        Self {
            ctx: ctx.clone(),
            body,
            shortcut: None,
            input_shape: None,
            output: None,
            grad_input: None,
        }
    }

    /// `body(x) + shortcut(x)`.
    pub fn with_shortcut(ctx: &Context, body: Box<dyn Layer>, shortcut: Box<dyn Layer>) -> Self {
        Self {
            shortcut: Some(shortcut),
            ..Self::new(ctx, body)
        }
    }
}

/// Errors unless the two branches agree in shape (the add kernel would broadcast a shorter one).
fn same_shape(what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(HarkError::shape(
            "residual",
            format!("{what}: body {:?} but shortcut {:?}", a.shape(), b.shape()),
        ));
    }
    Ok(())
}

impl Layer for Residual {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let body = self.body.forward(rec, x, mode)?;
        let shortcut = match &mut self.shortcut {
            Some(layer) => layer.forward(rec, x, mode)?,
            None => x.clone(),
        };
        same_shape("outputs", &body, &shortcut)?;
        let y = reuse(&self.ctx, &mut self.output, body.shape())?;
        add(rec, &body, &shortcut, &y)?;
        self.input_shape = (mode == Mode::Train).then(|| x.shape().to_vec());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let Some(shape) = &self.input_shape else {
            return Err(HarkError::invalid(
                "residual",
                "backward without a training forward",
            ));
        };
        let body = self.body.backward(rec, grad_output)?;
        let shortcut = match &mut self.shortcut {
            Some(layer) => layer.backward(rec, grad_output)?,
            None => grad_output.clone(),
        };
        same_shape("input gradients", &body, &shortcut)?;
        let grad_x = reuse(&self.ctx, &mut self.grad_input, shape)?;
        add(rec, &body, &shortcut, &grad_x)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        self.body
            .params()
            .into_iter()
            .chain(self.shortcut.iter().flat_map(|s| s.params()))
            .collect()
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        self.body
            .buffers()
            .into_iter()
            .chain(self.shortcut.iter().flat_map(|s| s.buffers()))
            .collect()
    }
}
