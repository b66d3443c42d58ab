//! The whole search: score tiles and top-k selections over every database chunk, recorded
//! into one [`Recorder`]. Nothing here has a shader of its own; it sequences
//! [`similarity`](super::similarity) and [`topk_select`](super::topk_select).

use crate::error::{HarkError, Result};
use crate::kernels::knn::{similarity, topk_select, Metric, ScoreTile, SelectTile};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// Bytes of the score tile a search keeps (one tile is written, then selected from, then
/// overwritten by the next). 32 MiB: 1,024 queries x 8,192 database rows.
const SCORE_TILE_BYTES: usize = 32 << 20;

/// Queries per block: the score tile is `block x tile_cols`.
const QUERY_BLOCK: usize = 1024;

/// Knobs of [`knn_topk`]; the defaults suit every size.
#[derive(Clone, Copy, Debug, Default)]
pub struct TopkOptions {
    /// Database rows per score tile (default: what fits [`SCORE_TILE_BYTES`] for the query
    /// block). Small values make tests run the multi-tile merge on small data. Capped at
    /// [`max_select_cols`](super::max_select_cols) (the per-invocation loop budget).
    pub tile_cols: Option<usize>,
}

/// Records the top-`k` database rows of every query: `best_scores` (f32) and `best_indices`
/// (u32 words), both `[queries, k]`, sorted by score descending with ties to the lower index.
/// `database` is one or more f32 or f16 `[rows, dim]` tensors (chunks, each within one storage
/// binding) whose rows are numbered consecutively. Scores are dot products or minus squared
/// distances ([`Metric`]); queries are used as given (normalise them first for cosine).
#[allow(clippy::too_many_arguments)]
pub fn knn_topk(
    rec: &mut Recorder,
    queries: &Tensor,
    database: &[&Tensor],
    k: usize,
    metric: Metric,
    best_scores: &Tensor,
    best_indices: &Tensor,
    options: &TopkOptions,
) -> Result<()> {
    let name = "knn_topk";
    queries.expect_dtype(name, DType::F32)?;
    let [nq, dim] = *queries.shape() else {
        return Err(HarkError::shape(
            name,
            format!("queries must be [queries, dim], got {:?}", queries.shape()),
        ));
    };
    let mut total = 0usize;
    for chunk in database {
        match *chunk.shape() {
            [rows, d] if d == dim => total += rows,
            _ => {
                return Err(HarkError::shape(
                    name,
                    format!(
                        "database chunk {:?} must be [rows, {dim}] (the queries' dim)",
                        chunk.shape()
                    ),
                ))
            }
        }
    }
    if total == 0 {
        return Err(HarkError::invalid(name, "the database is empty"));
    }
    if k == 0 {
        return Err(HarkError::invalid(name, "k must be at least 1"));
    }
    if k > total {
        return Err(HarkError::invalid(
            name,
            format!("k = {k} exceeds the {total} database rows"),
        ));
    }
    let limit = super::max_k(rec.context().limits());
    if k > limit {
        return Err(HarkError::invalid(
            name,
            format!("k = {k}: this device selects at most k = {limit} (workgroup memory)"),
        ));
    }
    for (what, t) in [("best_scores", best_scores), ("best_indices", best_indices)] {
        if t.shape() != [nq, k] {
            return Err(HarkError::shape(
                name,
                format!("{what} {:?} must be [{nq}, {k}]", t.shape()),
            ));
        }
    }
    if nq == 0 {
        return Ok(());
    }
    let block = nq.min(QUERY_BLOCK);
    let tile_cols = match options.tile_cols {
        Some(0) => return Err(HarkError::invalid(name, "tile_cols must be at least 1")),
        Some(cols) => cols,
        None => (SCORE_TILE_BYTES / (4 * block)).max(64) / 64 * 64,
    };
    if super::max_select_cols(k) == 0 {
        return Err(HarkError::invalid(
            name,
            format!("k = {k}: one selection round alone passes the per-invocation loop budget"),
        ));
    }
    let largest_chunk = database.iter().map(|c| c.shape()[0]).max().unwrap_or(0);
    // A select walks a whole tile row in one workgroup: keep it within the loop budget.
    let tile_cols = tile_cols
        .min(largest_chunk.max(1))
        .min(super::max_select_cols(k));
    let scores = Tensor::zeros(rec.context(), &[block, tile_cols], DType::F32)?;
    for q0 in (0..nq).step_by(block) {
        let rows = block.min(nq - q0);
        let mut index_base = 0usize;
        let mut first = true;
        for chunk in database {
            let chunk_rows = chunk.shape()[0];
            for j0 in (0..chunk_rows).step_by(tile_cols) {
                let cols = tile_cols.min(chunk_rows - j0);
                similarity(
                    rec,
                    queries,
                    chunk,
                    &scores,
                    ScoreTile { q0, rows, j0, cols },
                    metric,
                )?;
                topk_select(
                    rec,
                    &scores,
                    SelectTile {
                        rows,
                        q0,
                        cols,
                        index_base: index_base + j0,
                    },
                    k,
                    first,
                    best_scores,
                    best_indices,
                )?;
                first = false;
            }
            index_base += chunk_rows;
        }
    }
    Ok(())
}

/// [`knn_topk`] by cosine similarity: `queries` and every `database` chunk must already be
/// L2-normalised ([`normalize_rows`](super::normalize_rows)); `best_sims` are the cosine
/// similarities.
pub fn cosine_topk(
    rec: &mut Recorder,
    queries: &Tensor,
    database: &[&Tensor],
    k: usize,
    best_sims: &Tensor,
    best_indices: &Tensor,
    options: &TopkOptions,
) -> Result<()> {
    knn_topk(
        rec,
        queries,
        database,
        k,
        Metric::Dot,
        best_sims,
        best_indices,
        options,
    )
}
