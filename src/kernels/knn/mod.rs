//! Brute-force k-nearest-neighbour search as FAISS does it on GPUs: score tiles of queries x
//! database rows (a matmul-style tiled kernel), then a per-query top-k selection that merges each
//! tile into a running list, so databases of several tensors (chunks) and any number of tiles are
//! merged on the GPU. Cosine search L2-normalises both sides first; the same kernels rank by minus
//! the squared Euclidean distance for k-means and Mahalanobis search. The centroid update of
//! k-means lives here too.
//!
//! Index tensors hold `u32` in 4-byte elements (the tensor's dtype says F32; read them with
//! [`download_indices`]).

mod centroid_update;
mod normalize_rows;
mod similarity;
mod topk;
mod topk_select;

pub use centroid_update::centroid_update;
pub use normalize_rows::normalize_rows;
pub use similarity::{similarity, similarity_flops, Metric, ScoreTile};
pub use topk::{cosine_topk, knn_topk, TopkOptions};
pub use topk_select::max_select_cols;
pub use topk_select::{max_k, topk_select, SelectTile};

use crate::context::Context;
use crate::error::Result;
use crate::tensor::Tensor;

/// Downloads a tensor of `u32` indices (as written by [`topk_select`]). Waits for the GPU.
pub fn download_indices(ctx: &Context, indices: &Tensor) -> Result<Vec<u32>> {
    indices.expect_dtype("download_indices", crate::tensor::DType::F32)?;
    // The words are copied, never computed with, so every bit pattern survives the f32 detour.
    Ok(indices.to_vec(ctx)?.into_iter().map(f32::to_bits).collect())
}

pub use crate::params::knn::EMPTY_INDEX;
