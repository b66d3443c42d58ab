//! CPU twin of `shaders/conv2d/conv2d.wgsl`.

use crate::params::conv2d::{Conv2dDims, Conv2dParams};

/// The forward pass in f64 (also the function finite-difference checks differentiate).
pub fn conv2d_f64(
    x: &[f64],
    weight: &[f64],
    bias: Option<&[f64]>,
    d: &Conv2dDims,
    p: &Conv2dParams,
) -> Vec<f64> {
    let cig = d.c_in / p.groups;
    let cog = d.c_out / p.groups;
    let mut out = Vec::with_capacity(d.n * d.c_out * d.oh * d.ow);
    for b in 0..d.n {
        for oc in 0..d.c_out {
            let g = oc / cog;
            for oy in 0..d.oh {
                for ox in 0..d.ow {
                    let mut acc = bias.map_or(0.0, |bias| bias[oc]);
                    for ci in 0..cig {
                        let ic = g * cig + ci;
                        for ky in 0..d.kh {
                            // Input row, or None inside the zero padding.
                            let Some(iy) = (oy * p.stride.0 + ky).checked_sub(p.padding.0) else {
                                continue;
                            };
                            if iy >= d.h {
                                continue;
                            }
                            for kx in 0..d.kw {
                                let Some(ix) = (ox * p.stride.1 + kx).checked_sub(p.padding.1)
                                else {
                                    continue;
                                };
                                if ix >= d.w {
                                    continue;
                                }
                                acc += x[((b * d.c_in + ic) * d.h + iy) * d.w + ix]
                                    * weight[((oc * cig + ci) * d.kh + ky) * d.kw + kx];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    out
}

/// `conv2d(x, weight, bias)` as torch, accumulated in f64.
pub fn conv2d(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    d: &Conv2dDims,
    p: &Conv2dParams,
) -> Vec<f32> {
    let wide = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let bias = bias.map(wide);
    conv2d_f64(&wide(x), &wide(weight), bias.as_deref(), d, p)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}
