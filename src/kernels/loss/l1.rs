//! Launchers for `shaders/loss/l1.wgsl`: mean absolute error and its
//! gradient.

use super::{backward, forward, BackwardGrid, BINDINGS};
use crate::error::Result;
use crate::runtime::{Kernel, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static ROWS: Kernel = Kernel {
    name: "l1_loss",
    shader: Shader::LossL1,
    entry: "rows",
    bindings: BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "l1_loss_backward",
    shader: Shader::LossL1,
    entry: "backward",
    bindings: BINDINGS,
};

/// L1 loss `mean |pred - target|` over all elements into `loss` (1 element); `row_values`
/// receives each row's mean (rows = dim 0; one row for a 1-D prediction).
pub fn l1_loss(
    rec: &mut Recorder,
    pred: &Tensor,
    target: &Tensor,
    row_values: &Tensor,
    loss: &Tensor,
) -> Result<()> {
    forward(rec, &ROWS, pred, target, row_values, loss, 1.0, 0.0)
}

/// Gradient of [`l1_loss`] with respect to `pred`, times `upstream` (d total / d loss), into
/// `grad` (shape of `pred`).
pub fn l1_loss_backward(
    rec: &mut Recorder,
    pred: &Tensor,
    target: &Tensor,
    upstream: f32,
    grad: &Tensor,
) -> Result<()> {
    backward(
        rec,
        &BACKWARD,
        BackwardGrid::PerElement,
        pred,
        target,
        upstream,
        grad,
        1.0,
        0.0,
    )
}
