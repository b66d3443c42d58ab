//! CPU twin of `shaders/conv2d/conv2d_backward_weight.wgsl` (the same sum, in f64).

use crate::params::conv2d::{Conv2dDims, Conv2dParams};

/// Gradient of `sum(conv2d(x, weight) * grad_out)` with respect to the weight, shape
/// `[C_out, C_in / groups, KH, KW]`, summed over the batch.
pub fn conv2d_backward_weight(
    grad_out: &[f32],
    x: &[f32],
    d: &Conv2dDims,
    p: &Conv2dParams,
) -> Vec<f32> {
    let cig = d.c_in / p.groups;
    let cog = d.c_out / p.groups;
    let mut grad = Vec::with_capacity(d.c_out * cig * d.kh * d.kw);
    for oc in 0..d.c_out {
        for ci in 0..cig {
            let ic = (oc / cog) * cig + ci;
            for ky in 0..d.kh {
                for kx in 0..d.kw {
                    let mut acc = 0f64;
                    for b in 0..d.n {
                        for oy in 0..d.oh {
                            for ox in 0..d.ow {
                                let iy = (oy * p.stride.0 + ky).checked_sub(p.padding.0);
                                let ix = (ox * p.stride.1 + kx).checked_sub(p.padding.1);
                                let (Some(iy), Some(ix)) = (iy, ix) else {
                                    continue;
                                };
                                if iy >= d.h || ix >= d.w {
                                    continue;
                                }
                                acc += f64::from(
                                    grad_out[((b * d.c_out + oc) * d.oh + oy) * d.ow + ox],
                                ) * f64::from(x[((b * d.c_in + ic) * d.h + iy) * d.w + ix]);
                            }
                        }
                    }
                    grad.push(acc as f32);
                }
            }
        }
    }
    grad
}
