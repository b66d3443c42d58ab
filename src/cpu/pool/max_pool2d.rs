//! CPU twin of `shaders/pool/max_pool2d.wgsl`.

use crate::params::pool::PoolParams;

/// Max pool of `planes` planes of `h x w` (any float type that orders like f32), returning the
/// maxima and their flat positions `iy * w + ix`; the first maximum in scan order wins ties.
/// Shapes must pass [`PoolParams::output_size`]; `(oh, ow)` is its result.
fn pool<T: Copy + PartialOrd>(
    x: &[T],
    neg_inf: T,
    planes: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    p: &PoolParams,
) -> (Vec<T>, Vec<u32>) {
    let mut out = Vec::with_capacity(planes * oh * ow);
    let mut indices = Vec::with_capacity(planes * oh * ow);
    for plane in 0..planes {
        let base = plane * h * w;
        for oy in 0..oh {
            for ox in 0..ow {
                // The window clipped to the image: padding is -inf and never wins.
                let y0 = (oy * p.stride.0) as isize - p.padding.0 as isize;
                let x0 = (ox * p.stride.1) as isize - p.padding.1 as isize;
                let y_start = y0.max(0) as usize;
                let x_start = x0.max(0) as usize;
                let y_end = ((y0 + p.kernel.0 as isize) as usize).min(h);
                let x_end = ((x0 + p.kernel.1 as isize) as usize).min(w);
                let mut best = neg_inf;
                let mut best_index = y_start * w + x_start;
                for iy in y_start..y_end {
                    for ix in x_start..x_end {
                        let k = iy * w + ix;
                        if x[base + k] > best {
                            best = x[base + k];
                            best_index = k;
                        }
                    }
                }
                out.push(best);
                indices.push(best_index as u32);
            }
        }
    }
    (out, indices)
}

/// `max_pool2d(x, return_indices=True)` over `planes = N * C` planes of `h x w`.
pub fn max_pool2d(
    x: &[f32],
    planes: usize,
    (h, w): (usize, usize),
    p: &PoolParams,
) -> (Vec<f32>, Vec<u32>) {
    let Some(out_size) = p.output_size(h, w) else {
        return (Vec::new(), Vec::new());
    };
    pool(x, f32::NEG_INFINITY, planes, (h, w), out_size, p)
}

/// The maxima alone in f64 (the function finite-difference checks differentiate).
pub fn max_pool2d_f64(
    x: &[f64],
    planes: usize,
    (h, w): (usize, usize),
    p: &PoolParams,
) -> Vec<f64> {
    let Some(out_size) = p.output_size(h, w) else {
        return Vec::new();
    };
    pool(x, f64::NEG_INFINITY, planes, (h, w), out_size, p).0
}
