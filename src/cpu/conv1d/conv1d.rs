//! CPU twin of `shaders/conv1d/conv1d.wgsl`, `conv1d_backward_input.wgsl`,
//! `conv1d_backward_weight.wgsl` and `conv1d_backward_bias.wgsl`.

use super::{to_f32, to_f64};
use crate::params::conv1d::{conv1d_output_len, Conv1dParams};

/// Sizes of a conv1d: `x [batch, c_in, l_in]`, `w [c_out, c_in / groups, kernel]`.
#[derive(Clone, Copy, Debug)]
pub struct Conv1dDims {
    pub batch: usize,
    pub c_in: usize,
    pub l_in: usize,
    pub c_out: usize,
    pub kernel: usize,
}

impl Conv1dDims {
    /// Output length (0 when the kernel does not fit).
    pub fn l_out(&self, p: &Conv1dParams) -> usize {
        conv1d_output_len(self.l_in, self.kernel, p).unwrap_or(0)
    }

    /// Visits every (x index, w index, out index) product of the convolution once.
    fn for_each_tap(&self, p: &Conv1dParams, mut f: impl FnMut(usize, usize, usize)) {
        let l_out = self.l_out(p);
        let cig = self.c_in / p.groups;
        let cog = self.c_out / p.groups;
        for n in 0..self.batch {
            for co in 0..self.c_out {
                let g = co / cog;
                for lo in 0..l_out {
                    let y = (n * self.c_out + co) * l_out + lo;
                    for cil in 0..cig {
                        let ci = g * cig + cil;
                        for k in 0..self.kernel {
                            // Position in the zero-padded input, then in x.
                            let pos =
                                (lo * p.stride + k * p.dilation) as isize - p.padding as isize;
                            if pos < 0 || pos >= self.l_in as isize {
                                continue;
                            }
                            let xi = (n * self.c_in + ci) * self.l_in + pos as usize;
                            let wi = (co * cig + cil) * self.kernel + k;
                            f(xi, wi, y);
                        }
                    }
                }
            }
        }
    }
}

/// `conv1d(x, w, bias)` in f64: `[batch, c_out, l_out]`.
pub fn conv1d_f64(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    dims: &Conv1dDims,
    p: &Conv1dParams,
) -> Vec<f64> {
    let l_out = dims.l_out(p);
    let mut out = vec![0.0; dims.batch * dims.c_out * l_out];
    if let Some(bias) = bias {
        for (i, o) in out.iter_mut().enumerate() {
            *o = bias[(i / l_out) % dims.c_out];
        }
    }
    dims.for_each_tap(p, |xi, wi, y| out[y] += x[xi] * w[wi]);
    out
}

/// `conv1d(x, w, bias)`: `[batch, c_out, l_out]`, accumulated in f64.
pub fn conv1d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    dims: &Conv1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let bias = bias.map(to_f64);
    to_f32(&conv1d_f64(
        &to_f64(x),
        &to_f64(w),
        bias.as_deref(),
        dims,
        p,
    ))
}

/// Input gradient `[batch, c_in, l_in]`: each product's output gradient times its weight,
/// scattered back to the input element it read.
pub fn conv1d_backward_input(
    grad_out: &[f32],
    w: &[f32],
    dims: &Conv1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let mut grad = vec![0.0f64; dims.batch * dims.c_in * dims.l_in];
    dims.for_each_tap(p, |xi, wi, y| {
        grad[xi] += f64::from(grad_out[y]) * f64::from(w[wi]);
    });
    to_f32(&grad)
}

/// Weight gradient `[c_out, c_in / groups, kernel]`.
pub fn conv1d_backward_weight(
    x: &[f32],
    grad_out: &[f32],
    dims: &Conv1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let mut grad = vec![0.0f64; dims.c_out * (dims.c_in / p.groups) * dims.kernel];
    dims.for_each_tap(p, |xi, wi, y| {
        grad[wi] += f64::from(grad_out[y]) * f64::from(x[xi]);
    });
    to_f32(&grad)
}

/// Bias gradient `[channels]` of `grad_out [batch, channels, len]`.
pub fn conv1d_backward_bias(
    grad_out: &[f32],
    batch: usize,
    channels: usize,
    len: usize,
) -> Vec<f32> {
    let mut grad = vec![0.0f64; channels];
    for n in 0..batch {
        for (c, g) in grad.iter_mut().enumerate() {
            let row = &grad_out[(n * channels + c) * len..][..len];
            *g += row.iter().map(|&v| f64::from(v)).sum::<f64>();
        }
    }
    to_f32(&grad)
}
