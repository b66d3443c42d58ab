//! k-means on the GPU: k-means++ seeds chosen on the CPU (seeded, deterministic), then Lloyd
//! iterations recorded into one submit: assignment by the kNN kernels with k = 1 (ties to the
//! lower centroid index), centroid update by a GPU reduction, re-normalisation for cosine.

use crate::context::Context;
use crate::error::Result;
use crate::kernels::knn::{
    centroid_update, download_indices, knn_topk, normalize_rows, Metric, TopkOptions,
};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

use crate::params::kmeans::check;
pub use crate::params::kmeans::kmeans_plus_plus;
pub use crate::params::kmeans::Distance;
pub use crate::params::kmeans::KMeansOptions;
pub use crate::params::kmeans::KMeansResult;

/// k-means of `data` `[rows, dim]` on the GPU. The points must fit one storage binding.
/// Errors: no points, clusters 0 or above the number of points, rows not whole.
pub fn kmeans(
    ctx: &Context,
    data: &[f32],
    dim: usize,
    options: &KMeansOptions,
) -> Result<KMeansResult> {
    let rows = check(data, dim, options)?;
    let seeds = kmeans_plus_plus(data, dim, options)?;
    let clusters = options.clusters;
    let raw = Tensor::from_slice(ctx, &[rows, dim], data)?;
    let seed_rows: Vec<f32> = seeds
        .iter()
        .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let raw_seeds = Tensor::from_slice(ctx, &[clusters, dim], &seed_rows)?;
    let mut rec = Recorder::new(ctx);
    let (points, centroids, metric) = match options.distance {
        Distance::Cosine => {
            // The seeds are normalised by the same kernel as the points, so that a seed equals
            // its point bit for bit.
            let points = Tensor::zeros(ctx, &[rows, dim], DType::F32)?;
            normalize_rows(&mut rec, &raw, &points)?;
            let centroids = Tensor::zeros(ctx, &[clusters, dim], DType::F32)?;
            normalize_rows(&mut rec, &raw_seeds, &centroids)?;
            (points, centroids, Metric::Dot)
        }
        Distance::Euclidean => (raw, raw_seeds, Metric::NegSquaredL2),
    };
    let updated = Tensor::zeros(ctx, &[clusters, dim], DType::F32)?;
    let scores = Tensor::zeros(ctx, &[rows, 1], DType::F32)?;
    let assign = Tensor::zeros(ctx, &[rows, 1], DType::F32)?;
    let options_topk = TopkOptions::default();
    for _ in 0..options.iterations {
        knn_topk(
            &mut rec,
            &points,
            &[&centroids],
            1,
            metric,
            &scores,
            &assign,
            &options_topk,
        )?;
        centroid_update(&mut rec, &points, &assign, &centroids, &updated)?;
        match options.distance {
            Distance::Cosine => normalize_rows(&mut rec, &updated, &centroids)?,
            Distance::Euclidean => rec.copy(&updated, &centroids)?,
        }
    }
    knn_topk(
        &mut rec,
        &points,
        &[&centroids],
        1,
        metric,
        &scores,
        &assign,
        &options_topk,
    )?;
    rec.submit()?;
    Ok(KMeansResult {
        centroids: centroids.to_vec(ctx)?,
        assignments: download_indices(ctx, &assign)?,
        dim,
    })
}
