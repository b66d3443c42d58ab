//! CPU reference of `conv_transpose1d` and its gradients, written from torch's definition (each
//! input element scatters `x * w` to output position `l * stride + k * dilation - padding`),
//! independently of the conv1d kernels that the GPU path reuses.

use super::{to_f32, to_f64};
use crate::params::conv1d::{conv_transpose1d_output_len, Conv1dParams};

/// Sizes of a conv_transpose1d: `x [batch, c_in, l_in]`, `w [c_in, c_out / groups, kernel]`.
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose1dDims {
    pub batch: usize,
    pub c_in: usize,
    pub l_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub output_padding: usize,
}

impl ConvTranspose1dDims {
    /// Output length (0 when negative).
    pub fn l_out(&self, p: &Conv1dParams) -> usize {
        conv_transpose1d_output_len(self.l_in, self.kernel, p, self.output_padding).unwrap_or(0)
    }

    /// Visits every (x index, w index, out index) product once.
    fn for_each_tap(&self, p: &Conv1dParams, mut f: impl FnMut(usize, usize, usize)) {
        let l_out = self.l_out(p);
        let cig = self.c_in / p.groups;
        let cog = self.c_out / p.groups;
        for n in 0..self.batch {
            for ci in 0..self.c_in {
                let g = ci / cig;
                for l in 0..self.l_in {
                    let xi = (n * self.c_in + ci) * self.l_in + l;
                    for col in 0..cog {
                        let co = g * cog + col;
                        for k in 0..self.kernel {
                            let pos = (l * p.stride + k * p.dilation) as isize - p.padding as isize;
                            if pos < 0 || pos >= l_out as isize {
                                continue;
                            }
                            let yi = (n * self.c_out + co) * l_out + pos as usize;
                            let wi = (ci * cog + col) * self.kernel + k;
                            f(xi, wi, yi);
                        }
                    }
                }
            }
        }
    }
}

/// `conv_transpose1d(x, w, bias)` in f64: `[batch, c_out, l_out]`.
pub fn conv_transpose1d_f64(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    dims: &ConvTranspose1dDims,
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

/// `conv_transpose1d(x, w, bias)`: `[batch, c_out, l_out]`, accumulated in f64.
pub fn conv_transpose1d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    dims: &ConvTranspose1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let bias = bias.map(to_f64);
    to_f32(&conv_transpose1d_f64(
        &to_f64(x),
        &to_f64(w),
        bias.as_deref(),
        dims,
        p,
    ))
}

/// Input gradient `[batch, c_in, l_in]`.
pub fn conv_transpose1d_backward_input(
    grad_out: &[f32],
    w: &[f32],
    dims: &ConvTranspose1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let mut grad = vec![0.0f64; dims.batch * dims.c_in * dims.l_in];
    dims.for_each_tap(p, |xi, wi, y| {
        grad[xi] += f64::from(grad_out[y]) * f64::from(w[wi]);
    });
    to_f32(&grad)
}

/// Weight gradient `[c_in, c_out / groups, kernel]`.
pub fn conv_transpose1d_backward_weight(
    x: &[f32],
    grad_out: &[f32],
    dims: &ConvTranspose1dDims,
    p: &Conv1dParams,
) -> Vec<f32> {
    let mut grad = vec![0.0f64; dims.c_in * (dims.c_out / p.groups) * dims.kernel];
    dims.for_each_tap(p, |xi, wi, y| {
        grad[wi] += f64::from(grad_out[y]) * f64::from(x[xi]);
    });
    to_f32(&grad)
}
