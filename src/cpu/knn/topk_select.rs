//! CPU reference for `shaders/knn/topk_select.wgsl` over a whole score matrix: the k best of
//! every row, score descending, ties to the lower index; NaN, -inf and scores below f32's lowest
//! value never enter, and missing entries are the empty slot (f32::MIN, u32::MAX), as in the
//! shader.

use crate::params::knn::EMPTY_INDEX;

/// (indices, scores) `[queries, k]` of the row-major `scores` `[queries, cols]`.
pub fn topk_select(scores: &[f64], cols: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let mut indices = Vec::new();
    let mut values = Vec::new();
    if cols == 0 {
        return (indices, values);
    }
    for row in scores.chunks(cols) {
        let mut entries: Vec<(f64, u32)> = row
            .iter()
            .enumerate()
            .filter(|(_, s)| **s >= f64::from(f32::MIN))
            .map(|(j, &s)| (s, j as u32))
            .collect();
        // Compared as the shader compares: -0.0 equals 0.0 (total_cmp would order them), and NaN
        // was filtered out above.
        entries.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        entries.resize(k.max(entries.len()), (f64::from(f32::MIN), EMPTY_INDEX));
        for &(s, j) in &entries[..k] {
            indices.push(j);
            values.push(s as f32);
        }
    }
    (indices, values)
}
