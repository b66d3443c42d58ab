//! Launchers for `shaders/loss/sc_adacos.wgsl`: Wilkinghoff's sub-cluster AdaCos loss over
//! embeddings, fixed (or trainable) centres and soft labels, its adaptive scale and gradients.
//!
//! The scale `s` is state kept on the GPU in a 1-element tensor that the caller owns (start it at
//! [`sc_adacos_initial_scale`], save it with the model): training updates it on the device every
//! batch, so a step never waits for a read-back.

use bytemuck::{Pod, Zeroable};

use super::loss_mean;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/loss/sc_adacos.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct ScAdaCosParams {
    batch: u32,
    dim: u32,
    classes: u32,
    sub: u32,
    grad_scale: f32,
}

/// x, centres, labels, cosines, inverse norms, scale, out.
const FORWARD_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

/// The same and the gradient written by `input_grad` / `centre_grad`.
const GRAD_BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
    Access::ReadWrite,
];

const WORKGROUP: u32 = 256;

const fn kernel(name: &'static str, entry: &'static str, bindings: &'static [Access]) -> Kernel {
    Kernel {
        name,
        shader: Shader::LossScAdaCos,
        entry,
        bindings,
    }
}

static COSINE: Kernel = kernel("sc_adacos_cosine", "cosine", FORWARD_BINDINGS);
static SCALE_UPDATE: Kernel = kernel("sc_adacos_scale_update", "scale_update", FORWARD_BINDINGS);
static ROWS: Kernel = kernel("sc_adacos", "rows", FORWARD_BINDINGS);
static LOGIT_GRAD: Kernel = kernel("sc_adacos_backward", "logit_grad", FORWARD_BINDINGS);
static INPUT_GRAD: Kernel = kernel("sc_adacos_backward_input", "input_grad", GRAD_BINDINGS);
static CENTRE_GRAD: Kernel = kernel("sc_adacos_backward_centres", "centre_grad", GRAD_BINDINGS);

/// AdaCos's initial scale `sqrt(2) ln(classes * sub - 1)` (REFERENCE-SPECS §4: over all
/// sub-cluster logits). Needs `classes * sub >= 2`.
pub fn sc_adacos_initial_scale(classes: usize, sub: usize) -> f32 {
    std::f32::consts::SQRT_2 * ((classes * sub) as f32 - 1.0).ln()
}

/// Per-batch scratch shared by [`sc_adacos`] and [`sc_adacos_backward`]: the backward reads the
/// cosines and inverse norms the forward saved.
#[derive(Debug)]
pub struct ScAdaCosWorkspace {
    /// `[batch, classes * sub]` cosine similarities.
    pub cosines: Tensor,
    /// `[batch + classes * sub]` inverse L2 norms of the embeddings, then of the centres.
    pub inv_norms: Tensor,
    /// `[batch]` row losses (the target angles while the scale is updated).
    pub row_values: Tensor,
    /// `[batch, classes * sub]` d loss / d cosine.
    pub grad_cosines: Tensor,
}

impl ScAdaCosWorkspace {
    /// Scratch for `batch` embeddings against `centres` centre rows (classes * sub).
    pub fn new(ctx: &Context, batch: usize, centres: usize) -> Result<Self> {
        let zeros = |shape: &[usize]| Tensor::zeros(ctx, shape, DType::F32);
        Ok(Self {
            cosines: zeros(&[batch, centres])?,
            inv_norms: zeros(&[batch + centres])?,
            row_values: zeros(&[batch])?,
            grad_cosines: zeros(&[batch, centres])?,
        })
    }
}

/// Checked sizes of one call.
struct Dims {
    params: ScAdaCosParams,
    batch: usize,
    dim: usize,
    logits: usize,
}

fn shape_err(what: &str, t: &Tensor, want: String) -> HarkError {
    HarkError::shape(ROWS.name, format!("{what} {:?} must be {want}", t.shape()))
}

fn check(
    x: &Tensor,
    centres: &Tensor,
    labels: &Tensor,
    scale: &Tensor,
    work: &ScAdaCosWorkspace,
) -> Result<Dims> {
    let name = ROWS.name;
    for t in [
        x,
        centres,
        labels,
        scale,
        &work.cosines,
        &work.inv_norms,
        &work.row_values,
        &work.grad_cosines,
    ] {
        t.expect_dtype(name, DType::F32)?;
    }
    let [batch, dim] = *x.shape() else {
        return Err(shape_err("x", x, "[batch, dim]".into()));
    };
    let logits = match *centres.shape() {
        [rows, d] if d == dim => rows,
        _ => {
            return Err(shape_err(
                "centres",
                centres,
                format!("[classes * sub, {dim}]"),
            ))
        }
    };
    let classes = match *labels.shape() {
        [b, c] if b == batch => c,
        _ => return Err(shape_err("labels", labels, format!("[{batch}, classes]"))),
    };
    if batch == 0 || dim == 0 || classes == 0 {
        return Err(HarkError::invalid(name, "empty batch, dim or classes"));
    }
    if !logits.is_multiple_of(classes) || logits == 0 {
        return Err(shape_err(
            "centres",
            centres,
            format!("a whole number of sub-clusters for each of {classes} classes"),
        ));
    }
    if logits < 2 {
        return Err(HarkError::invalid(name, "needs at least 2 centres"));
    }
    if scale.numel() != 1 {
        return Err(shape_err("scale", scale, "one element".into()));
    }
    let sizes = [
        ("workspace cosines", &work.cosines, batch * logits),
        ("workspace inv_norms", &work.inv_norms, batch + logits),
        ("workspace row_values", &work.row_values, batch),
        ("workspace grad_cosines", &work.grad_cosines, batch * logits),
    ];
    for (what, t, numel) in sizes {
        if t.numel() != numel {
            return Err(shape_err(what, t, format!("{numel} elements")));
        }
    }
    let sub = logits / classes;
    // The longest-running invocation of any entry (README, "Portability: loop budget per
    // invocation"): `scale_update`'s single workgroup (two strided passes over every cosine,
    // per-row sums over classes x sub-clusters, the median's rank count over the batch), the
    // row entries' class loops, `cosine`'s dim, `input_grad`'s logits, `centre_grad`'s batch.
    let rounds = |n: usize| n.div_ceil(256);
    let scale_update = 2 * rounds(batch * logits)
        + 16
        + rounds(batch) * (classes * (sub + 1) + 1)
        + rounds(batch) * (batch + 1);
    let row = rounds(logits) + 2 * rounds(classes) * (3 * sub + 1) + 16;
    let worst = scale_update.max(row).max(dim).max(logits).max(batch);
    crate::kernels::check_loop_budget(
        name,
        worst,
        &format!("batch {batch}, dim {dim}, {classes} classes x {sub} sub-clusters"),
    )?;
    // The largest index a shader forms: batch * logits (and logits * dim, batch * dim).
    to_u32(name, batch * logits.max(dim))?;
    to_u32(name, logits * dim)?;
    Ok(Dims {
        params: ScAdaCosParams {
            batch: to_u32(name, batch)?,
            dim: to_u32(name, dim)?,
            classes: to_u32(name, classes)?,
            sub: to_u32(name, sub)?,
            grad_scale: 0.0,
        },
        batch,
        dim,
        logits,
    })
}

fn threads(name: &'static str, n: usize) -> Result<[u32; 3]> {
    Ok(grid_1d(to_u32(name, n)?.div_ceil(WORKGROUP)))
}

/// Sub-cluster AdaCos (REFERENCE-SPECS §4, the `wilkinghoff/icassp2023` code): embeddings `x`
/// `[batch, dim]`, `centres` `[classes * sub, dim]` (row `c * sub + k` is sub-cluster `k` of
/// class `c`), soft labels `[batch, classes]` (mixup labels need not be one-hot) and the scale
/// state `scale` (1 element). Writes the cosines and inverse norms into `work`, the row losses
/// `-sum_c y_c log sum_{k} softmax(s cos)_{c,k}` into `work.row_values` and their mean into
/// `loss` (1 element). With `update_scale` (training), `scale` is first replaced by
/// `(max(s cos) + ln B_avg) / cos(min(pi/4, theta_med)) + 1e-7` from this batch, as the
/// reference code does; the loss then uses the new scale. Labels that are negative or NaN
/// give their row a NaN loss. Four dispatches (three without the update).
#[allow(clippy::too_many_arguments)] // Inputs, the scale state, scratch and the output.
pub fn sc_adacos(
    rec: &mut Recorder,
    x: &Tensor,
    centres: &Tensor,
    labels: &Tensor,
    scale: &Tensor,
    update_scale: bool,
    work: &ScAdaCosWorkspace,
    loss: &Tensor,
) -> Result<()> {
    let dims = check(x, centres, labels, scale, work)?;
    loss.expect_dtype(ROWS.name, DType::F32)?;
    if loss.numel() != 1 {
        return Err(shape_err("loss", loss, "one element".into()));
    }
    let params = bytemuck::bytes_of(&dims.params);
    let tensors = [
        x,
        centres,
        labels,
        &work.cosines,
        &work.inv_norms,
        scale,
        &work.row_values,
    ];
    rec.dispatch(Launch {
        kernel: &COSINE,
        constants: Vec::new(),
        params,
        tensors: &tensors,
        workgroups: threads(COSINE.name, dims.batch * dims.logits)?,
    })?;
    if update_scale {
        rec.dispatch(Launch {
            kernel: &SCALE_UPDATE,
            constants: Vec::new(),
            params,
            tensors: &tensors,
            // One workgroup: the median needs every row's angle.
            workgroups: [1, 1, 1],
        })?;
    }
    rec.dispatch(Launch {
        kernel: &ROWS,
        constants: Vec::new(),
        params,
        tensors: &tensors,
        // One workgroup per row.
        workgroups: grid_1d(dims.params.batch),
    })?;
    loss_mean(rec, &work.row_values, 1.0 / dims.batch as f32, loss)
}

/// Gradients of [`sc_adacos`] times `upstream` (d total / d loss), at the scale in `scale` (no
/// gradient through it), from the cosines and norms the forward left in `work`: `grad_x`
/// (shape of `x`) and, when given, `grad_centres` (shape of `centres`; the reference keeps the
/// centres fixed, so this is for a trainable-centres ablation).
#[allow(clippy::too_many_arguments)] // Inputs, the scale state, scratch and two outputs.
pub fn sc_adacos_backward(
    rec: &mut Recorder,
    x: &Tensor,
    centres: &Tensor,
    labels: &Tensor,
    scale: &Tensor,
    work: &ScAdaCosWorkspace,
    upstream: f32,
    grad_x: &Tensor,
    grad_centres: Option<&Tensor>,
) -> Result<()> {
    let mut dims = check(x, centres, labels, scale, work)?;
    let name = LOGIT_GRAD.name;
    if !upstream.is_finite() {
        return Err(HarkError::invalid(
            name,
            format!("upstream gradient {upstream} is not finite"),
        ));
    }
    grad_x.expect_dtype(name, DType::F32)?;
    if grad_x.shape() != x.shape() {
        return Err(shape_err("grad_x", grad_x, format!("{:?}", x.shape())));
    }
    if let Some(g) = grad_centres {
        g.expect_dtype(name, DType::F32)?;
        if g.shape() != centres.shape() {
            return Err(shape_err(
                "grad_centres",
                g,
                format!("{:?}", centres.shape()),
            ));
        }
    }
    dims.params.grad_scale = upstream / dims.batch as f32;
    let params = bytemuck::bytes_of(&dims.params);
    let forward = [
        x,
        centres,
        labels,
        &work.cosines,
        &work.inv_norms,
        scale,
        &work.grad_cosines,
    ];
    rec.dispatch(Launch {
        kernel: &LOGIT_GRAD,
        constants: Vec::new(),
        params,
        tensors: &forward,
        workgroups: grid_1d(dims.params.batch),
    })?;
    let outputs = [(&INPUT_GRAD, grad_x, dims.batch)]
        .into_iter()
        .chain(grad_centres.map(|g| (&CENTRE_GRAD, g, dims.logits)));
    for (kernel, out, rows) in outputs {
        rec.dispatch(Launch {
            kernel,
            constants: Vec::new(),
            params,
            tensors: &[
                x,
                centres,
                labels,
                &work.cosines,
                &work.inv_norms,
                scale,
                &work.grad_cosines,
                out,
            ],
            workgroups: threads(kernel.name, rows * dims.dim)?,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<ScAdaCosParams>(Shader::LossScAdaCos, "Params");
    }
}
