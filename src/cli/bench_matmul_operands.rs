//! The operands of `hark bench matmul` and the CPU SGEMM it compares with.

use std::time::Instant;

use hark::cpu::matmul::sgemm_matrixmultiply;
use hark::rng::SeededRng;
use hark::{Context, Tensor};

/// Seeded operands `a [m, k]` and `b [k, n]` on the host (row-major, as the CPU reference
/// multiplies them) and on the device, stored transposed where `trans_a` / `trans_b` ask.
pub(super) fn operands(
    ctx: &Context,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
) -> hark::Result<([Vec<f32>; 2], [Tensor; 2])> {
    let mut rng = SeededRng::new(42);
    let a_host = rng.vec(m * k, -1.0, 1.0);
    let b_host = rng.vec(k * n, -1.0, 1.0);
    let a = if trans_a {
        Tensor::from_slice(ctx, &[k, m], &transpose(&a_host, m, k))?
    } else {
        Tensor::from_slice(ctx, &[m, k], &a_host)?
    };
    let b = if trans_b {
        Tensor::from_slice(ctx, &[n, k], &transpose(&b_host, k, n))?
    } else {
        Tensor::from_slice(ctx, &[k, n], &b_host)?
    };
    Ok(([a_host, b_host], [a, b]))
}

/// The CPU SGEMM's result of `a [m, k] x b [k, n]` and, when `timed`, its best time of three
/// runs after a warm-up (the CPU has no compilation to exclude).
pub(super) fn cpu_sgemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    timed: bool,
) -> (Vec<f32>, Option<f64>) {
    let mut out = vec![0.0f32; m * n];
    if !timed {
        sgemm_matrixmultiply(m, n, k, a, b, &mut out);
        return (out, None);
    }
    let mut best = f64::INFINITY;
    for run in 0..4 {
        let start = Instant::now();
        sgemm_matrixmultiply(m, n, k, a, b, &mut out);
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    (out, Some(best))
}

/// `rows x cols` row-major -> `cols x rows` row-major.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}
