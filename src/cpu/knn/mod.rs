//! CPU references for the kNN kernels and the searches built from them, in f64: row
//! normalisation, score matrices, top-k selection with the kernels' tie rule (score descending,
//! then lower index), cosine and Euclidean search, k-means (same seeding and tie rule as the GPU
//! path) and Mahalanobis search.

mod centroid_update;
mod kmeans;
mod normalize_rows;
mod similarity;
mod topk_select;

pub use centroid_update::centroid_update;
pub use kmeans::kmeans;
pub use normalize_rows::normalize_rows;
pub use similarity::similarity;
pub use topk_select::topk_select;

use crate::params::knn::Metric;

/// Top-`k` of every query against `database` (both row-major with `dim` columns) by `metric`:
/// (indices, scores), `[queries, k]` each; the scores are f64 sums rounded to f32 at the end.
pub fn knn_topk(
    queries: &[f32],
    database: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
) -> (Vec<u32>, Vec<f32>) {
    let n = database.len().checked_div(dim).unwrap_or(0);
    topk_select(&similarity(queries, database, dim, metric), n, k)
}

/// Top-`k` by cosine similarity: both sides normalised in f64 (zero rows stay zero), then
/// [`knn_topk`] with dot products.
pub fn cosine_topk(
    queries: &[f32],
    database: &[f32],
    dim: usize,
    k: usize,
) -> (Vec<u32>, Vec<f32>) {
    let n = database.len().checked_div(dim).unwrap_or(0);
    let q = normalize_rows_f64(queries, dim);
    let x = normalize_rows_f64(database, dim);
    let scores: Vec<f64> = q
        .chunks(dim.max(1))
        .flat_map(|qr| x.chunks(dim.max(1)).map(move |xr| dot(qr, xr)))
        .collect();
    topk_select(&scores, n, k)
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Rows divided by their L2 norm in f64; zero rows stay zero.
pub(crate) fn normalize_rows_f64(x: &[f32], dim: usize) -> Vec<f64> {
    let mut out: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for row in out.chunks_mut(dim.max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    out
}

/// Mahalanobis search: both sides whitened in f64 by `whitening`, then Euclidean top-`k`:
/// (indices, squared Mahalanobis distances ascending), `[queries, k]` each.
pub fn mahalanobis_topk(
    queries: &[f32],
    database: &[f32],
    whitening: &crate::params::knn::Whitening,
    k: usize,
) -> (Vec<u32>, Vec<f32>) {
    let dim = whitening.dim.max(1);
    let q = whitening.apply(queries);
    let x = whitening.apply(database);
    let scores: Vec<f64> = q
        .chunks(dim)
        .flat_map(|qr| {
            x.chunks(dim).map(move |xr| {
                -qr.iter()
                    .zip(xr)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
        })
        .collect();
    let (indices, scores) = topk_select(&scores, x.len() / dim, k);
    (indices, scores.into_iter().map(|s| -s).collect())
}
