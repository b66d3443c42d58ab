//! Matmul autotuning, as cubecl does it: the first product of a shape class on an adapter times
//! every candidate configuration (shader, tiles, K split) on the real shape and keeps the
//! fastest, in memory and in a cache file, so that later products of the class (and later runs
//! on the same adapter and driver) launch the winner at once.
//!
//! - **Shape class**: batch, M, N and K rounded up to powers of two, the transposes, and whether
//!   the vec4 shader can run ([`super::vec4_eligible`]).
//! - **Cache file**: `$HARK_CACHE_DIR/matmul-autotune.tsv`, else `$XDG_CACHE_HOME/hark/...`, else
//!   `~/.cache/hark/...`; one line per (adapter, class), written atomically. A missing,
//!   unreadable or corrupt file, or a line that does not parse, means "tune again", never an
//!   error. The adapter key holds the adapter's name, backend, driver and a hash of the matmul
//!   shaders, so a new driver or kernel re-tunes.
//! - **Software adapters** (lavapipe, WARP) use the heuristic unless `HARK_AUTOTUNE=on`:
//!   tuning there costs minutes of CPU per run with a cold cache.
//! - **Off switch**: `HARK_AUTOTUNE=off` (or [`crate::Context::set_autotune`]) uses the heuristic
//!   [`MatmulTiles::for_problem`]; tests pin it off so their launches are deterministic.
//!
//! Every candidate computes the same sums in the same order except the K split, so a tuned choice
//! changes results only by the rounding of a different split.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{matmul, vec4_eligible, MatmulOptions, MatmulPath, MatmulTiles};
use crate::error::Result;
use crate::tensor::{DType, Tensor};
use crate::Context;

/// One configuration a product can launch with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulChoice {
    pub tiles: MatmulTiles,
    /// [`MatmulPath::Auto`] (vec4 where the operands and tiles allow; what tuning picks) or
    /// [`MatmulPath::Scalar`].
    pub path: MatmulPath,
    /// `Some(1)`: split K only as far as the loop budget needs; `None`: also for occupancy
    /// ([`super::k_splits`]).
    pub k_splits: Option<usize>,
}

impl MatmulChoice {
    /// The heuristic choice for a product on the scalar shader ([`MatmulTiles::for_shape`]).
    pub fn heuristic(batch: usize, m: usize, n: usize) -> Self {
        Self {
            tiles: MatmulTiles::for_shape(batch, m, n),
            path: MatmulPath::Auto,
            k_splits: None,
        }
    }

    /// The heuristic choice for `problem` (what `HARK_AUTOTUNE=off` and software adapters run):
    /// [`MatmulTiles::for_problem`], quad register blocks where the vec4 shader can run, and
    /// slices no deeper than K rounded up to 4 (a K of 8 against a 16-deep slice would load and
    /// multiply as many padding zeros as values: the input gradients of narrow convolutions).
    pub fn heuristic_for(problem: &MatmulProblem) -> Self {
        Self::heuristic_on(problem, false)
    }

    /// [`Self::heuristic_for`] on a GPU (`software` false) or on a software adapter, whose
    /// "GPU" is a few CPU cores running each workgroup's invocations as SIMD lanes: a handful of
    /// workgroups keeps it busy, and what costs is the values each invocation loads per
    /// multiply-add, so products that are not thin take the vec4 shader's largest register
    /// blocks (16 x 8 per thread on 128 x 128 tiles where both sides reach 128, else 8 x 8 on
    /// 64 x 128), 1.4-2x the 64 x 64 / 4 x 4 tile's rate on lavapipe at the embedding network's
    /// shapes. GPUs keep the occupancy-minded choice (and autotune by default).
    pub fn heuristic_on(problem: &MatmulProblem, software: bool) -> Self {
        let MatmulProblem { batch, m, n, k, .. } = *problem;
        let mut tiles = MatmulTiles::for_problem(batch, m, n, problem.vec4);
        if software && problem.vec4 && m > 32 && n > 32 {
            tiles = if m >= 128 && n >= 128 {
                MatmulTiles::WIDE_BLOCKS
            } else {
                MatmulTiles {
                    bm: 64,
                    bn: 128,
                    bk: 16,
                    tm: 8,
                    tn: 8,
                }
            };
        }
        tiles.bk = tiles.bk.min(k.max(1).next_multiple_of(4) as u32);
        Self {
            tiles,
            path: MatmulPath::Auto,
            k_splits: None,
        }
    }

    /// `BMxBNxBKxTMxTN path split`, as the cache file stores it.
    pub fn describe(&self) -> String {
        let t = self.tiles;
        format!(
            "{}x{}x{}x{}x{} {} {}",
            t.bm,
            t.bn,
            t.bk,
            t.tm,
            t.tn,
            match self.path {
                MatmulPath::Scalar => "scalar",
                _ => "auto",
            },
            if self.k_splits == Some(1) {
                "budget-split"
            } else {
                "occupancy-split"
            }
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let dims: Vec<u32> = parts
            .next()?
            .split('x')
            .map(|d| d.parse().ok())
            .collect::<Option<_>>()?;
        let [bm, bn, bk, tm, tn] = dims[..] else {
            return None;
        };
        let path = match parts.next()? {
            "scalar" => MatmulPath::Scalar,
            "auto" => MatmulPath::Auto,
            _ => return None,
        };
        let k_splits = match parts.next()? {
            "budget-split" => Some(1),
            "occupancy-split" => None,
            _ => return None,
        };
        if parts.next().is_some() || [bm, bn, bk, tm, tn].contains(&0) {
            return None;
        }
        Some(Self {
            tiles: MatmulTiles { bm, bn, bk, tm, tn },
            path,
            k_splits,
        })
    }
}

/// A product to choose a configuration for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulProblem {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    /// The operands allow the vec4 shader (rows of whole vec4s on 16-byte boundaries).
    pub vec4: bool,
}

impl MatmulProblem {
    /// The shape class: dimensions rounded up to powers of two, transposes, vec4.
    pub fn class_key(&self) -> String {
        let p2 = |x: usize| x.max(1).next_power_of_two();
        format!(
            "b{} m{} n{} k{} {}{} {}",
            p2(self.batch),
            p2(self.m),
            p2(self.n),
            p2(self.k),
            if self.trans_a { 't' } else { 'n' },
            if self.trans_b { 't' } else { 'n' },
            if self.vec4 { "vec4" } else { "scalar" }
        )
    }
}

/// The configurations worth timing for `problem` on a device with `limits`: the heuristic choice
/// first, then vec4 register tiles of 4x4 up to 16x8 / 8x16 per thread (where the operands allow)
/// and the scalar shader's tiles, each with and without the occupancy split when it differs;
/// tiles far larger than the output and tiles beyond the device's limits are left out.
pub fn candidates(problem: &MatmulProblem, limits: &wgpu::Limits) -> Vec<MatmulChoice> {
    let MatmulProblem { batch, m, n, .. } = *problem;
    let t = |bm, bn, bk, tm, tn| MatmulTiles { bm, bn, bk, tm, tn };
    let mut tiles = vec![MatmulChoice::heuristic_for(problem).tiles];
    if problem.vec4 {
        tiles.extend([
            MatmulTiles::LARGE,
            MatmulTiles::SMALL,
            t(128, 128, 16, 8, 8),
            t(128, 128, 16, 16, 8),
            t(128, 128, 16, 8, 16),
            t(64, 128, 16, 8, 8),
            t(128, 64, 16, 8, 8),
            t(64, 64, 16, 8, 8),
            t(32, 128, 16, 4, 8),
            t(128, 32, 16, 8, 4),
            t(16, 128, 16, 4, 8),
            t(128, 16, 16, 8, 4),
            t(8, 128, 16, 8, 4),
            t(128, 8, 16, 4, 8),
        ]);
    }
    tiles.extend([
        MatmulTiles::LARGE,
        MatmulTiles::SMALL,
        MatmulTiles::THIN,
        t(128, 16, 16, 8, 2),
    ]);
    let mut out: Vec<MatmulChoice> = Vec::new();
    for (i, tiles) in tiles.into_iter().enumerate() {
        // Tiles more than twice the output along a side spend most of their work on padding.
        if (tiles.bm as usize > 2 * m.max(8) || tiles.bn as usize > 2 * n.max(8)) && i > 0 {
            continue;
        }
        if tiles.validate(limits).is_err() {
            continue;
        }
        // The scalar shader holds at most 8 x 8 accumulators per thread.
        let vec4_tiles = vec4_eligible(&tiles, false, false, 4, 4, 4, [0; 3]);
        if !(problem.vec4 && vec4_tiles) && (tiles.tm > 8 || tiles.tn > 8) {
            continue;
        }
        // Auto: the vec4 shader where the operands and tiles allow, else the scalar one.
        let path = MatmulPath::Auto;
        let occupancy = super::k_splits(&tiles, batch, m, n, problem.k);
        let budget = problem.k.div_ceil(tiles.max_k_per_workgroup()).max(1);
        let mut splits = vec![None];
        if occupancy > budget {
            splits.push(Some(1));
        }
        for k_splits in splits {
            let choice = MatmulChoice {
                tiles,
                path,
                k_splits,
            };
            if !out.contains(&choice) {
                out.push(choice);
            }
        }
    }
    out
}

/// What the tuner remembers on a context: whether it is on, and the choices made or loaded.
#[derive(Debug)]
pub(crate) struct AutotuneState {
    enabled: bool,
    /// Tune on software adapters too (`HARK_AUTOTUNE=on`, or [`AutotuneState::set_enabled`]):
    /// by default they take the heuristic, since timing every candidate of every class on the
    /// CPU costs minutes (the 400-clip demo went from about 7 to 18 minutes with a cold cache).
    on_software: bool,
    /// class key -> choice, for this context's adapter.
    table: HashMap<String, MatmulChoice>,
    /// The cache file was read into `table` (once per context).
    loaded: bool,
    /// The cache file ([`cache_path`] unless set on the context); `None`: memory only.
    cache: Option<PathBuf>,
}

impl AutotuneState {
    pub(crate) fn from_env() -> Mutex<Self> {
        let value = std::env::var("HARK_AUTOTUNE")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let enabled = !matches!(value.as_str(), "off" | "0" | "false" | "no");
        let on_software = matches!(value.as_str(), "on" | "1" | "true" | "yes");
        Mutex::new(Self {
            enabled,
            on_software,
            table: HashMap::new(),
            loaded: false,
            cache: cache_path(),
        })
    }

    /// Uses `cache` (or no file) from now on; forgets what was remembered.
    pub(crate) fn set_cache(&mut self, cache: Option<PathBuf>) {
        self.cache = cache;
        self.table.clear();
        self.loaded = false;
    }

    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        self.on_software = enabled;
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }
}

/// The cache file: `$HARK_CACHE_DIR`, `$XDG_CACHE_HOME/hark` or `~/.cache/hark`, then
/// `matmul-autotune.tsv`; `None` when none of them is set.
pub fn cache_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = var("HARK_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("hark")))
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache").join("hark")))?;
    Some(dir.join("matmul-autotune.tsv"))
}

/// Identifies an adapter, its driver and the matmul shaders a cached choice was timed with.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    use std::hash::{Hash, Hasher};
    // FNV-style hash of the shader sources: stable across builds of the same sources.
    let mut hasher = Fnv64::default();
    crate::shaders::Shader::Matmul.source().hash(&mut hasher);
    crate::shaders::Shader::MatmulVec4
        .source()
        .hash(&mut hasher);
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!(
        "{} | {:?} | {} {} | {:016x}",
        clean(&info.name),
        info.backend,
        clean(&info.driver),
        clean(&info.driver_info),
        hasher.finish()
    )
}

#[derive(Default)]
struct Fnv64(u64);

impl std::hash::Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The entries of a cache file for `adapter`: class key -> choice. Lines of other adapters,
/// malformed lines and an unreadable file are skipped (they mean "tune again").
pub fn read_cache(path: &Path, adapter: &str) -> HashMap<String, MatmulChoice> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (a, class, choice) = (fields.next()?, fields.next()?, fields.next()?);
            if a != adapter || fields.next().is_some() {
                return None;
            }
            Some((class.to_string(), MatmulChoice::parse(choice)?))
        })
        .collect()
}

/// Adds (or replaces) one entry in the cache file, keeping every other adapter's and class's
/// lines; written atomically. Corrupt lines are dropped on the way.
pub fn write_cache_entry(
    path: &Path,
    adapter: &str,
    class: &str,
    choice: &MatmulChoice,
) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            fields.len() == 3
                && MatmulChoice::parse(fields[2]).is_some()
                && !(fields[0] == adapter && fields[1] == class)
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("{adapter}\t{class}\t{}", choice.describe()));
    let mut text = lines.join("\n");
    text.push('\n');
    crate::io::atomic::write_bytes_atomically(path, text.as_bytes())
}

/// Times every candidate of `problem` on `ctx` (GPU timestamps where the adapter has them),
/// fastest first: (choice, best seconds of a few runs after a warm-up).
pub fn time_candidates(ctx: &Context, problem: &MatmulProblem) -> Result<Vec<(MatmulChoice, f64)>> {
    let p = *problem;
    let a_len = p.batch * p.m * p.k;
    let b_len = p.batch * p.k * p.n;
    // Any finite values do; the pattern avoids zeros, which some GPUs multiply faster.
    let fill = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5)
            .collect()
    };
    let a_shape = if p.trans_a {
        [p.batch, p.k, p.m]
    } else {
        [p.batch, p.m, p.k]
    };
    let b_shape = if p.trans_b {
        [p.batch, p.n, p.k]
    } else {
        [p.batch, p.k, p.n]
    };
    let a = Tensor::from_slice(ctx, &a_shape, &fill(a_len))?;
    let b = Tensor::from_slice(ctx, &b_shape, &fill(b_len))?;
    let out = Tensor::zeros(ctx, &[p.batch, p.m, p.n], DType::F32)?;
    let flops = super::matmul_flops(p.batch, p.m, p.n, p.k);
    // Long products need fewer repeats to time well (and cost seconds each on a CPU adapter).
    let iterations = if flops > 2e9 { 1 } else { 3 };
    let mut timed = Vec::new();
    for choice in candidates(problem, ctx.limits()) {
        let options = MatmulOptions {
            trans_a: p.trans_a,
            trans_b: p.trans_b,
            tiles: Some(choice.tiles),
            k_splits: choice.k_splits,
            path: choice.path,
            ..Default::default()
        };
        let profile = crate::profiler::profile(ctx, iterations, false, |rec| {
            matmul(rec, &a, &b, &out, &options)
        })?;
        timed.push((choice, profile.min_total_s()));
    }
    timed.sort_by(|x, y| x.1.total_cmp(&y.1));
    Ok(timed)
}

/// The configuration for `problem` on `ctx`: the heuristic when autotuning is off, else the
/// remembered or cached winner, else the winner of a tuning run now (remembered and cached).
pub fn choose(ctx: &Context, problem: &MatmulProblem) -> Result<MatmulChoice> {
    let software = ctx.is_software();
    let heuristic = MatmulChoice::heuristic_on(problem, software);
    let state = ctx.autotune_state();
    let mut state = crate::context::lock(state);
    if !state.enabled || (software && !state.on_software) {
        return Ok(heuristic);
    }
    if !state.loaded {
        state.loaded = true;
        if let Some(path) = &state.cache {
            state.table = read_cache(path, &adapter_key(ctx.adapter_info()));
        }
    }
    let class = problem.class_key();
    if let Some(choice) = state.table.get(&class) {
        return Ok(*choice);
    }
    // The key hashes the matmul shaders: computed only for a load or a store, not per launch.
    let adapter = adapter_key(ctx.adapter_info());
    let timed = time_candidates(ctx, problem)?;
    let best = timed.first().map_or(heuristic, |(c, _)| *c);
    store(&mut state, &adapter, &class, best);
    Ok(best)
}

/// Remembers `choice` for `problem`'s class on `ctx` and in the cache file, as a tuning run
/// would (`hark bench matmul --autotune` times the candidates itself).
pub fn remember(ctx: &Context, problem: &MatmulProblem, choice: &MatmulChoice) {
    let mut state = crate::context::lock(ctx.autotune_state());
    let adapter = adapter_key(ctx.adapter_info());
    store(&mut state, &adapter, &problem.class_key(), *choice);
}

fn store(state: &mut AutotuneState, adapter: &str, class: &str, choice: MatmulChoice) {
    state.table.insert(class.to_string(), choice);
    if let Some(path) = &state.cache {
        // A cache that cannot be written only costs a re-tune next time.
        let _ = write_cache_entry(path, adapter, class, &choice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_through_their_text() {
        for choice in [
            MatmulChoice::heuristic(1, 1024, 1024),
            MatmulChoice {
                tiles: MatmulTiles::THIN,
                path: MatmulPath::Scalar,
                k_splits: Some(1),
            },
        ] {
            assert_eq!(MatmulChoice::parse(&choice.describe()), Some(choice));
        }
        for bad in [
            "",
            "1x2x3 auto budget-split",
            "0x1x1x1x1 auto budget-split",
            "8x8x8x8x8 vec9 budget-split",
            "8x8x8x8x8 auto x",
        ] {
            assert_eq!(MatmulChoice::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shape_classes_round_dimensions_up_to_powers_of_two() {
        let p = |m, n, k| MatmulProblem {
            batch: 1,
            m,
            n,
            k,
            trans_a: false,
            trans_b: true,
            vec4: true,
        };
        assert_eq!(p(1000, 129, 640).class_key(), "b1 m1024 n256 k1024 nt vec4");
        assert_eq!(
            p(1000, 129, 640).class_key(),
            p(1024, 256, 1024).class_key()
        );
        assert_ne!(p(1000, 129, 640).class_key(), p(1025, 129, 640).class_key());
    }
}
