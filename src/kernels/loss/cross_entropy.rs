//! Launchers for `shaders/loss/cross_entropy.wgsl`: softmax cross-entropy with soft
//! labels over `[batch, classes]` and its gradient.

use super::{backward, forward, BackwardGrid, BINDINGS};
use crate::error::Result;
use crate::runtime::{Kernel, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static ROWS: Kernel = Kernel {
    name: "cross_entropy",
    shader: Shader::LossCrossEntropy,
    entry: "rows",
    bindings: BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "cross_entropy_backward",
    shader: Shader::LossCrossEntropy,
    entry: "backward",
    bindings: BINDINGS,
};

/// Softmax cross-entropy `-sum_c target_c log_softmax(logits)_c` per row of `[batch, classes]`
/// into `row_values`, and its mean over rows into `loss` (1 element), as torch's
/// `cross_entropy` with probability targets (targets need not sum to 1).
pub fn cross_entropy(
    rec: &mut Recorder,
    logits: &Tensor,
    target: &Tensor,
    row_values: &Tensor,
    loss: &Tensor,
) -> Result<()> {
    forward(rec, &ROWS, logits, target, row_values, loss, 1.0, 0.0)
}

/// Gradient of [`cross_entropy`] with respect to `logits`, times `upstream` (d total / d loss), into
/// `grad` (shape of `logits`).
pub fn cross_entropy_backward(
    rec: &mut Recorder,
    logits: &Tensor,
    target: &Tensor,
    upstream: f32,
    grad: &Tensor,
) -> Result<()> {
    backward(
        rec,
        &BACKWARD,
        BackwardGrid::PerRow,
        logits,
        target,
        upstream,
        grad,
        1.0,
        0.0,
    )
}
