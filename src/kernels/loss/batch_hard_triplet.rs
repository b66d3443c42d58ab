//! Launchers for `shaders/loss/batch_hard_triplet.wgsl`: Hermans et al.'s batch-hard triplet
//! loss over `[batch, dim]` embeddings with integer labels, and its subgradient.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/loss/batch_hard_triplet.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct TripletParams {
    batch: u32,
    dim: u32,
    metric: u32,
    margin: f32,
    upstream: f32,
}

/// f32 words per anchor record (`Anchor` in the shader): positive, negative, d_positive,
/// d_negative, inverse norm, loss.
pub const TRIPLET_ANCHOR_WORDS: usize = 6;

/// Embeddings, labels, anchor records, output.
const BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
];

/// Must match `WG` in the shader.
const WORKGROUP: u32 = 64;

static HARDEST: Kernel = Kernel {
    name: "batch_hard_triplet",
    shader: Shader::LossBatchHardTriplet,
    entry: "hardest",
    bindings: BINDINGS,
};

static MEAN: Kernel = Kernel {
    name: "batch_hard_triplet_mean",
    shader: Shader::LossBatchHardTriplet,
    entry: "mean",
    bindings: BINDINGS,
};

static BACKWARD: Kernel = Kernel {
    name: "batch_hard_triplet_backward",
    shader: Shader::LossBatchHardTriplet,
    entry: "backward",
    bindings: BINDINGS,
};

pub use crate::params::loss::TripletMetric;

fn check(
    kernel: &'static str,
    embeddings: &Tensor,
    labels: &Tensor,
    anchors: &Tensor,
    margin: f32,
    metric: TripletMetric,
) -> Result<(TripletParams, usize)> {
    for t in [embeddings, labels, anchors] {
        t.expect_dtype(kernel, DType::F32)?;
    }
    let [batch, dim] = *embeddings.shape() else {
        return Err(HarkError::shape(
            kernel,
            format!(
                "embeddings must be [batch, dim], got {:?}",
                embeddings.shape()
            ),
        ));
    };
    if batch == 0 || dim == 0 {
        return Err(HarkError::invalid(kernel, "empty batch or dim"));
    }
    if labels.numel() != batch {
        return Err(HarkError::shape(
            kernel,
            format!("labels {:?} must hold {batch} elements", labels.shape()),
        ));
    }
    if anchors.numel() != batch * TRIPLET_ANCHOR_WORDS {
        return Err(HarkError::shape(
            kernel,
            format!(
                "anchors {:?} must be [{batch}, {TRIPLET_ANCHOR_WORDS}]",
                anchors.shape()
            ),
        ));
    }
    if !margin.is_finite() {
        return Err(HarkError::invalid(
            kernel,
            format!("margin {margin} is not finite"),
        ));
    }
    let params = TripletParams {
        batch: to_u32(kernel, batch)?,
        dim: to_u32(kernel, dim)?,
        metric: metric.code(),
        margin,
        upstream: 0.0,
    };
    to_u32(kernel, batch * dim)?;
    // `hardest`: 64 threads stride over the batch, each computing a dim-long distance;
    // `backward`: one thread walks every anchor (README, "Portability: loop budget per
    // invocation").
    let worst = (batch.div_ceil(64) * (dim + 1) + 6).max(batch);
    crate::kernels::check_loop_budget(
        kernel,
        worst,
        &format!("a batch of {batch} embeddings of dim {dim}"),
    )?;
    Ok((params, batch * dim))
}

/// Batch-hard triplet loss (Hermans, Beyer, Leibe 2017; REFERENCE-SPECS §5) of `embeddings`
/// `[batch, dim]` with class `labels` (`[batch]`, whole numbers stored as f32): for each anchor
/// the farthest same-label sample and the nearest other-label sample (ties to the lower
/// index), `max(0, margin + d(a, p) - d(a, n))`, averaged over the anchors that have both into
/// `loss` (1 element; 0 when no anchor has). `anchors` (`[batch, 6]`) receives each anchor's
/// record (positive and negative index or -1, their distances, inverse norm, hinge value),
/// which the backward reads. A label that is not a whole number in [0, 2^24) or a NaN distance
/// makes the loss NaN. Two dispatches.
#[allow(clippy::too_many_arguments)] // Inputs, two settings, scratch and the output.
pub fn batch_hard_triplet(
    rec: &mut Recorder,
    embeddings: &Tensor,
    labels: &Tensor,
    margin: f32,
    metric: TripletMetric,
    anchors: &Tensor,
    loss: &Tensor,
) -> Result<()> {
    let (params, _) = check(HARDEST.name, embeddings, labels, anchors, margin, metric)?;
    loss.expect_dtype(HARDEST.name, DType::F32)?;
    if loss.numel() != 1 {
        return Err(HarkError::shape(
            HARDEST.name,
            format!("loss {:?} must hold one element", loss.shape()),
        ));
    }
    let params = bytemuck::bytes_of(&params);
    let tensors = [embeddings, labels, anchors, loss];
    rec.dispatch(Launch {
        kernel: &HARDEST,
        constants: Vec::new(),
        params,
        tensors: &tensors,
        // One workgroup per anchor.
        workgroups: grid_1d(to_u32(HARDEST.name, labels.numel())?),
    })?;
    rec.dispatch(Launch {
        kernel: &MEAN,
        constants: Vec::new(),
        params,
        tensors: &tensors,
        workgroups: [1, 1, 1],
    })
}

/// Subgradient of [`batch_hard_triplet`] with respect to `embeddings`, times `upstream`
/// (d total / d loss), into `grad` (shape of `embeddings`), through the pairs the forward
/// recorded in `anchors` (same `metric`).
pub fn batch_hard_triplet_backward(
    rec: &mut Recorder,
    embeddings: &Tensor,
    labels: &Tensor,
    metric: TripletMetric,
    anchors: &Tensor,
    upstream: f32,
    grad: &Tensor,
) -> Result<()> {
    let name = BACKWARD.name;
    let (mut params, numel) = check(name, embeddings, labels, anchors, 0.0, metric)?;
    if !upstream.is_finite() {
        return Err(HarkError::invalid(
            name,
            format!("upstream gradient {upstream} is not finite"),
        ));
    }
    grad.expect_dtype(name, DType::F32)?;
    if grad.shape() != embeddings.shape() {
        return Err(HarkError::shape(
            name,
            format!("grad {:?} must be {:?}", grad.shape(), embeddings.shape()),
        ));
    }
    params.upstream = upstream;
    rec.dispatch(Launch::new(
        &BACKWARD,
        &params,
        &[embeddings, labels, anchors, grad],
        grid_1d((numel as u32).div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_structs() {
        crate::shaders::assert_params_match::<TripletParams>(
            Shader::LossBatchHardTriplet,
            "Params",
        );
        assert_eq!(
            Some(TRIPLET_ANCHOR_WORDS * 4),
            crate::shaders::wgsl_struct_size(Shader::LossBatchHardTriplet, "Anchor")
        );
    }
}
