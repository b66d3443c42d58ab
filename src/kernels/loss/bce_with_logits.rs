//! Launchers for `shaders/loss/bce_with_logits.wgsl`: binary cross-entropy with logits
//! (torch's BCEWithLogitsLoss, mean reduction) and its gradient.

use super::{backward, forward, BackwardGrid, BINDINGS};
use crate::error::Result;
use crate::runtime::{Kernel, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static ROWS: Kernel = Kernel {
    name: "bce_with_logits",
    shader: Shader::LossBceWithLogits,
    entry: "rows",
    bindings: BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "bce_with_logits_backward",
    shader: Shader::LossBceWithLogits,
    entry: "backward",
    bindings: BINDINGS,
};

/// Binary cross-entropy of `sigmoid(logits)` against `target` (probabilities), mean over all
/// elements, into `loss` (1 element); `row_values` receives each row's mean (rows = dim 0).
pub fn bce_with_logits(
    rec: &mut Recorder,
    logits: &Tensor,
    target: &Tensor,
    row_values: &Tensor,
    loss: &Tensor,
) -> Result<()> {
    forward(rec, &ROWS, logits, target, row_values, loss, 1.0, 0.0)
}

/// Gradient of [`bce_with_logits`] with respect to `logits`, times `upstream` (d total / d loss), into
/// `grad` (shape of `logits`).
pub fn bce_with_logits_backward(
    rec: &mut Recorder,
    logits: &Tensor,
    target: &Tensor,
    upstream: f32,
    grad: &Tensor,
) -> Result<()> {
    backward(
        rec,
        &BACKWARD,
        BackwardGrid::PerElement,
        logits,
        target,
        upstream,
        grad,
        1.0,
        0.0,
    )
}
