//! CPU reference for `shaders/knn/normalize_rows.wgsl`: each row over its L2 norm, the norm in
//! f64; a zero row stays a zero row.

/// `x` `[rows, dim]` with every row L2-normalised.
pub fn normalize_rows(x: &[f32], dim: usize) -> Vec<f32> {
    super::normalize_rows_f64(x, dim)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}
