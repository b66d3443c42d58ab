//! The [`Layer`] trait, parameters with their gradient buffers, and seeded initialisation.

use crate::context::Context;
use crate::error::Result;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// Training or evaluation behaviour (BatchNorm statistics, saved activations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// A trainable tensor, its gradient (same shape) and its PyTorch state-dict name.
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub value: Tensor,
    pub grad: Tensor,
}

impl Param {
    /// A parameter initialised with `values`, its gradient zero.
    pub fn new(ctx: &Context, name: String, shape: &[usize], values: &[f32]) -> Result<Self> {
        Ok(Self {
            name,
            value: Tensor::from_slice(ctx, shape, values)?,
            grad: Tensor::zeros(ctx, shape, DType::F32)?,
        })
    }
}

/// A layer: forward on GPU tensors, backward from the output gradient to the input gradient
/// while writing its parameters' gradients. Forward in [`Mode::Train`] saves what backward needs;
/// backward must follow the training forward it differentiates.
pub trait Layer {
    /// Records the forward pass; returns the output tensor (owned by the layer, reused while
    /// the input shape stays the same).
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor>;

    /// Records the backward pass of the last training forward; returns the input gradient.
    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor>;

    /// Trainable parameters, in state-dict order.
    fn params(&self) -> Vec<&Param>;

    /// Non-trainable state (running statistics), as (state-dict name, tensor).
    fn buffers(&self) -> Vec<(String, &Tensor)> {
        Vec::new()
    }
}

/// SplitMix64-based uniform initialiser: the same seed gives the same model everywhere.
#[derive(Clone, Debug)]
pub struct SeededInit(crate::rng::SeededRng);

impl SeededInit {
    pub fn new(seed: u64) -> Self {
        Self(crate::rng::SeededRng::new(seed))
    }

    /// `n` values uniform in `[-bound, bound)`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        self.0.vec(n, -bound, bound)
    }
}

/// A tensor kept across calls and remade only when the shape changes (so that repeated steps
/// reuse buffers and bind groups).
pub(crate) fn reuse(ctx: &Context, slot: &mut Option<Tensor>, shape: &[usize]) -> Result<Tensor> {
    if let Some(t) = slot {
        if t.shape() == shape {
            return Ok(t.clone());
        }
    }
    let t = Tensor::zeros(ctx, shape, DType::F32)?;
    *slot = Some(t.clone());
    Ok(t)
}
