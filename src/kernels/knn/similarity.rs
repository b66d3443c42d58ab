//! The score tile of a block of queries against a tile of database rows (dot product or minus
//! the squared Euclidean distance). Dot products of an f32 database run on the tiled matmul (a
//! GEMM, as FAISS does); f16 databases and distances run `shaders/knn/similarity.wgsl`.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::kernels::to_u32;
use crate::runtime::{Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::knn::Metric;

/// Which part of the full query x database score matrix one launch computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreTile {
    /// First query row and number of queries.
    pub q0: usize,
    pub rows: usize,
    /// First database row and number of database rows.
    pub j0: usize,
    pub cols: usize,
}

/// Keep in sync with `Params` in shaders/knn/similarity.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct SimilarityParams {
    rows: u32,
    cols: u32,
    dim: u32,
    q0: u32,
    j0: u32,
    out_stride: u32,
}

static KERNEL: Kernel = Kernel {
    name: "similarity",
    shader: Shader::KnnSimilarity,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Output tile edge of one workgroup (BM = BN in the shader).
const TILE: usize = 64;

fn rows_dim(what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [rows, dim] => Ok((rows, dim)),
        _ => Err(HarkError::shape(
            KERNEL.name,
            format!("{what} must be [rows, dim], got {:?}", t.shape()),
        )),
    }
}

/// Records `out[r, c] = score(queries[q0 + r], database[j0 + c])` for the `rows x cols` of
/// `tile`, `out` row-major with `cols` per row (it may be larger). `queries` is f32
/// `[queries, dim]`, `database` f32 or f16 `[rows, dim]`.
pub fn similarity(
    rec: &mut Recorder,
    queries: &Tensor,
    database: &Tensor,
    out: &Tensor,
    tile: ScoreTile,
    metric: Metric,
) -> Result<()> {
    let name = KERNEL.name;
    queries.expect_dtype(name, DType::F32)?;
    out.expect_dtype(name, DType::F32)?;
    let (nq, dim) = rows_dim("queries", queries)?;
    let (n, db_dim) = rows_dim("database", database)?;
    if dim != db_dim {
        return Err(HarkError::shape(
            name,
            format!("queries have dim {dim} but the database has dim {db_dim}"),
        ));
    }
    if tile.q0 + tile.rows > nq || tile.j0 + tile.cols > n {
        return Err(HarkError::shape(
            name,
            format!("tile {tile:?} is outside {nq} queries x {n} database rows"),
        ));
    }
    if out.numel() < tile.rows * tile.cols {
        return Err(HarkError::shape(
            name,
            format!("out {:?} is smaller than the tile {tile:?}", out.shape()),
        ));
    }
    if tile.rows == 0 || tile.cols == 0 {
        return Ok(());
    }
    to_u32(name, nq * dim)?;
    to_u32(name, n * dim)?;
    if metric == Metric::Dot && database.dtype() == DType::F32 {
        // The FAISS design: the score tile is a GEMM, queries x database^T, on the tiled
        // (vec4 where the rows allow) matmul with its autotuned tiles and K split.
        let scores = out.prefix(&[tile.rows, tile.cols])?;
        let options = MatmulOptions {
            trans_b: true,
            a_rows: Some((tile.q0, tile.rows)),
            b_rows: Some((tile.j0, tile.cols)),
            ..Default::default()
        };
        return matmul(rec, queries, database, &scores, &options);
    }
    crate::kernels::check_loop_budget(
        name,
        similarity_loop_iterations(dim),
        &format!("dim {dim}"),
    )?;
    let params = SimilarityParams {
        rows: to_u32(name, tile.rows)?,
        cols: to_u32(name, tile.cols)?,
        dim: to_u32(name, dim)?,
        q0: to_u32(name, tile.q0)?,
        j0: to_u32(name, tile.j0)?,
        out_stride: to_u32(name, tile.cols)?,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![
            ("METRIC", f64::from(metric.code())),
            (
                "DB_F16",
                f64::from(u8::from(database.dtype() == DType::F16)),
            ),
        ],
        params: bytemuck::bytes_of(&params),
        tensors: &[queries, database, out],
        workgroups: [
            to_u32(name, tile.cols.div_ceil(TILE))?,
            to_u32(name, tile.rows.div_ceil(TILE))?,
            1,
        ],
    })
}

/// Loop iterations one invocation of the score kernel runs for `dim`: measured on lavapipe
/// (2026-12-02, a 1 x 1 tile of all-ones rows), the loop limit cut the sum at dim 37,445, i.e.
/// ~28 counted iterations per 16-deep slice (the staging loops and the slice loop; the constant
/// inner loops are unrolled). So `dim` may be at most 9,344 within
/// [`LOOP_BUDGET`](crate::kernels::LOOP_BUDGET) (README, "Portability: loop budget per
/// invocation"); larger dims are an invalid-argument error.
pub fn similarity_loop_iterations(dim: usize) -> usize {
    28 * dim.div_ceil(16) + 16
}

/// Floating-point operations of one score tile (multiply and add counted separately).
pub fn similarity_flops(rows: usize, cols: usize, dim: usize) -> f64 {
    2.0 * rows as f64 * cols as f64 * dim as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<SimilarityParams>(Shader::KnnSimilarity, "Params");
    }
}
