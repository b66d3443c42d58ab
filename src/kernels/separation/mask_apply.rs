//! Launchers for `shaders/separation/mask_apply.wgsl` and `mask_apply_backward.wgsl`.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/common/mask_apply_params.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MaskApplyParams {
    n: u32,
    sources: u32,
    inner: u32,
}

const WORKGROUP: u32 = 256;

static FORWARD: Kernel = Kernel {
    name: "mask_apply",
    shader: Shader::SeparationMaskApply,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static BACKWARD: Kernel = Kernel {
    name: "mask_apply_backward",
    shader: Shader::SeparationMaskApplyBackward,
    entry: "main",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

/// (batch, sources, inner) of `mask [batch, sources, ...]` against `feats [batch, ...]`.
fn dims(kernel: &'static str, mask: &Tensor, feats: &Tensor) -> Result<(usize, usize, usize)> {
    let (&[batch, sources, ..], &[fb, ..]) = (mask.shape(), feats.shape()) else {
        return Err(HarkError::shape(
            kernel,
            format!(
                "mask {:?} must be [batch, sources, ...] and feats [batch, ...]",
                mask.shape()
            ),
        ));
    };
    let inner = feats.numel() / fb.max(1);
    if fb != batch || mask.numel() != batch * sources * inner {
        return Err(HarkError::shape(
            kernel,
            format!(
                "mask {:?} does not hold one mask per source of feats {:?}",
                mask.shape(),
                feats.shape()
            ),
        ));
    }
    Ok((batch, sources, inner))
}

/// `out[b, s, ..] = mask[b, s, ..] * feats[b, ..]`: every source's mask applied to the batch
/// item's features. `out` has the mask's element count.
pub fn mask_apply(rec: &mut Recorder, mask: &Tensor, feats: &Tensor, out: &Tensor) -> Result<()> {
    for t in [mask, feats, out] {
        t.expect_dtype(FORWARD.name, DType::F32)?;
    }
    let (_, sources, inner) = dims(FORWARD.name, mask, feats)?;
    if out.numel() != mask.numel() {
        return Err(HarkError::shape(
            FORWARD.name,
            format!("mask {:?} but out {:?}", mask.shape(), out.shape()),
        ));
    }
    let n = to_u32(FORWARD.name, mask.numel())?;
    let params = MaskApplyParams {
        n,
        sources: to_u32(FORWARD.name, sources)?,
        inner: to_u32(FORWARD.name, inner.max(1))?,
    };
    rec.dispatch(Launch::new(
        &FORWARD,
        &params,
        &[mask, feats, out],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

/// Gradients of [`mask_apply`]: `grad_mask` (shape of the mask) and `grad_feats` (shape of the
/// features, summed over the sources; overwritten, not accumulated).
pub fn mask_apply_backward(
    rec: &mut Recorder,
    grad: &Tensor,
    mask: &Tensor,
    feats: &Tensor,
    grad_mask: &Tensor,
    grad_feats: &Tensor,
) -> Result<()> {
    for t in [grad, mask, feats, grad_mask, grad_feats] {
        t.expect_dtype(BACKWARD.name, DType::F32)?;
    }
    let (_, sources, inner) = dims(BACKWARD.name, mask, feats)?;
    if grad.numel() != mask.numel()
        || grad_mask.numel() != mask.numel()
        || grad_feats.numel() != feats.numel()
    {
        return Err(HarkError::shape(
            BACKWARD.name,
            format!(
                "grad {:?}, grad_mask {:?}, grad_feats {:?} for mask {:?} and feats {:?}",
                grad.shape(),
                grad_mask.shape(),
                grad_feats.shape(),
                mask.shape(),
                feats.shape()
            ),
        ));
    }
    let n = to_u32(BACKWARD.name, feats.numel())?;
    let params = MaskApplyParams {
        n,
        sources: to_u32(BACKWARD.name, sources)?,
        inner: to_u32(BACKWARD.name, inner.max(1))?,
    };
    rec.dispatch(Launch::new(
        &BACKWARD,
        &params,
        &[grad, mask, feats, grad_mask, grad_feats],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [
            Shader::SeparationMaskApply,
            Shader::SeparationMaskApplyBackward,
        ] {
            assert_eq!(
                Some(std::mem::size_of::<MaskApplyParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params")
            );
        }
    }
}
