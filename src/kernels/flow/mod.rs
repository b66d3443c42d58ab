//! Normalizing-flow kernels (FrEIA `AllInOneBlock` semantics, REFERENCE-SPECS §6): the affine
//! coupling with its soft clamp, the softplus-scaled global affine, channel gather/scatter (the
//! fixed permutation and the x1 split) and the flow's negative log-likelihood. Every tensor is
//! viewed as `[N, C, P]`: `[N, D]` vectors have P = 1, `[N, C, H, W]` maps P = H W.

mod channel_gather;
mod coupling;
mod global_affine;
mod nll;

pub use channel_gather::{channel_gather, channel_scatter_add, index_tensor};
pub use coupling::{coupling_backward, coupling_forward, coupling_inverse};
pub use global_affine::{
    global_affine_backward, global_affine_forward, global_affine_inverse, unit_scale_g,
};
pub use nll::{flow_nll, flow_nll_backward};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::tensor::{DType, Tensor};

/// `(N, C, P)` of a flow tensor: batch, channels and positions per channel (1 for vectors).
pub fn flow_layout(kernel: &'static str, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match shape {
        [n, c, rest @ ..] if *n > 0 && *c > 0 && rest.iter().all(|&d| d > 0) => {
            Ok((*n, *c, rest.iter().product()))
        }
        _ => Err(HarkError::shape(
            kernel,
            format!("{shape:?} must be [N, C] or [N, C, H, W] with no empty axis"),
        )),
    }
}

/// Checks f32 and the element count of each tensor.
fn expect_sizes(kernel: &'static str, tensors: &[(&str, &Tensor, usize)]) -> Result<()> {
    for &(name, t, numel) in tensors {
        t.expect_dtype(kernel, DType::F32)?;
        if t.numel() != numel {
            return Err(HarkError::shape(
                kernel,
                format!("{name} {:?} must hold {numel} values", t.shape()),
            ));
        }
    }
    Ok(())
}

/// `(N, C, P)` as u32 with the whole element count checked to fit.
fn layout_u32(kernel: &'static str, shape: &[usize]) -> Result<(u32, u32, u32)> {
    let (n, c, p) = flow_layout(kernel, shape)?;
    to_u32(kernel, n * c * p)?;
    // The per-sample entries stride one workgroup over a sample's c * p values, global_affine's
    // backward over a channel's n * p, each then an 8-level tree (README, "Portability: loop
    // budget per invocation").
    crate::kernels::check_loop_budget(
        kernel,
        (c * p).max(n * p).div_ceil(256) + 8,
        &format!("{n} samples of {c} channels x {p} positions"),
    )?;
    Ok((to_u32(kernel, n)?, to_u32(kernel, c)?, to_u32(kernel, p)?))
}
