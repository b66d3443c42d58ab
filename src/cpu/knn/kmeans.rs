//! CPU reference for GPU k-means ([`crate::knn::kmeans`]): the same k-means++ seeds, then Lloyd
//! iterations in f64 with the kernels' assignment rule (highest score, ties to the lower
//! centroid index) and update rule (mean of the assigned points, re-normalised for cosine; an
//! empty cluster keeps its centroid).

use super::{dot, normalize_rows_f64};
use crate::error::Result;
use crate::params::kmeans::{kmeans_plus_plus, Distance, KMeansOptions, KMeansResult};

/// k-means of `data` `[rows, dim]` as [`crate::knn::kmeans`] runs it, in f64.
pub fn kmeans(data: &[f32], dim: usize, options: &KMeansOptions) -> Result<KMeansResult> {
    let seeds = kmeans_plus_plus(data, dim, options)?;
    let points: Vec<f64> = match options.distance {
        Distance::Cosine => normalize_rows_f64(data, dim),
        Distance::Euclidean => data.iter().map(|&v| f64::from(v)).collect(),
    };
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let clusters = options.clusters;
    let mut centroids: Vec<f64> = seeds.iter().flat_map(|&i| row(i).to_vec()).collect();
    let assign_all = |centroids: &[f64]| -> Vec<u32> {
        points
            .chunks(dim)
            .map(|p| {
                let mut best = (f64::NEG_INFINITY, 0u32);
                for (c, centroid) in centroids.chunks(dim).enumerate() {
                    let score = match options.distance {
                        Distance::Cosine => dot(p, centroid),
                        Distance::Euclidean => -p
                            .iter()
                            .zip(centroid)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f64>(),
                    };
                    // Strictly greater: a tie keeps the lower centroid index.
                    if score > best.0 {
                        best = (score, c as u32);
                    }
                }
                best.1
            })
            .collect()
    };
    for _ in 0..options.iterations {
        let assign = assign_all(&centroids);
        let mut sums = vec![0.0f64; clusters * dim];
        let mut counts = vec![0usize; clusters];
        for (i, &c) in assign.iter().enumerate() {
            let c = c as usize;
            counts[c] += 1;
            for (s, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                *s += v;
            }
        }
        for c in 0..clusters {
            if counts[c] == 0 {
                continue;
            }
            let mean: Vec<f64> = sums[c * dim..(c + 1) * dim]
                .iter()
                .map(|s| s / counts[c] as f64)
                .collect();
            centroids[c * dim..(c + 1) * dim].copy_from_slice(&mean);
        }
        if options.distance == Distance::Cosine {
            for centroid in centroids.chunks_mut(dim) {
                let norm = centroid.iter().map(|v| v * v).sum::<f64>().sqrt();
                if norm > 0.0 {
                    centroid.iter_mut().for_each(|v| *v /= norm);
                }
            }
        }
    }
    let assignments = assign_all(&centroids);
    Ok(KMeansResult {
        centroids: centroids.iter().map(|&v| v as f32).collect(),
        assignments,
        dim,
    })
}
