//! `hark bench matmul`: GPU time of the tiled matmul from timestamps (wall clock where the adapter
//! has none), GFLOP/s, and in the same run a CPU SGEMM (matrixmultiply, all cores) on the same
//! shapes, with the ratio. The first run of each shape (pipeline compilation) is not timed.

use std::time::Instant;

use super::bench_matmul_operands::{cpu_sgemm, operands};
use clap::Args;
use hark::kernels::matmul::autotune::{self, MatmulChoice, MatmulProblem};
use hark::kernels::matmul::{
    matmul, matmul_flops, splits_used, vec4_eligible, MatmulOptions, MatmulPath, MatmulTiles,
};
use hark::profiler::{profile, TimingMethod};
use hark::{Context, DType, HarkError, Recorder, Tensor};

#[derive(Debug, Args)]
pub struct BenchMatmulArgs {
    /// Shapes as MxNxK (repeatable). Default: 512^3, 1024^3, 4096x128x640 (the DCASE AE layer),
    /// and 4096^3 on hardware GPUs.
    #[arg(long = "shape", value_parser = parse_shape)]
    shapes: Vec<(usize, usize, usize)>,
    /// Timed iterations per shape (after one untimed warm-up).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Also time each product with the wall clock, read-back of the result included (median of
    /// the iterations): the figure `peer-bench` (burn on the same adapter) reports.
    #[arg(long)]
    wall_clock: bool,
    /// Time every autotuning candidate of each shape and print them (the winner is cached as
    /// the autotuner would).
    #[arg(long)]
    autotune: bool,
    /// Skip the CPU SGEMM comparison.
    #[arg(long)]
    no_cpu: bool,
    /// Tile configuration: auto (autotuned, or the heuristic with HARK_AUTOTUNE=off), large (128x128, 8x8 per thread), small (64x64, 4x4),
    /// thin (16x128, 2x8; for outputs of at most 16 rows) or a custom BMxBNxBKxTMxTN.
    #[arg(long, default_value = "auto", value_parser = parse_tiles)]
    tiles: TileChoice,
    /// Force at least this many K slices (default: the launcher's choice).
    #[arg(long)]
    k_splits: Option<usize>,
    /// A stored [K, M] (transposed).
    #[arg(long)]
    trans_a: bool,
    /// B stored [N, K] (transposed; PyTorch's Linear weight, the kNN's database).
    #[arg(long)]
    trans_b: bool,
    /// Shader: auto (vec4 wherever the shapes allow), scalar (matmul.wgsl) or vec4.
    #[arg(long, value_enum, default_value_t = PathArg::Auto)]
    path: PathArg,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PathArg {
    Auto,
    Scalar,
    Vec4,
}

impl From<PathArg> for MatmulPath {
    fn from(p: PathArg) -> Self {
        match p {
            PathArg::Auto => MatmulPath::Auto,
            PathArg::Scalar => MatmulPath::Scalar,
            PathArg::Vec4 => MatmulPath::Vec4,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum TileChoice {
    Auto,
    Fixed(MatmulTiles),
}

fn parse_tiles(text: &str) -> Result<TileChoice, String> {
    let fixed = |t| Ok(TileChoice::Fixed(t));
    match text {
        "auto" => Ok(TileChoice::Auto),
        "large" => fixed(MatmulTiles::LARGE),
        "small" => fixed(MatmulTiles::SMALL),
        "thin" => fixed(MatmulTiles::THIN),
        _ => {
            let dims: Vec<u32> = text
                .split(['x', 'X'])
                .map(|d| {
                    d.trim()
                        .parse::<u32>()
                        .map_err(|e| format!("{text:?}: {e}"))
                })
                .collect::<Result<_, _>>()?;
            match dims[..] {
                [bm, bn, bk, tm, tn] => fixed(MatmulTiles { bm, bn, bk, tm, tn }),
                _ => Err(format!(
                    "{text:?}: expected auto, large, small, thin or BMxBNxBKxTMxTN"
                )),
            }
        }
    }
}

fn parse_shape(text: &str) -> Result<(usize, usize, usize), String> {
    let dims: Vec<usize> = text
        .split(['x', 'X'])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .map_err(|e| format!("{text:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    match dims[..] {
        [m, n, k] if m > 0 && n > 0 && k > 0 => Ok((m, n, k)),
        [s] if s > 0 => Ok((s, s, s)),
        _ => Err(format!(
            "{text:?}: expected MxNxK or a single size, all > 0"
        )),
    }
}

pub fn run(args: &BenchMatmulArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let mut shapes = args.shapes.clone();
    if shapes.is_empty() {
        shapes = vec![(512, 512, 512), (1024, 1024, 1024), (4096, 128, 640)];
        if !software {
            shapes.push((4096, 4096, 4096));
        }
    }
    println!(
        "adapter: {} ({:?}, {:?}); CPU SGEMM: matrixmultiply on {} threads",
        info.name,
        info.device_type,
        info.backend,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if software {
        println!("note: a software adapter runs WGSL on the CPU; read GPU figures as ratios only");
    }
    let header = format!(
        "{:>16} {:>20} {:>10} {:>11} {:>11} {:>11} {:>8} {:>9}",
        "M x N x K",
        "tiles",
        "gpu ms",
        "gpu GFLOP/s",
        "best GFLOP/s",
        "cpu GFLOP/s",
        "gpu/cpu",
        "err/sqrtK"
    );
    let wall_header = if args.wall_clock {
        format!(" {:>12}", "wall ms (rb)")
    } else {
        String::new()
    };
    if !args.autotune {
        println!("{header}{wall_header}");
    }
    let mut method = TimingMethod::Timestamps;
    for &(m, n, k) in &shapes {
        let row = bench_shape(&ctx, args, m, n, k)?;
        if args.autotune {
            println!("{header}{wall_header}");
        }
        method = row.method;
        let cpu = row
            .cpu_gflops
            .map_or("-".to_string(), |g| format!("{g:.1}"));
        let ratio = row
            .cpu_gflops
            .map_or("-".to_string(), |g| format!("{:.3}", row.gflops / g));
        let wall = row
            .wall_s
            .map_or(String::new(), |s| format!(" {:>12.1}", s * 1e3));
        println!(
            "{:>16} {:>20} {:>10.3} {:>11.1} {:>11.1} {:>11} {:>8} {:>9.1e}{wall}",
            format!("{m}x{n}x{k}"),
            row.tiles,
            row.mean_s * 1e3,
            row.gflops,
            row.best_gflops,
            cpu,
            ratio,
            row.max_rel_err
        );
    }
    println!(
        "timing: {} ({} iterations after a warm-up); GFLOP/s = 2*M*N*K / mean time; \
         err/sqrtK = largest |gpu - cpu| / sqrt(K); wall ms (rb) = median wall time of record, \
         submit and read-back (--wall-clock)",
        match method {
            TimingMethod::Timestamps => "GPU timestamp queries",
            TimingMethod::WallClock => "wall clock per submit (no timestamp queries)",
        },
        args.iters
    );
    Ok(())
}

struct Row {
    tiles: String,
    mean_s: f64,
    gflops: f64,
    best_gflops: f64,
    cpu_gflops: Option<f64>,
    max_rel_err: f64,
    method: TimingMethod,
    wall_s: Option<f64>,
}

fn bench_shape(
    ctx: &Context,
    args: &BenchMatmulArgs,
    m: usize,
    n: usize,
    k: usize,
) -> hark::Result<Row> {
    let (ta, tb) = (args.trans_a, args.trans_b);
    let ([a_host, b_host], [a, b]) = operands(ctx, (m, n, k), ta, tb)?;
    let out = Tensor::zeros(ctx, &[m, n], DType::F32)?;
    let problem = MatmulProblem {
        batch: 1,
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
        vec4: vec4_eligible(&MatmulTiles::SMALL, ta, tb, m, n, k, [0; 3]),
    };
    if args.autotune {
        print_candidates(ctx, &problem)?;
    }
    let (tiles, options) = launch_options(ctx, args, &problem)?;
    let path = options.path;
    let splits = splits_used(&tiles, options.k_splits, 1, m, n, k);
    let prof = profile(ctx, args.iters, false, |rec| {
        matmul(rec, &a, &b, &out, &options)
    })?;
    let flops = matmul_flops(1, m, n, k);
    let mean_s = prof.mean_total_s();
    let best_s = prof.min_total_s();
    if mean_s <= 0.0 {
        return Err(HarkError::invalid(
            "bench matmul",
            "the GPU reported zero time",
        ));
    }
    let wall_s = if args.wall_clock {
        Some(median_wall_s(ctx, args.iters, [&a, &b, &out], &options)?)
    } else {
        None
    };
    let vec4 = path != MatmulPath::Scalar && vec4_eligible(&tiles, ta, tb, m, n, k, [0; 3]);

    let gpu = out.to_vec(ctx)?;
    let (cpu_out, cpu_best_s) = cpu_sgemm((m, n, k), &a_host, &b_host, !args.no_cpu);
    let cpu_gflops = cpu_best_s.map(|s| flops / s / 1e9);
    // Scaled by sqrt(K), the typical magnitude of a sum of K products of uniform inputs.
    let scale = (k as f64).sqrt().max(1.0);
    let max_rel_err = gpu
        .iter()
        .zip(&cpu_out)
        .map(|(g, c)| f64::from((g - c).abs()) / scale)
        .fold(0.0, f64::max);
    Ok(Row {
        tiles: tiles_label(&tiles, vec4, splits),
        mean_s,
        gflops: flops / mean_s / 1e9,
        best_gflops: flops / best_s / 1e9,
        cpu_gflops,
        max_rel_err,
        method: prof.method,
        wall_s,
    })
}

/// The launch `args` ask for on `problem`: the autotuned (or heuristic) choice, or the forced
/// tiles, path and K split.
fn launch_options(
    ctx: &Context,
    args: &BenchMatmulArgs,
    problem: &MatmulProblem,
) -> hark::Result<(MatmulTiles, MatmulOptions<'static>)> {
    let choice = match args.tiles {
        TileChoice::Auto => autotune::choose(ctx, problem)?,
        TileChoice::Fixed(tiles) => MatmulChoice {
            tiles,
            path: MatmulPath::Auto,
            k_splits: None,
        },
    };
    let options = MatmulOptions {
        trans_a: problem.trans_a,
        trans_b: problem.trans_b,
        tiles: Some(choice.tiles),
        k_splits: args.k_splits.or(choice.k_splits),
        path: match args.path {
            PathArg::Auto => choice.path,
            forced => forced.into(),
        },
        ..Default::default()
    };
    Ok((choice.tiles, options))
}

/// `v4 128x128/16x8 k/2`: the shader, the tile, the register block and the K split.
fn tiles_label(tiles: &MatmulTiles, vec4: bool, splits: usize) -> String {
    format!(
        "{}{}x{}/{}x{}{}",
        if vec4 { "v4 " } else { "" },
        tiles.bm,
        tiles.bn,
        tiles.tm,
        tiles.tn,
        if splits > 1 {
            format!(" k/{splits}")
        } else {
            String::new()
        }
    )
}

/// Median wall time of `iters` (at least 1) recorded, submitted and read-back matmuls of
/// `a x b -> out`: the figure `peer-bench` (burn on the same adapter) reports.
fn median_wall_s(
    ctx: &Context,
    iters: usize,
    [a, b, out]: [&Tensor; 3],
    options: &MatmulOptions,
) -> hark::Result<f64> {
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let start = Instant::now();
        let mut rec = Recorder::new(ctx);
        matmul(&mut rec, a, b, out, options)?;
        rec.submit()?;
        let _ = out.to_vec(ctx)?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Times every autotuning candidate of `problem` and prints them, fastest first; the winner is
/// remembered and cached as [`autotune::choose`] would.
fn print_candidates(ctx: &Context, problem: &MatmulProblem) -> hark::Result<()> {
    let timed = autotune::time_candidates(ctx, problem)?;
    let flops = matmul_flops(problem.batch, problem.m, problem.n, problem.k);
    println!(
        "autotune {}x{}x{} ({}): {} candidates",
        problem.m,
        problem.n,
        problem.k,
        problem.class_key(),
        timed.len()
    );
    for (choice, seconds) in &timed {
        println!(
            "  {:<40} {:>10.3} ms {:>9.1} GFLOP/s",
            choice.describe(),
            seconds * 1e3,
            flops / seconds / 1e9
        );
    }
    if let Some((best, _)) = timed.first() {
        autotune::remember(ctx, problem, best);
    }
    Ok(())
}
