//! Shared parameters of k-means (see [`crate::params`]): its options and result, and the
//! k-means++ seeds both the GPU path and the CPU reference start from.

use crate::error::{HarkError, Result};
use crate::params::knn::host_rows;
use crate::rng::SeededRng;

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

pub(crate) fn check(data: &[f32], dim: usize, options: &KMeansOptions) -> Result<usize> {
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
