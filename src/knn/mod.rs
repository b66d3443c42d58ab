//! Nearest-neighbour search and clustering on the GPU, from host data: [`CosineIndex`] (cosine
//! top-k over a database stored as f32 or f16, split into chunks where it exceeds one storage
//! binding), [`kmeans`] (k-means++ seeds, Lloyd iterations on the GPU) and
//! [`MahalanobisIndex`] (whitening by the database's covariance, then Euclidean top-k). The
//! kernels are in [`crate::kernels::knn`], their CPU references in [`crate::cpu::knn`].

mod cosine_index;
mod kmeans;
mod mahalanobis;

pub use cosine_index::{CosineIndex, IndexOptions};
pub use kmeans::{kmeans, kmeans_plus_plus, Distance, KMeansOptions, KMeansResult};
pub use mahalanobis::{MahalanobisIndex, Whitening};

use crate::context::Context;
use crate::error::{HarkError, Result};

use crate::params::knn::host_rows;

/// Rows of `bytes_per_row` that fit one storage binding (at least 1).
fn rows_per_binding(ctx: &Context, bytes_per_row: usize) -> usize {
    let limit = ctx
        .limits()
        .max_storage_buffer_binding_size
        .min(ctx.limits().max_buffer_size);
    // Tensors round allocations up to 16 bytes.
    ((limit.saturating_sub(16) as usize) / bytes_per_row.max(1)).max(1)
}

/// The errors every search reports before touching the GPU.
fn check_search(what: &'static str, rows: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(HarkError::invalid(what, "k must be at least 1"));
    }
    if k > rows {
        return Err(HarkError::invalid(
            what,
            format!("k = {k} exceeds the {rows} database rows"),
        ));
    }
    Ok(())
}
