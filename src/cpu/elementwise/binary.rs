//! CPU twin of `shaders/elementwise/binary.wgsl`.

use crate::params::elementwise::BinaryOp;

/// `out[i] = a[i] op b[i % b.len()]`.
pub fn binary(op: BinaryOp, a: &[f32], b: &[f32]) -> Vec<f32> {
    (0..a.len())
        .map(|i| {
            let x = a[i];
            let y = b[i % b.len()];
            match op {
                BinaryOp::Add => x + y,
                BinaryOp::Mul => x * y,
            }
        })
        .collect()
}
