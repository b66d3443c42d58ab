//! [`CosineIndex`]: a database of L2-normalised rows on the GPU, searched by cosine similarity.

use super::{check_search, host_rows, rows_per_binding};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::knn::{cosine_topk, download_indices, normalize_rows, TopkOptions};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// How an index stores and searches its database.
#[derive(Clone, Copy, Debug)]
pub struct IndexOptions {
    /// Element type of the stored (normalised) rows: f32, or f16 (half the memory and traffic,
    /// about 3 significant digits per element; needs `SHADER_F16` for the tensor, and the build
    /// fails with a `DType` error on a device without it). Scores are accumulated in f32 either
    /// way.
    pub storage: DType,
    /// Rows per database tensor (default: as many as fit one storage binding). A small value
    /// splits a small database into several chunks, whose top-k the GPU merges.
    pub chunk_rows: Option<usize>,
    /// Database rows per score tile (see [`TopkOptions::tile_cols`]).
    pub tile_cols: Option<usize>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            storage: DType::F32,
            chunk_rows: None,
            tile_cols: None,
        }
    }
}

/// A cosine-similarity index: rows normalised on the GPU at build time (a zero row becomes a
/// zero vector, similarity 0 to everything), stored in one or more chunks.
#[derive(Clone, Debug)]
pub struct CosineIndex {
    ctx: Context,
    chunks: Vec<Tensor>,
    rows: usize,
    dim: usize,
    options: IndexOptions,
}

impl CosineIndex {
    /// Builds an index of `data` (row-major, `dim` columns). Errors: `dim` 0, a length that is
    /// not whole rows, an empty database, f16 storage on a device without `SHADER_F16`.
    pub fn from_slice(
        ctx: &Context,
        data: &[f32],
        dim: usize,
        options: IndexOptions,
    ) -> Result<Self> {
        let rows = host_rows("cosine_index", data.len(), dim)?;
        if rows == 0 {
            return Err(HarkError::invalid("cosine_index", "the database is empty"));
        }
        // The raw rows are uploaded as f32 before normalisation, so a chunk's f32 form must fit.
        let fit = rows_per_binding(ctx, 4 * dim);
        let chunk_rows = options.chunk_rows.unwrap_or(fit).clamp(1, fit);
        let mut chunks = Vec::new();
        for rows_here in data.chunks(chunk_rows * dim) {
            let n = rows_here.len() / dim;
            let raw = Tensor::from_slice(ctx, &[n, dim], rows_here)?;
            let stored = Tensor::zeros(ctx, &[n, dim], options.storage)?;
            let mut rec = Recorder::new(ctx);
            normalize_rows(&mut rec, &raw, &stored)?;
            // One submit per chunk: the raw upload can go before the next chunk's arrives.
            rec.submit()?;
            chunks.push(stored);
        }
        Ok(Self {
            ctx: ctx.clone(),
            chunks,
            rows,
            dim,
            options,
        })
    }

    /// Builds an index from an f32 `[rows, dim]` tensor already on the GPU (one chunk).
    pub fn from_tensor(ctx: &Context, data: &Tensor, options: IndexOptions) -> Result<Self> {
        data.expect_dtype("cosine_index", DType::F32)?;
        let [rows, dim] = *data.shape() else {
            return Err(HarkError::shape(
                "cosine_index",
                format!("data must be [rows, dim], got {:?}", data.shape()),
            ));
        };
        if rows == 0 || dim == 0 {
            return Err(HarkError::invalid(
                "cosine_index",
                format!("the database {:?} is empty", data.shape()),
            ));
        }
        let stored = Tensor::zeros(ctx, &[rows, dim], options.storage)?;
        let mut rec = Recorder::new(ctx);
        normalize_rows(&mut rec, data, &stored)?;
        rec.submit()?;
        Ok(Self {
            ctx: ctx.clone(),
            chunks: vec![stored],
            rows,
            dim,
            options,
        })
    }

    /// Database rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Always false: an empty database is refused at build time.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Columns of every row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Element type of the stored rows.
    pub fn storage(&self) -> DType {
        self.options.storage
    }

    /// The database tensors (normalised rows, numbered consecutively across chunks).
    pub fn chunks(&self) -> &[Tensor] {
        &self.chunks
    }

    /// The `k` most similar database rows of every query (row-major, `dim` columns):
    /// (indices, cosine similarities), `[queries, k]` each, most similar first, ties to the
    /// lower index. No queries give empty vectors. Errors: k = 0, k above the database size,
    /// queries that are not whole rows of `dim`.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        let nq = host_rows("cosine_index search", queries.len(), self.dim)?;
        check_search("cosine_index search", self.rows, k)?;
        let batch = rows_per_binding(&self.ctx, 4 * self.dim.max(k)).max(1);
        let mut indices = Vec::with_capacity(nq * k);
        let mut sims = Vec::with_capacity(nq * k);
        for block in queries.chunks(batch * self.dim) {
            let n = block.len() / self.dim;
            let raw = Tensor::from_slice(&self.ctx, &[n, self.dim], block)?;
            let best_sims = Tensor::zeros(&self.ctx, &[n, k], DType::F32)?;
            let best_indices = Tensor::zeros(&self.ctx, &[n, k], DType::F32)?;
            let mut rec = Recorder::new(&self.ctx);
            self.search_tensor(&mut rec, &raw, k, &best_sims, &best_indices)?;
            rec.submit()?;
            indices.extend(download_indices(&self.ctx, &best_indices)?);
            sims.extend(best_sims.to_vec(&self.ctx)?);
        }
        Ok((indices, sims))
    }

    /// Records a search of the f32 `[queries, dim]` tensor `queries` (not yet normalised: this
    /// normalises a copy) into `best_sims` and `best_indices` (u32 words), both `[queries, k]`.
    pub fn search_tensor(
        &self,
        rec: &mut Recorder,
        queries: &Tensor,
        k: usize,
        best_sims: &Tensor,
        best_indices: &Tensor,
    ) -> Result<()> {
        check_search("cosine_index search", self.rows, k)?;
        queries.expect_dtype("cosine_index search", DType::F32)?;
        match *queries.shape() {
            [_, d] if d == self.dim => {}
            _ => {
                return Err(HarkError::shape(
                    "cosine_index search",
                    format!(
                        "queries {:?} must be [queries, {}] (the index's dim)",
                        queries.shape(),
                        self.dim
                    ),
                ))
            }
        }
        let normalized = Tensor::zeros(rec.context(), queries.shape(), DType::F32)?;
        normalize_rows(rec, queries, &normalized)?;
        let chunks: Vec<&Tensor> = self.chunks.iter().collect();
        cosine_topk(
            rec,
            &normalized,
            &chunks,
            k,
            best_sims,
            best_indices,
            &TopkOptions {
                tile_cols: self.options.tile_cols,
            },
        )
    }
}
