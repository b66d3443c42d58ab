//! Launchers for `shaders/loss/si_sdr.wgsl`: the negative mean SI-SDR over
//! `[batch, samples]` and its gradient.

use super::{backward, forward, BackwardGrid, BINDINGS};
use crate::error::Result;
use crate::runtime::{Kernel, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// The eps of REFERENCE-SPECS §2 (asteroid's): in the projection's denominator, the noise
/// energy and the ratio under the logarithm.
pub const SI_SDR_EPS: f32 = 1e-8;

static ROWS: Kernel = Kernel {
    name: "si_sdr_loss",
    shader: Shader::LossSiSdr,
    entry: "rows",
    bindings: BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "si_sdr_loss_backward",
    shader: Shader::LossSiSdr,
    entry: "backward",
    bindings: BINDINGS,
};

/// SI-SDR (dB) of each row of `estimate` (`[batch, samples]`) against `target` into
/// `row_values`, and the loss `-mean SI-SDR` into `loss` (1 element). Both signals are made
/// zero-mean and [`SI_SDR_EPS`] guards the divisions (REFERENCE-SPECS §2).
pub fn si_sdr_loss(
    rec: &mut Recorder,
    estimate: &Tensor,
    target: &Tensor,
    row_values: &Tensor,
    loss: &Tensor,
) -> Result<()> {
    forward(
        rec, &ROWS, estimate, target, row_values, loss, -1.0, SI_SDR_EPS,
    )
}

/// Gradient of [`si_sdr_loss`] with respect to `estimate`, times `upstream` (d total / d loss), into
/// `grad` (shape of `estimate`).
pub fn si_sdr_loss_backward(
    rec: &mut Recorder,
    estimate: &Tensor,
    target: &Tensor,
    upstream: f32,
    grad: &Tensor,
) -> Result<()> {
    backward(
        rec,
        &BACKWARD,
        BackwardGrid::PerRow,
        estimate,
        target,
        upstream,
        grad,
        -1.0,
        SI_SDR_EPS,
    )
}
