//! A reference of one whole dense `AllInOneBlock` (Linear-ReLU-Linear subnet) built from the flow
//! twins, for the log-det-versus-Jacobian and gradient tests.

use super::{channel_gather, coupling_forward, global_affine_forward, FlowDims};

/// The weights of one dense block as plain vectors (torch layouts).
#[derive(Clone, Debug)]
pub struct DenseBlockWeights {
    pub channels: usize,
    pub hidden: usize,
    /// `[hidden, C1]`, `[hidden]`.
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    /// `[2 C2, hidden]`, `[2 C2]`.
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub global_scale: Vec<f32>,
    pub global_offset: Vec<f32>,
    pub perm: Vec<usize>,
    pub clamp: f32,
}

fn linear(x: &[f32], rows: usize, w: &[f32], b: &[f32], inputs: usize) -> Vec<f32> {
    let outputs = b.len();
    let mut y = vec![0.0; rows * outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let mut sum = b[o];
            for i in 0..inputs {
                sum += x[r * inputs + i] * w[o * inputs + i];
            }
            y[r * outputs + o] = sum;
        }
    }
    y
}

/// `(y, logdet)` of the block on `[n, C]` vectors `x`.
pub fn dense_block_forward(x: &[f32], n: usize, w: &DenseBlockWeights) -> (Vec<f32>, Vec<f32>) {
    let d = FlowDims {
        n,
        channels: w.channels,
        inner: 1,
    };
    let split = d.split();
    let x1 = channel_gather(x, d, &(0..split).collect::<Vec<_>>());
    let mut h = linear(&x1, n, &w.w1, &w.b1, split);
    h.iter_mut().for_each(|v| *v = v.max(0.0));
    let a = linear(&h, n, &w.w2, &w.b2, w.hidden);
    let (u, mut logdet) = coupling_forward(x, &a, d, w.clamp);
    let (v, affine) = global_affine_forward(&u, &w.global_scale, &w.global_offset, d);
    logdet.iter_mut().zip(&affine).for_each(|(l, a)| *l += a);
    (channel_gather(&v, d, &w.perm), logdet)
}
