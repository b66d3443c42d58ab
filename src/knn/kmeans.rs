//! k-means on the GPU: k-means++ seeds chosen on the CPU (seeded, deterministic), then Lloyd
//! iterations recorded into one submit: assignment by the kNN kernels with k = 1 (ties to the
//! lower centroid index), centroid update by a GPU reduction, re-normalisation for cosine.

use super::host_rows;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::knn::{
    centroid_update, download_indices, knn_topk, normalize_rows, Metric, TopkOptions,
};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// How k-means measures closeness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distance {
    /// Spherical k-means: points and centroids L2-normalised, nearest = highest cosine.
    #[default]
    Cosine,
    /// Squared Euclidean distance, centroids are plain means.
    Euclidean,
}

/// Options of [`kmeans`].
#[derive(Clone, Copy, Debug)]
pub struct KMeansOptions {
    pub clusters: usize,
    /// Lloyd iterations (assign, then update), run exactly this many times; the returned
    /// assignments are those to the final centroids.
    pub iterations: usize,
    pub distance: Distance,
    /// Seed of the k-means++ draws.
    pub seed: u64,
}

/// Centroids `[clusters, dim]` (unit rows for cosine) and the cluster of every point.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansResult {
    pub centroids: Vec<f32>,
    pub assignments: Vec<u32>,
    pub dim: usize,
}

/// k-means++ seeds (Arthur & Vassilvitskii 2007): the first point uniformly, each next one with
/// probability proportional to its distance to the nearest seed so far (squared Euclidean, or
/// 1 - cosine, which is half the squared distance of the normalised points). In f64 on the CPU;
/// the GPU path and the CPU reference both start from these indices.
pub fn kmeans_plus_plus(data: &[f32], dim: usize, options: &KMeansOptions) -> Result<Vec<usize>> {
    let rows = check(data, dim, options)?;
    let points: Vec<f64> = match options.distance {
        Distance::Cosine => crate::cpu::knn::normalize_rows_f64(data, dim),
        Distance::Euclidean => data.iter().map(|&v| f64::from(v)).collect(),
    };
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let distance = |a: &[f64], b: &[f64]| match options.distance {
        Distance::Cosine => (1.0 - crate::cpu::knn::dot(a, b)).max(0.0),
        Distance::Euclidean => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
    };
    let mut rng = SeededRng::new(options.seed);
    let mut seeds = vec![(rng.next_u64() % rows as u64) as usize];
    let mut nearest: Vec<f64> = (0..rows).map(|i| distance(row(i), row(seeds[0]))).collect();
    while seeds.len() < options.clusters {
        let total: f64 = nearest.iter().sum();
        let next = if total > 0.0 {
            let target = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut cumulative = 0.0;
            let mut chosen = None;
            for (i, &d) in nearest.iter().enumerate() {
                cumulative += d;
                if d > 0.0 && cumulative > target {
                    chosen = Some(i);
                    break;
                }
            }
            // Rounding can leave the target just past the last sum: take the last candidate.
            chosen.unwrap_or_else(|| nearest.iter().rposition(|&d| d > 0.0).unwrap_or(0))
        } else {
            // Every point sits on a seed: any point will do.
            (rng.next_u64() % rows as u64) as usize
        };
        seeds.push(next);
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(distance(row(i), row(next)));
        }
    }
    Ok(seeds)
}

fn check(data: &[f32], dim: usize, options: &KMeansOptions) -> Result<usize> {
    let rows = host_rows("kmeans", data.len(), dim)?;
    if options.clusters == 0 {
        return Err(HarkError::invalid("kmeans", "clusters must be at least 1"));
    }
    if options.clusters > rows {
        return Err(HarkError::invalid(
            "kmeans",
            format!("{} clusters but only {rows} points", options.clusters),
        ));
    }
    Ok(rows)
}

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
