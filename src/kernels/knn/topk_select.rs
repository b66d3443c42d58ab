//! Launcher for `shaders/knn/topk_select.wgsl`: merges one score tile into each query's running
//! top-k list (score descending, ties to the lower database index).

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::{to_u32, LOOP_BUDGET};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Where a score tile sits in the full query x database matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectTile {
    /// Query rows in the tile and the best-list row of tile row 0.
    pub rows: usize,
    pub q0: usize,
    /// Columns in the tile (its row stride) and the database index of column 0.
    pub cols: usize,
    pub index_base: usize,
}

/// Keep in sync with `Params` in shaders/knn/topk_select.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct TopkParams {
    rows: u32,
    cols: u32,
    score_stride: u32,
    q0: u32,
    index_base: u32,
    k: u32,
    first: u32,
}

static KERNEL: Kernel = Kernel {
    name: "topk_select",
    shader: Shader::KnnTopkSelect,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

/// Threads per workgroup (WG in the shader): the candidate buffer must hold one round of them.
const WG: usize = 256;

/// (K_CAP, SORT_N) of the shader for `k`: the running list rounded up to a power of two, and the
/// sorted array with room for at least one round of candidates behind it.
fn sort_sizes(k: usize) -> (usize, usize) {
    let k_cap = k.max(1).next_power_of_two();
    (k_cap, (k_cap + WG).next_power_of_two())
}

/// Workgroup bytes the shader needs for `k`: SORT_N (score, index) pairs, two counters and the
/// pair of counts read once per pass.
fn workgroup_bytes(k: usize) -> u64 {
    8 * sort_sizes(k).1 as u64 + 16
}

/// The largest k this device can select (1024 with 32 KiB of workgroup memory, 512 with
/// WebGPU's 16 KiB minimum).
pub fn max_k(limits: &wgpu::Limits) -> usize {
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    let mut k = 1usize;
    while workgroup_bytes(k * 2) <= limit && k < (1 << 20) {
        k *= 2;
    }
    k
}

/// Loop iterations, per WG-column round, of the selection this launcher used before the
/// register-threshold scan (a barrier-separated round per 256 columns and a full bitonic sort of
/// SORT_N pairs whenever a round might overflow). It still defines [`max_select_cols`] so that
/// tile widths (and so the search's dispatches) stay as they were; the present shader does less
/// at every width ([`worst_case_iterations`], checked in the tests below).
fn round_iterations(k: usize) -> usize {
    let (k_cap, sort_n) = sort_sizes(k);
    let levels = sort_n.trailing_zeros() as usize;
    let strides = levels * (levels + 1) / 2;
    1 + levels + strides * (1 + (sort_n / 2).div_ceil(WG)) + (sort_n - k_cap).div_ceil(WG)
}

/// The most columns one [`topk_select`] tile may have for `k`, so that no invocation runs more
/// than [`LOOP_BUDGET`] loop iterations even when every column is a new top-k member (scores
/// rising along the database): 41,472 for k = 256, 12,032 for k = 1024.
pub fn max_select_cols(k: usize) -> usize {
    let (_, sort_n) = sort_sizes(k);
    let fixed = sort_n.div_ceil(WG) + k.div_ceil(WG);
    LOOP_BUDGET.saturating_sub(fixed) / round_iterations(k) * WG
}

/// Loop iterations one invocation of the shader runs in one merge of a full candidate buffer
/// (ROOM = SORT_N / 2 slots): the bitonic sort's sizes, strides and compare steps, the fold and
/// clear of the buffer, the half-cleaner strides and their compare steps.
#[cfg(test)]
fn merge_iterations(k: usize) -> usize {
    let (k_cap, sort_n) = sort_sizes(k);
    let room = sort_n / 2;
    let levels = room.trailing_zeros() as usize;
    let strides = levels * (levels + 1) / 2;
    let cleaners = k_cap.trailing_zeros() as usize;
    levels
        + strides * (1 + (room / 2).div_ceil(WG))
        + room.div_ceil(WG)
        + cleaners * (1 + (k_cap / 2).div_ceil(WG))
}

/// Loop iterations one invocation of the shader runs, at worst, on a tile of `cols` columns:
/// the list set-up and write-back, every column of its strided run, and when every column is a
/// candidate one merge per ROOM columns, each costing a pass of the outer loop, the retried
/// column and [`merge_iterations`] (the last, possibly partial, buffer counted as full).
#[cfg(test)]
fn worst_case_iterations(k: usize, cols: usize) -> usize {
    let (_, sort_n) = sort_sizes(k);
    let merges = cols.div_ceil(sort_n / 2);
    sort_n.div_ceil(WG)
        + k.div_ceil(WG)
        + cols.div_ceil(WG)
        + 1
        + merges * (2 + merge_iterations(k))
}

/// Merges the `rows x cols` score tile `scores` (row-major, `cols` per row) into the running
/// lists `best_scores` (f32) and `best_indices` (u32 words), both `[queries, k]`. With `first`
/// the lists are started afresh instead of read. Tiles must be merged in increasing
/// `index_base` order for ties to go to the lower index. A tile may have at most
/// [`max_select_cols`]`(k)` columns (one workgroup walks a whole row; lavapipe's loop budget per
/// invocation); wider tiles are an invalid-argument error ([`knn_topk`](super::knn_topk)
/// splits the database accordingly).
pub fn topk_select(
    rec: &mut Recorder,
    scores: &Tensor,
    tile: SelectTile,
    k: usize,
    first: bool,
    best_scores: &Tensor,
    best_indices: &Tensor,
) -> Result<()> {
    let name = KERNEL.name;
    for t in [scores, best_scores, best_indices] {
        t.expect_dtype(name, DType::F32)?;
    }
    if k == 0 {
        return Err(HarkError::invalid(name, "k must be at least 1"));
    }
    let limit = max_k(rec.context().limits());
    if k > limit {
        return Err(HarkError::invalid(
            name,
            format!(
                "k = {k} needs {} bytes of workgroup memory; this device selects at most k = \
                 {limit}",
                workgroup_bytes(k)
            ),
        ));
    }
    for (what, t) in [("best_scores", best_scores), ("best_indices", best_indices)] {
        let ok = matches!(*t.shape(), [q, kk] if kk == k && q >= tile.q0 + tile.rows);
        if !ok {
            return Err(HarkError::shape(
                name,
                format!(
                    "{what} {:?} must be [queries >= {}, k = {k}]",
                    t.shape(),
                    tile.q0 + tile.rows
                ),
            ));
        }
    }
    if scores.numel() < tile.rows * tile.cols {
        return Err(HarkError::shape(
            name,
            format!(
                "scores {:?} are smaller than the tile {tile:?}",
                scores.shape()
            ),
        ));
    }
    if tile.cols > max_select_cols(k) {
        return Err(HarkError::invalid(
            name,
            format!(
                "a tile of {} columns: at most {} for k = {k} (the per-invocation loop budget)",
                tile.cols,
                max_select_cols(k)
            ),
        ));
    }
    if tile.index_base + tile.cols >= crate::kernels::knn::EMPTY_INDEX as usize {
        return Err(HarkError::invalid(
            name,
            "database indices must stay below 2^32 - 1 (the empty-slot index)",
        ));
    }
    if tile.rows == 0 {
        return Ok(());
    }
    to_u32(name, best_scores.numel())?;
    let (k_cap, sort_n) = sort_sizes(k);
    let params = TopkParams {
        rows: to_u32(name, tile.rows)?,
        cols: to_u32(name, tile.cols)?,
        score_stride: to_u32(name, tile.cols)?,
        q0: to_u32(name, tile.q0)?,
        index_base: to_u32(name, tile.index_base)?,
        k: to_u32(name, k)?,
        first: u32::from(first),
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("K_CAP", k_cap as f64), ("SORT_N", sort_n as f64)],
        params: bytemuck::bytes_of(&params),
        tensors: &[scores, best_scores, best_indices],
        // One workgroup per query row.
        workgroups: grid_1d(params.rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_stays_within_the_old_round_budget() {
        for k in [1, 2, 7, 16, 100, 256, 257, 512, 1000, 1024, 2048, 4096] {
            let cols = max_select_cols(k);
            let worst = worst_case_iterations(k, cols);
            assert!(worst <= LOOP_BUDGET, "k {k}, {cols} columns: {worst}");
        }
    }

    #[test]
    fn select_tiles_stay_within_the_loop_budget() {
        assert_eq!(max_select_cols(256), 41_472);
        assert_eq!(max_select_cols(1024), 12_032);
        for k in [1, 7, 256, 257, 1024, 4096] {
            let (k_cap, sort_n) = sort_sizes(k);
            let rounds = max_select_cols(k) / WG;
            let total = sort_n / WG + k.div_ceil(WG) + rounds * round_iterations(k);
            assert!(rounds >= 1 && total <= LOOP_BUDGET, "k {k}: {total}");
            assert!(k_cap >= k);
        }
    }

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<TopkParams>(Shader::KnnTopkSelect, "Params");
    }

    #[test]
    fn sort_sizes_leave_a_round_of_room() {
        for k in [1, 2, 16, 255, 256, 257, 1024] {
            let (k_cap, sort_n) = sort_sizes(k);
            assert!(k_cap >= k && k_cap.is_power_of_two() && sort_n.is_power_of_two());
            assert!(sort_n - k_cap >= WG);
        }
        let limits = |bytes| wgpu::Limits {
            max_compute_workgroup_storage_size: bytes,
            ..Default::default()
        };
        assert_eq!(max_k(&limits(32768)), 1024);
        assert_eq!(max_k(&limits(16384)), 512);
    }
}
