//! Launcher for `shaders/matmul/matmul.wgsl`: batched `out = act(op(A) op(B) + bias)` with
//! shared-memory tiles and 2-D register blocking; tile sizes are override constants chosen per
//! problem shape (or forced through [`MatmulOptions::tiles`]). Long or thin-output products split
//! K over several workgroups and sum the slices in a second pass (see [`k_splits`]).
//!
//! Two shaders compute the same product: `matmul_vec4.wgsl` reads and writes global memory in
//! 16-byte vectors and runs whenever the operands allow it (see [`vec4_eligible`]); `matmul.wgsl`
//! takes scalar loads and serves every other shape and tile. Both sum each output in K order with
//! one fma per step, so they agree bit for bit for the same K split.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::LOOP_BUDGET;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::matmul::Activation;

/// Workgroup tile: `bm x bn` outputs per workgroup, `bk`-deep slices, `tm x tn` per thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulTiles {
    pub bm: u32,
    pub bn: u32,
    pub bk: u32,
    pub tm: u32,
    pub tn: u32,
}

impl MatmulTiles {
    /// 128 x 128 outputs, 8 x 8 per thread (256 threads): the most reuse per load, for problems
    /// with enough tiles to fill a GPU.
    pub const LARGE: Self = Self {
        bm: 128,
        bn: 128,
        bk: 8,
        tm: 8,
        tn: 8,
    };
    /// 64 x 64 outputs, 4 x 4 per thread (256 threads): four times the workgroups of LARGE, for
    /// small or thin problems that LARGE would leave most of the GPU idle on.
    pub const SMALL: Self = Self {
        bm: 64,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
    };

    /// 128 x 128 outputs, 16 x 8 per thread (128 threads, vec4 shader only): the fewest loads
    /// per multiply-add, what software adapters run on products with both sides from 128.
    pub const WIDE_BLOCKS: Self = Self {
        bm: 128,
        bn: 128,
        bk: 16,
        tm: 16,
        tn: 8,
    };

    /// 16 x 128 outputs, 2 x 8 per thread (128 threads): for thin products (at most 16 rows:
    /// the weight gradients and forward passes of narrow convolutions on the tiled matmul),
    /// which a 64-row tile would mostly spend on padding rows.
    pub const THIN: Self = Self {
        bm: 16,
        bn: 128,
        bk: 16,
        tm: 2,
        tn: 8,
    };

    /// The default choice for an `m x n` output over `batch` items on the scalar shader.
    pub fn for_shape(batch: usize, m: usize, n: usize) -> Self {
        Self::for_problem(batch, m, n, false)
    }

    /// The default choice for an `m x n` output over `batch` items; `vec4` says whether the
    /// operands allow the vec4 shader ([`vec4_eligible`]), so that a thin product gets register
    /// blocks of whole quads (the scalar shader's 2-wide blocks would send it to the scalar path).
    pub fn for_problem(batch: usize, m: usize, n: usize, vec4: bool) -> Self {
        if m <= 32 || n <= 32 {
            return Self::thin(m, n, vec4);
        }
        let large_tiles = batch * m.div_ceil(128) * n.div_ceil(128);
        // 128 workgroups is about one per streaming multiprocessor on a large GPU.
        if m >= 128 && n >= 128 && large_tiles >= 128 {
            Self::LARGE
        } else {
            Self::SMALL
        }
    }

    /// A tile for a product with one short side (at most 32): as short as that side allows (8,
    /// 16 or 32), 64 to 256 along the other, so that no thread computes padding rows: a 16-row
    /// tile on an 8-row output (a narrow convolution's forward pass or weight gradient) spends
    /// half its work on nothing. Register blocks are whole quads where the vec4 shader can run.
    /// Outputs small on both sides (at most 8 x 16: a first convolution's weight gradient, K the
    /// whole batch) get an 8 x 16 tile with two outputs per thread and many K slices.
    fn thin(m: usize, n: usize, vec4: bool) -> Self {
        let (short, long) = (m.min(n), m.max(n));
        let wide = long >= 1024;
        // (short side, long side, per thread along short, per thread along long).
        let (bs, bl, ts, tl) = match (short, vec4) {
            // The scalar shader even where vec4 could run: 8 x 16 / 2 x 1 ran an 8 x 12 weight
            // gradient over K = 65,536 in 80 ms on lavapipe, 8 x 128 / 8 x 4 in 145.
            (..=8, _) if long <= 16 => (8, 16, 2, 1),
            (..=8, true) => (8, if wide { 256 } else { 128 }, 8, 4),
            (..=8, false) => (8, if wide { 256 } else { 128 }, 2, if wide { 8 } else { 4 }),
            // 16 x 64 ran the embedding stem's 16 x 52 weight gradient in half 16 x 128's time.
            (..=16, true) => (16, if wide { 256 } else { 64 }, 4, if wide { 8 } else { 4 }),
            (..=16, false) => (16, if wide { 128 } else { 64 }, 2, if wide { 8 } else { 4 }),
            _ => (32, if wide { 128 } else { 64 }, 4, if wide { 8 } else { 4 }),
        };
        if m <= n {
            Self {
                bm: bs,
                bn: bl,
                bk: 16,
                tm: ts,
                tn: tl,
            }
        } else {
            Self {
                bm: bl,
                bn: bs,
                bk: 16,
                tm: tl,
                tn: ts,
            }
        }
    }

    fn threads(&self) -> u32 {
        (self.bm / self.tm.max(1)) * (self.bn / self.tn.max(1))
    }

    /// The most K one workgroup accumulates while every invocation stays within
    /// [`LOOP_BUDGET`]: per `bk`-slice an invocation runs the slice loop, two staging loops and
    /// the `bk` loop (the `tm x tn` loops have constant trip counts and unroll), each counted
    /// with its exit test.
    pub fn max_k_per_workgroup(&self) -> usize {
        let threads = self.threads().max(1) as usize;
        let (bm, bn, bk) = (self.bm as usize, self.bn as usize, self.bk.max(1) as usize);
        let per_slice =
            1 + ((bm * bk).div_ceil(threads) + 1) + ((bn * bk).div_ceil(threads) + 1) + (bk + 1);
        (LOOP_BUDGET / per_slice).max(1) * bk
    }

    pub(crate) fn validate(&self, limits: &wgpu::Limits) -> Result<()> {
        let t = self;
        let shape_ok = t.tm >= 1
            && t.tn >= 1
            && t.tm <= 16
            && t.tn <= 16
            && t.bk >= 1
            && t.bm.is_multiple_of(t.tm)
            && t.bn.is_multiple_of(t.tn);
        if !shape_ok {
            return Err(HarkError::invalid(
                KERNEL.name,
                format!("tiles {t:?}: tm, tn must be 1..=16 and divide bm, bn"),
            ));
        }
        let (x, y) = (t.bn / t.tn, t.bm / t.tm);
        let workgroup_bytes = 4 * t.bk * (t.bm + t.bn);
        if x > limits.max_compute_workgroup_size_x
            || y > limits.max_compute_workgroup_size_y
            || x * y > limits.max_compute_invocations_per_workgroup
            || workgroup_bytes > limits.max_compute_workgroup_storage_size
        {
            return Err(HarkError::invalid(
                KERNEL.name,
                format!(
                    "tiles {t:?} need a {x}x{y} workgroup and {workgroup_bytes} bytes of workgroup \
                     memory, beyond this device's limits"
                ),
            ));
        }
        Ok(())
    }
}

/// Workgroups that keep a large GPU busy (about one per streaming multiprocessor on an H100);
/// products with fewer output tiles split K to reach it.
const TARGET_WORKGROUPS: usize = 128;

/// No occupancy split leaves a workgroup less K than this (the partial sums and the second pass
/// would cost more than the parallelism gains).
const MIN_K_PER_SPLIT: usize = 512;

/// How many slices K is split into for an `m x n` output over `batch` items with `tiles`: enough
/// that no workgroup exceeds [`MatmulTiles::max_k_per_workgroup`], and, when the output has fewer
/// than 128 tiles, enough to approach 128 workgroups (at least 512 K per slice).
pub fn k_splits(tiles: &MatmulTiles, batch: usize, m: usize, n: usize, k: usize) -> usize {
    let for_budget = k.div_ceil(tiles.max_k_per_workgroup());
    let workgroups =
        batch * m.div_ceil(tiles.bm.max(1) as usize) * n.div_ceil(tiles.bn.max(1) as usize);
    let for_occupancy = if workgroups < TARGET_WORKGROUPS {
        (TARGET_WORKGROUPS / workgroups.max(1)).min(k / MIN_K_PER_SPLIT)
    } else {
        1
    };
    for_budget.max(for_occupancy).max(1)
}

/// K elements per slice: whole `bk` slices, at least [`k_splits`] slices (or `forced`, never fewer
/// than the loop budget needs); the last slice takes the remainder.
fn k_chunk(
    tiles: &MatmulTiles,
    forced: Option<usize>,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
) -> usize {
    let budget_splits = k.div_ceil(tiles.max_k_per_workgroup());
    let wanted = forced
        .unwrap_or_else(|| k_splits(tiles, batch, m, n, k))
        .max(budget_splits)
        .clamp(1, k.max(1));
    let bk = tiles.bk.max(1) as usize;
    (k.div_ceil(wanted).div_ceil(bk) * bk).max(1)
}

/// The number of K slices [`matmul`] launches for this problem (1: no split).
pub fn splits_used(
    tiles: &MatmulTiles,
    forced: Option<usize>,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
) -> usize {
    k.div_ceil(k_chunk(tiles, forced, batch, m, n, k)).max(1)
}

/// Options of [`matmul`]. The default is plain `A x B`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatmulOptions<'t> {
    /// A is stored `[K, M]` (per batch item) instead of `[M, K]`.
    pub trans_a: bool,
    /// B is stored `[N, K]` instead of `[K, N]` (PyTorch's `Linear` weight layout).
    pub trans_b: bool,
    /// Added to every row of the product, length N (or to every column, length M, with
    /// `bias_per_row`).
    pub bias: Option<&'t Tensor>,
    /// The bias holds one value per output row (a 1x1 convolution's per-channel bias when the
    /// product is `W [C_out, C_in] x X [C_in, L]`).
    pub bias_per_row: bool,
    pub activation: Activation,
    /// Force a tile shape (default: the autotuned choice for the shape class, or
    /// [`MatmulTiles::for_shape`] with autotuning off; see [`super::autotune`]).
    pub tiles: Option<MatmulTiles>,
    /// Force at least this many K slices (default: [`k_splits`]; never fewer than the loop
    /// budget needs).
    pub k_splits: Option<usize>,
    /// Which shader runs (default: the vec4 one wherever [`vec4_eligible`] allows).
    pub path: MatmulPath,
    /// Use only the stored rows `start..start + count` of a one-matrix `a` (rows of `[M, K]`, or
    /// of `[K, M]` with `trans_a`): a block of a larger matrix without a copy.
    pub a_rows: Option<(usize, usize)>,
    /// Likewise for `b` (rows of `[K, N]`, or of `[N, K]` with `trans_b`).
    pub b_rows: Option<(usize, usize)>,
}

/// The shader a [`matmul`] runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MatmulPath {
    /// `matmul_vec4.wgsl` where [`vec4_eligible`] allows it, else `matmul.wgsl`.
    #[default]
    Auto,
    /// `matmul.wgsl`: scalar loads, any shape and tile.
    Scalar,
    /// `matmul_vec4.wgsl`; an error where [`vec4_eligible`] does not allow it.
    Vec4,
}

/// Whether `matmul_vec4.wgsl` can run a product: the stored rows of A (`k`, or `m` with
/// `trans_a`) and B (`n`, or `k` with `trans_b`) and the output's rows (`n`) are whole vec4s, the
/// tiles hold whole quads (`tm`, `tn` 4, 8 or 16 with `tm * tn <= 128`; `bk` a multiple of 4) and every operand starts on a
/// 16-byte boundary (`byte_offsets` of a, b and out).
pub fn vec4_eligible(
    tiles: &MatmulTiles,
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    byte_offsets: [u64; 3],
) -> bool {
    let a_row = if trans_a { m } else { k };
    let b_row = if trans_b { k } else { n };
    let quads = |t: u32| matches!(t, 4 | 8 | 16);
    a_row.is_multiple_of(4)
        && b_row.is_multiple_of(4)
        && n.is_multiple_of(4)
        && byte_offsets.iter().all(|o| o.is_multiple_of(16))
        && quads(tiles.tm)
        && quads(tiles.tn)
        && tiles.tm * tiles.tn <= 128
        && tiles.bk.is_multiple_of(4)
        && tiles.bm.is_multiple_of(tiles.tm)
        && tiles.bn.is_multiple_of(tiles.tn)
}

/// Keep in sync with `Params` in shaders/common/matmul_common.wgsl (both matmul shaders).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    batch_stride_a: u32,
    batch_stride_b: u32,
    activation: u32,
    alpha: f32,
    has_bias: u32,
    k_chunk: u32,
    splits: u32,
    batch: u32,
    offset_a: u32,
    offset_b: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

static KERNEL: Kernel = Kernel {
    name: "matmul",
    shader: Shader::Matmul,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

static KERNEL_VEC4: Kernel = Kernel {
    name: "matmul_vec4",
    shader: Shader::MatmulVec4,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Second pass of a split-K product: sums the slices, adds the bias, applies the activation.
static REDUCE_SPLITS: Kernel = Kernel {
    name: "matmul_reduce_splits",
    shader: Shader::Matmul,
    entry: "reduce_splits",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// (batch, rows, cols) of a rank-2 or rank-3 tensor.
fn batched_dims(what: &str, t: &Tensor) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((1, r, c)),
        [b, r, c] => Ok((b, r, c)),
        _ => Err(HarkError::shape(
            KERNEL.name,
            format!(
                "{what} must be [rows, cols] or [batch, rows, cols], got {:?}",
                t.shape()
            ),
        )),
    }
}

fn to_u32(value: usize, what: &str) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| HarkError::invalid(KERNEL.name, format!("{what} = {value} exceeds u32")))
}

/// The rows `range` (start, count) of a 2-D operand: (count, element offset of its first row).
fn row_range(
    what: &str,
    range: Option<(usize, usize)>,
    batch: usize,
    rows: usize,
    cols: usize,
) -> Result<(usize, usize)> {
    match range {
        None => Ok((rows, 0)),
        Some((start, count)) if batch == 1 && start + count <= rows => Ok((count, start * cols)),
        Some((start, count)) => Err(HarkError::shape(
            KERNEL.name,
            format!(
                "{what}: rows {start}..{} of a [{batch}, {rows}, {cols}] operand (a row range needs \
                 one matrix and rows inside it)",
                start + count
            ),
        )),
    }
}

/// Records `out = act(op(a) x op(b) + bias)`. Shapes: `a` `[M, K]` or `[batch|1, M, K]`
/// (`[.., K, M]` with `trans_a`), `b` `[K, N]` or `[batch|1, K, N]` (`[.., N, K]` with
/// `trans_b`), `out` `[M, N]` or `[batch, M, N]`; an operand with batch 1 is shared.
pub fn matmul(
    rec: &mut Recorder,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    options: &MatmulOptions,
) -> Result<()> {
    for t in [a, b, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let (batch_a, a_rows, a_cols) = batched_dims("a", a)?;
    let (batch_b, b_rows, b_cols) = batched_dims("b", b)?;
    let (a_rows, offset_a) = row_range("a", options.a_rows, batch_a, a_rows, a_cols)?;
    let (b_rows, offset_b) = row_range("b", options.b_rows, batch_b, b_rows, b_cols)?;
    let (batch, m, n) = batched_dims("out", out)?;
    let (a_m, k) = if options.trans_a {
        (a_cols, a_rows)
    } else {
        (a_rows, a_cols)
    };
    let (b_k, b_n) = if options.trans_b {
        (b_cols, b_rows)
    } else {
        (b_rows, b_cols)
    };
    let describe = || {
        format!(
            "a {:?}{} x b {:?}{} -> out {:?}",
            a.shape(),
            if options.trans_a { "^T" } else { "" },
            b.shape(),
            if options.trans_b { "^T" } else { "" },
            out.shape()
        )
    };
    if a_m != m || b_n != n || b_k != k {
        return Err(HarkError::shape(KERNEL.name, describe()));
    }
    let batch_ok = |x: usize| x == 1 || x == batch;
    if !batch_ok(batch_a) || !batch_ok(batch_b) {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("batch sizes must be 1 or {batch}: {}", describe()),
        ));
    }
    if m == 0 || n == 0 || batch == 0 {
        return Ok(());
    }
    if let Some(bias) = options.bias {
        bias.expect_dtype(KERNEL.name, DType::F32)?;
        let (len, axis) = if options.bias_per_row {
            (m, "M")
        } else {
            (n, "N")
        };
        if bias.numel() != len {
            return Err(HarkError::shape(
                KERNEL.name,
                format!("bias {:?} must have {axis} = {len} elements", bias.shape()),
            ));
        }
    }
    let offsets = [
        a.offset() + 4 * offset_a as u64,
        b.offset() + 4 * offset_b as u64,
        out.offset(),
    ];
    let (tiles, forced_splits, path) = match options.tiles {
        Some(tiles) => (tiles, options.k_splits, options.path),
        None => {
            let problem = super::autotune::MatmulProblem {
                batch,
                m,
                n,
                k,
                trans_a: options.trans_a,
                trans_b: options.trans_b,
                vec4: vec4_eligible(
                    &MatmulTiles::SMALL,
                    options.trans_a,
                    options.trans_b,
                    m,
                    n,
                    k,
                    offsets,
                ),
            };
            let choice = super::autotune::choose(rec.context(), &problem)?;
            let path = match options.path {
                MatmulPath::Auto => choice.path,
                forced => forced,
            };
            (choice.tiles, options.k_splits.or(choice.k_splits), path)
        }
    };
    tiles.validate(rec.context().limits())?;
    let eligible = vec4_eligible(&tiles, options.trans_a, options.trans_b, m, n, k, offsets);
    let kernel = match path {
        MatmulPath::Auto if eligible => &KERNEL_VEC4,
        // The scalar shader holds at most 8 x 8 accumulators per thread.
        MatmulPath::Auto | MatmulPath::Scalar if tiles.tm > 8 || tiles.tn > 8 => {
            return Err(HarkError::invalid(
                KERNEL.name,
                format!(
                    "{}: tiles {tiles:?} need the vec4 shader (tm, tn above 8), which these \
                     operands do not allow",
                    describe()
                ),
            ))
        }
        MatmulPath::Auto | MatmulPath::Scalar => &KERNEL,
        MatmulPath::Vec4 if eligible => &KERNEL_VEC4,
        MatmulPath::Vec4 => {
            return Err(HarkError::invalid(
                KERNEL_VEC4.name,
                format!(
                    "{}: rows of A, B and out must be whole vec4s on 16-byte boundaries and the \
                     tiles {tiles:?} whole quads",
                    describe()
                ),
            ))
        }
    };

    let k_chunk = k_chunk(&tiles, forced_splits, batch, m, n, k);
    let splits = k.div_ceil(k_chunk).max(1);

    let (activation, alpha) = options.activation.code();
    let params = MatmulParams {
        m: to_u32(m, "M")?,
        n: to_u32(n, "N")?,
        k: to_u32(k, "K")?,
        batch_stride_a: if batch_a == 1 {
            0
        } else {
            to_u32(m * k, "M*K")?
        },
        batch_stride_b: if batch_b == 1 {
            0
        } else {
            to_u32(k * n, "K*N")?
        },
        activation,
        alpha,
        // 0: none, 1: per column, 2: per row (shaders/matmul/matmul.wgsl).
        has_bias: match (options.bias.is_some(), options.bias_per_row) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        },
        k_chunk: to_u32(k_chunk.max(1), "K chunk")?,
        splits: to_u32(splits, "K splits")?,
        batch: to_u32(batch, "batch")?,
        offset_a: to_u32(offset_a, "a row offset")?,
        offset_b: to_u32(offset_b, "b row offset")?,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    to_u32(batch * m * n, "batch*M*N")?;
    // Without a bias the binding still needs a buffer: `a` is bound again (read-only, never read).
    let bias = options.bias.unwrap_or(a);
    debug_assert!(tiles.threads() > 0);
    let constants = vec![
        ("BM", f64::from(tiles.bm)),
        ("BN", f64::from(tiles.bn)),
        ("BK", f64::from(tiles.bk)),
        ("TM", f64::from(tiles.tm)),
        ("TN", f64::from(tiles.tn)),
        ("TRANS_A", f64::from(u8::from(options.trans_a))),
        ("TRANS_B", f64::from(u8::from(options.trans_b))),
    ];
    let tile_grid = |z: usize| -> Result<[u32; 3]> {
        Ok([
            to_u32(n.div_ceil(tiles.bn as usize), "N tiles")?,
            to_u32(m.div_ceil(tiles.bm as usize), "M tiles")?,
            to_u32(z, "batch x K splits")?,
        ])
    };
    if splits == 1 {
        return rec.dispatch(Launch {
            kernel,
            constants,
            params: bytemuck::bytes_of(&params),
            tensors: &[a, b, bias, out],
            workgroups: tile_grid(batch)?,
        });
    }
    let partial_len = splits * batch * m * n;
    rec.context()
        .check_binding_size("matmul split-K partial sums", 4 * partial_len as u64)?;
    let partials = rec
        .context()
        .scratch("matmul split-K partials", &[partial_len])?;
    rec.dispatch(Launch {
        kernel,
        constants,
        params: bytemuck::bytes_of(&params),
        tensors: &[a, b, bias, &partials],
        workgroups: tile_grid(splits * batch)?,
    })?;
    rec.dispatch(Launch::new(
        &REDUCE_SPLITS,
        &params,
        &[&partials, &partials, bias, out],
        grid_1d(to_u32((batch * m * n).div_ceil(256), "reduce workgroups")?),
    ))
}

/// Floating-point operations of one [`matmul`] (multiply and add counted separately).
pub fn matmul_flops(batch: usize, m: usize, n: usize, k: usize) -> f64 {
    2.0 * batch as f64 * m as f64 * n as f64 * k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MatmulParams>(Shader::Matmul, "Params");
    }
}
