//! CPU twin of `shaders/conv2d/conv2d_backward_input.wgsl` (the same gather, in f64).

use crate::params::conv2d::{Conv2dDims, Conv2dParams};

/// Gradient of `sum(conv2d(x, weight) * grad_out)` with respect to `x`, shape `[N, C_in, H, W]`.
pub fn conv2d_backward_input(
    grad_out: &[f32],
    weight: &[f32],
    d: &Conv2dDims,
    p: &Conv2dParams,
) -> Vec<f32> {
    let cig = d.c_in / p.groups;
    let cog = d.c_out / p.groups;
    let mut grad = Vec::with_capacity(d.n * d.c_in * d.h * d.w);
    for b in 0..d.n {
        for ic in 0..d.c_in {
            let (g, ci) = (ic / cig, ic % cig);
            for iy in 0..d.h {
                for ix in 0..d.w {
                    let mut acc = 0f64;
                    for oc in g * cog..(g + 1) * cog {
                        for ky in 0..d.kh {
                            // Output row oy reads input row oy * sh - ph + ky.
                            let Some(ty) = (iy + p.padding.0).checked_sub(ky) else {
                                continue;
                            };
                            if ty % p.stride.0 != 0 || ty / p.stride.0 >= d.oh {
                                continue;
                            }
                            let oy = ty / p.stride.0;
                            for kx in 0..d.kw {
                                let Some(tx) = (ix + p.padding.1).checked_sub(kx) else {
                                    continue;
                                };
                                if tx % p.stride.1 != 0 || tx / p.stride.1 >= d.ow {
                                    continue;
                                }
                                let ox = tx / p.stride.1;
                                acc += f64::from(
                                    grad_out[((b * d.c_out + oc) * d.oh + oy) * d.ow + ox],
                                ) * f64::from(
                                    weight[((oc * cig + ci) * d.kh + ky) * d.kw + kx],
                                );
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
