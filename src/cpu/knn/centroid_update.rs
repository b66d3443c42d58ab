//! CPU reference for `shaders/knn/centroid_update.wgsl`: means of the assigned points in f64; an
//! empty cluster keeps its centroid.

/// New centroids `[clusters, dim]` from `points` `[n, dim]` and their cluster `assign`ments.
pub fn centroid_update(points: &[f32], assign: &[u32], centroids: &[f32], dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let clusters = centroids.len() / dim;
    let mut sums = vec![0.0f64; clusters * dim];
    let mut counts = vec![0usize; clusters];
    for (row, &c) in points.chunks(dim).zip(assign) {
        let c = c as usize;
        if c >= clusters {
            continue;
        }
        counts[c] += 1;
        for (s, &v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row) {
            *s += f64::from(v);
        }
    }
    let mut out = centroids.to_vec();
    for c in 0..clusters {
        if counts[c] > 0 {
            for j in 0..dim {
                out[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
            }
        }
    }
    out
}
