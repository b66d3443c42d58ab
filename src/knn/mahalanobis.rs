//! Mahalanobis nearest neighbours: the covariance of the database and its inverse Cholesky
//! factor in f64 on the CPU, the whitening `x -> L^-1 (x - mean)` on the GPU by the matmul
//! kernel, then Euclidean top-k by the kNN kernels: `||L^-1 (x - y)||^2 = (x - y)^T S^-1 (x - y)`.

use super::{check_search, host_rows, rows_per_binding, IndexOptions};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::knn::{download_indices, knn_topk, Metric, TopkOptions};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

pub use crate::params::knn::Whitening;

/// A database whitened on the GPU, searched by squared Mahalanobis distance.
#[derive(Clone, Debug)]
pub struct MahalanobisIndex {
    ctx: Context,
    whitening: Whitening,
    /// `transform` as f32 `[dim, dim]`, and `-transform . mean` (the matmul bias).
    transform: Tensor,
    bias: Tensor,
    chunks: Vec<Tensor>,
    rows: usize,
    options: IndexOptions,
}

impl MahalanobisIndex {
    /// Fits the whitening to `data` (see [`Whitening::fit`]) and stores the whitened rows
    /// (f32; `options.storage` must be f32 here). Errors as [`Whitening::fit`], plus an empty
    /// database.
    pub fn from_slice(
        ctx: &Context,
        data: &[f32],
        dim: usize,
        ridge: f64,
        options: IndexOptions,
    ) -> Result<Self> {
        options.storage_must_be_f32()?;
        let whitening = Whitening::fit(data, dim, ridge)?;
        let transform: Vec<f32> = whitening.transform.iter().map(|&v| v as f32).collect();
        let bias: Vec<f32> = (0..dim)
            .map(|r| {
                -(0..dim)
                    .map(|c| whitening.transform[r * dim + c] * whitening.mean[c])
                    .sum::<f64>() as f32
            })
            .collect();
        let transform = Tensor::from_slice(ctx, &[dim, dim], &transform)?;
        let bias = Tensor::from_slice(ctx, &[dim], &bias)?;
        let rows = data.len() / dim;
        let fit = rows_per_binding(ctx, 4 * dim);
        let chunk_rows = options.chunk_rows.unwrap_or(fit).clamp(1, fit);
        let mut index = Self {
            ctx: ctx.clone(),
            whitening,
            transform,
            bias,
            chunks: Vec::new(),
            rows,
            options,
        };
        for rows_here in data.chunks(chunk_rows * dim) {
            let n = rows_here.len() / dim;
            let raw = Tensor::from_slice(ctx, &[n, dim], rows_here)?;
            let whitened = Tensor::zeros(ctx, &[n, dim], DType::F32)?;
            let mut rec = Recorder::new(ctx);
            index.whiten(&mut rec, &raw, &whitened)?;
            rec.submit()?;
            index.chunks.push(whitened);
        }
        Ok(index)
    }

    /// The fitted whitening.
    pub fn whitening(&self) -> &Whitening {
        &self.whitening
    }

    /// Database rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Always false: an empty database is refused at build time.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Records `out = transform . x + bias` row by row: `x [n, dim] x transform^T`.
    fn whiten(&self, rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
        matmul(
            rec,
            x,
            &self.transform,
            out,
            &MatmulOptions {
                trans_b: true,
                bias: Some(&self.bias),
                ..Default::default()
            },
        )
    }

    /// The `k` nearest database rows of every query by Mahalanobis distance: (indices, squared
    /// distances), `[queries, k]` each, nearest first, ties to the lower index.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        let dim = self.whitening.dim;
        let nq = host_rows("mahalanobis search", queries.len(), dim)?;
        check_search("mahalanobis search", self.rows, k)?;
        let batch = rows_per_binding(&self.ctx, 4 * dim.max(k)).max(1);
        let mut indices = Vec::with_capacity(nq * k);
        let mut distances = Vec::with_capacity(nq * k);
        let chunks: Vec<&Tensor> = self.chunks.iter().collect();
        for block in queries.chunks(batch * dim) {
            let n = block.len() / dim;
            let raw = Tensor::from_slice(&self.ctx, &[n, dim], block)?;
            let whitened = Tensor::zeros(&self.ctx, &[n, dim], DType::F32)?;
            let scores = Tensor::zeros(&self.ctx, &[n, k], DType::F32)?;
            let best = Tensor::zeros(&self.ctx, &[n, k], DType::F32)?;
            let mut rec = Recorder::new(&self.ctx);
            self.whiten(&mut rec, &raw, &whitened)?;
            knn_topk(
                &mut rec,
                &whitened,
                &chunks,
                k,
                Metric::NegSquaredL2,
                &scores,
                &best,
                &TopkOptions {
                    tile_cols: self.options.tile_cols,
                },
            )?;
            rec.submit()?;
            indices.extend(download_indices(&self.ctx, &best)?);
            distances.extend(scores.to_vec(&self.ctx)?.into_iter().map(|s| -s));
        }
        Ok((indices, distances))
    }
}

impl IndexOptions {
    fn storage_must_be_f32(&self) -> Result<()> {
        if self.storage != DType::F32 {
            return Err(HarkError::DType {
                kernel: "mahalanobis index",
                expected: "f32",
                got: self.storage.name(),
            });
        }
        Ok(())
    }
}
