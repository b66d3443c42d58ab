//! CPU twin of `shaders/matmul/matmul.wgsl`: the same sum in the same order (k ascending, one
//! fused multiply-add per step), then bias and activation.

use crate::params::matmul::Activation;

/// Shapes and layout of a CPU matmul; data are row-major as in the GPU kernel.
#[derive(Clone, Copy, Debug)]
pub struct MatmulShape {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// A is `[K, M]` per batch item.
    pub trans_a: bool,
    /// B is `[N, K]` per batch item.
    pub trans_b: bool,
    /// A holds one item shared by the whole batch.
    pub shared_a: bool,
    /// B holds one item shared by the whole batch.
    pub shared_b: bool,
}

/// Applies the epilogue activation, as `activate` in the shader.
pub fn activate(activation: Activation, x: f32) -> f32 {
    match activation {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu(slope) => {
            if x >= 0.0 {
                x
            } else {
                slope * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::Decibel { eps } => 10.0 * x.max(eps).log10(),
        Activation::LogNatural { eps } => x.max(eps).ln(),
    }
}

/// `out[b] = act(op(a[b]) x op(b[b]) + bias)`, `[batch, M, N]`.
pub fn matmul(
    shape: MatmulShape,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
) -> Vec<f32> {
    let MatmulShape { batch, m, n, k, .. } = shape;
    let mut out = vec![0.0f32; batch * m * n];
    for item in 0..batch {
        let base_a = if shape.shared_a { 0 } else { item * m * k };
        let base_b = if shape.shared_b { 0 } else { item * k * n };
        for row in 0..m {
            for col in 0..n {
                let mut acc = 0.0f32;
                for kk in 0..k {
                    let x = if shape.trans_a {
                        a[base_a + kk * m + row]
                    } else {
                        a[base_a + row * k + kk]
                    };
                    let y = if shape.trans_b {
                        b[base_b + col * k + kk]
                    } else {
                        b[base_b + kk * n + col]
                    };
                    acc = x.mul_add(y, acc);
                }
                if let Some(bias) = bias {
                    acc += bias[col];
                }
                out[item * m * n + row * n + col] = activate(activation, acc);
            }
        }
    }
    out
}

/// Row-major `c = a x b` (`[M, K] x [K, N]`) by the `matrixmultiply` crate on all cores: the CPU
/// library that `hark bench matmul` and `benches/matmul.rs` measure the GPU kernel against.
pub fn sgemm_matrixmultiply(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "sgemm_matrixmultiply: slices shorter than the shapes"
    );
    // SAFETY: the asserts above guarantee that every element the row-major strides reach is
    // inside its slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
