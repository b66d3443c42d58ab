//! CPU reference for `shaders/knn/similarity.wgsl`: the full score matrix in f64.

use crate::params::knn::Metric;

/// `scores[q, j]` for every query row and database row (`[queries, rows]`), in f64: the dot
/// product, or minus the squared Euclidean distance.
pub fn similarity(queries: &[f32], database: &[f32], dim: usize, metric: Metric) -> Vec<f64> {
    let dim = dim.max(1);
    let mut out = Vec::with_capacity((queries.len() / dim) * (database.len() / dim));
    for q in queries.chunks(dim) {
        for x in database.chunks(dim) {
            let pairs = q.iter().zip(x).map(|(&a, &b)| (f64::from(a), f64::from(b)));
            out.push(match metric {
                Metric::Dot => pairs.map(|(a, b)| a * b).sum(),
                Metric::NegSquaredL2 => -pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
            });
        }
    }
    out
}
