//! Losses with gradients: MSE (per row, for the autoencoder), L1, SI-SDR, softmax cross-entropy
//! with soft labels, binary cross-entropy with logits, and the embedding losses sub-cluster
//! AdaCos and batch-hard triplet (their own multi-dispatch forwards). Forward is two dispatches (per-row values in workgroup memory,
//! then their scaled sum into a 1-element loss); backward writes d loss / d prediction times an
//! upstream scalar.

mod batch_hard_triplet;
mod bce_with_logits;
mod cross_entropy;
mod l1;
mod loss_mean;
mod mixup;
mod mse;
mod sc_adacos;
mod si_sdr;

pub use batch_hard_triplet::{
    batch_hard_triplet, batch_hard_triplet_backward, TripletMetric, TRIPLET_ANCHOR_WORDS,
};
pub use bce_with_logits::{bce_with_logits, bce_with_logits_backward};
pub use cross_entropy::{cross_entropy, cross_entropy_backward};
pub use l1::{l1_loss, l1_loss_backward};
pub use loss_mean::loss_mean;
pub use mixup::{mixup, MixupMode};
pub use mse::{mse_backward, mse_rows};
pub use sc_adacos::{sc_adacos, sc_adacos_backward, sc_adacos_initial_scale, ScAdaCosWorkspace};
pub use si_sdr::{si_sdr_loss, si_sdr_loss_backward, SI_SDR_EPS};

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/common/loss_params.wgsl (imported by the row losses).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct LossParams {
    rows: u32,
    cols: u32,
    scale: f32,
    eps: f32,
}

/// Both entries of a loss shader: prediction and target read, one output written.
pub(crate) const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::ReadWrite];

/// One thread per element for elementwise backward entries.
const WORKGROUP: u32 = 256;

/// `[rows, cols]` of a prediction: rows = dim 0 (one row for rank 0 or 1), cols = the rest.
/// Checks dtypes and that `target` has the prediction's shape.
pub(crate) fn rows_cols(
    kernel: &'static str,
    pred: &Tensor,
    target: &Tensor,
) -> Result<(u32, u32)> {
    pred.expect_dtype(kernel, DType::F32)?;
    target.expect_dtype(kernel, DType::F32)?;
    if pred.shape() != target.shape() {
        return Err(HarkError::shape(
            kernel,
            format!(
                "prediction {:?} vs target {:?}",
                pred.shape(),
                target.shape()
            ),
        ));
    }
    if pred.numel() == 0 {
        return Err(HarkError::invalid(kernel, "empty prediction"));
    }
    let rows = match pred.shape() {
        [] | [_] => 1,
        [n, ..] => *n,
    };
    let numel = u32::try_from(pred.numel())
        .map_err(|_| HarkError::invalid(kernel, "over 2^32 elements"))?;
    // rows divides numel, which fits.
    Ok((rows as u32, numel / rows as u32))
}

fn check_out(kernel: &'static str, what: &str, t: &Tensor, numel: usize) -> Result<()> {
    t.expect_dtype(kernel, DType::F32)?;
    if t.numel() != numel {
        return Err(HarkError::shape(
            kernel,
            format!("{what} {:?} must hold {numel} elements", t.shape()),
        ));
    }
    Ok(())
}

/// Forward of a loss: `rows_kernel` writes one value per row into `row_values`, then
/// Strided passes over a row that one workgroup of `kernel` makes (the row kernels walk a row in
/// one workgroup: SI-SDR 3 forward, 4 backward; cross-entropy 2 and 3; L1 and BCE 1), each
/// followed by an 8-level tree. Rows are bounded by the per-invocation loop budget (README,
/// "Portability: loop budget per invocation"); longer rows are an invalid-argument error.
fn row_iterations(kernel: &'static str, cols: usize) -> usize {
    let passes = match kernel {
        "si_sdr_loss_backward" => 4,
        "si_sdr_loss" | "cross_entropy_backward" => 3,
        "cross_entropy" => 2,
        _ => 1,
    };
    passes * (cols.div_ceil(WORKGROUP as usize) + 8)
}

/// [`loss_mean`] writes `mean_sign / rows * sum` into `loss` (1 element).
#[allow(clippy::too_many_arguments)] // The shared body of every loss's forward.
pub(crate) fn forward(
    rec: &mut Recorder,
    rows_kernel: &'static Kernel,
    pred: &Tensor,
    target: &Tensor,
    row_values: &Tensor,
    loss: &Tensor,
    mean_sign: f32,
    eps: f32,
) -> Result<()> {
    let (rows, cols) = rows_cols(rows_kernel.name, pred, target)?;
    check_out(rows_kernel.name, "row losses", row_values, rows as usize)?;
    check_out(rows_kernel.name, "loss", loss, 1)?;
    crate::kernels::check_loop_budget(
        rows_kernel.name,
        row_iterations(rows_kernel.name, cols as usize),
        &format!("rows of {cols} values"),
    )?;
    let params = LossParams {
        rows,
        cols,
        scale: 0.0,
        eps,
    };
    rec.dispatch(Launch {
        kernel: rows_kernel,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[pred, target, row_values],
        // One workgroup per row.
        workgroups: grid_1d(rows),
    })?;
    loss_mean(rec, row_values, mean_sign / rows as f32, loss)
}

/// How a loss's backward entry covers the tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackwardGrid {
    /// One thread per element; the gradient is scaled by `1 / numel` (mean over elements).
    PerElement,
    /// One workgroup per row; the gradient is scaled by `1 / rows` (mean over rows).
    PerRow,
}

/// Backward of a loss: `grad = upstream * sign / count * d(row values)/d pred`.
#[allow(clippy::too_many_arguments)] // The shared body of every loss's backward.
pub(crate) fn backward(
    rec: &mut Recorder,
    kernel: &'static Kernel,
    grid: BackwardGrid,
    pred: &Tensor,
    target: &Tensor,
    upstream: f32,
    grad: &Tensor,
    sign: f32,
    eps: f32,
) -> Result<()> {
    let (rows, cols) = rows_cols(kernel.name, pred, target)?;
    check_out(kernel.name, "grad", grad, pred.numel())?;
    let (count, workgroups) = match grid {
        BackwardGrid::PerElement => {
            let n = rows * cols;
            (n, grid_1d(n.div_ceil(WORKGROUP)))
        }
        BackwardGrid::PerRow => {
            crate::kernels::check_loop_budget(
                kernel.name,
                row_iterations(kernel.name, cols as usize),
                &format!("rows of {cols} values"),
            )?;
            (rows, grid_1d(rows))
        }
    };
    let params = LossParams {
        rows,
        cols,
        scale: sign * upstream / count as f32,
        eps,
    };
    rec.dispatch(Launch {
        kernel,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[pred, target, grad],
        workgroups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::Shader;

    #[test]
    fn params_match_every_loss_shader_struct() {
        for shader in [
            Shader::LossL1,
            Shader::LossBceWithLogits,
            Shader::LossCrossEntropy,
            Shader::LossSiSdr,
            Shader::LossMean,
        ] {
            assert_eq!(
                Some(std::mem::size_of::<LossParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params"),
                "{shader:?}"
            );
        }
    }
}
