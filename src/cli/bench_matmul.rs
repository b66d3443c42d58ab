//! `hark bench matmul`: GPU time of the tiled matmul from timestamps (wall clock where the adapter
//! has none), GFLOP/s, and in the same run a CPU SGEMM (matrixmultiply, all cores) on the same
//! shapes, with the ratio. The first run of each shape (pipeline compilation) is not timed.

use std::time::Instant;

use clap::Args;
use hark::cpu::matmul::sgemm_matrixmultiply;
use hark::kernels::matmul::{matmul, matmul_flops, splits_used, MatmulOptions, MatmulTiles};
use hark::profiler::{profile, TimingMethod};
use hark::testing::SeededRng;
use hark::{Context, DType, HarkError, Tensor};

#[derive(Debug, Args)]
pub struct BenchMatmulArgs {
    /// Shapes as MxNxK (repeatable). Default: 512^3, 1024^3, 4096x128x640 (the DCASE AE layer),
    /// and 4096^3 on hardware GPUs.
    #[arg(long = "shape", value_parser = parse_shape)]
    shapes: Vec<(usize, usize, usize)>,
    /// Timed iterations per shape (after one untimed warm-up).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Time with the wall clock even where GPU timestamps exist.
    #[arg(long)]
    wall_clock: bool,
    /// Skip the CPU SGEMM comparison.
    #[arg(long)]
    no_cpu: bool,
    /// Tile configuration: auto (by shape), large (128x128, 8x8 per thread), small (64x64, 4x4),
    /// thin (16x128, 2x8; for outputs of at most 16 rows) or a custom BMxBNxBKxTMxTN.
    #[arg(long, default_value = "auto", value_parser = parse_tiles)]
    tiles: TileChoice,
    /// Force at least this many K slices (default: the launcher's choice).
    #[arg(long)]
    k_splits: Option<usize>,
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
    println!(
        "{:>16} {:>16} {:>10} {:>11} {:>11} {:>11} {:>8} {:>9}",
        "M x N x K",
        "tiles",
        "gpu ms",
        "gpu GFLOP/s",
        "best GFLOP/s",
        "cpu GFLOP/s",
        "gpu/cpu",
        "err/sqrtK"
    );
    let mut method = TimingMethod::Timestamps;
    for &(m, n, k) in &shapes {
        let row = bench_shape(&ctx, args, m, n, k)?;
        method = row.method;
        let cpu = row
            .cpu_gflops
            .map_or("-".to_string(), |g| format!("{g:.1}"));
        let ratio = row
            .cpu_gflops
            .map_or("-".to_string(), |g| format!("{:.3}", row.gflops / g));
        println!(
            "{:>16} {:>16} {:>10.3} {:>11.1} {:>11.1} {:>11} {:>8} {:>9.1e}",
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
         err/sqrtK = largest |gpu - cpu| / sqrt(K)",
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
}

fn bench_shape(
    ctx: &Context,
    args: &BenchMatmulArgs,
    m: usize,
    n: usize,
    k: usize,
) -> hark::Result<Row> {
    let mut rng = SeededRng::new(42);
    let a_host = rng.vec(m * k, -1.0, 1.0);
    let b_host = rng.vec(k * n, -1.0, 1.0);
    let a = Tensor::from_slice(ctx, &[m, k], &a_host)?;
    let b = Tensor::from_slice(ctx, &[k, n], &b_host)?;
    let out = Tensor::zeros(ctx, &[m, n], DType::F32)?;
    let tiles = match args.tiles {
        TileChoice::Auto => MatmulTiles::for_shape(1, m, n),
        TileChoice::Fixed(t) => t,
    };
    let options = MatmulOptions {
        tiles: Some(tiles),
        k_splits: args.k_splits,
        ..Default::default()
    };
    let splits = splits_used(&tiles, args.k_splits, 1, m, n, k);
    let prof = profile(ctx, args.iters, args.wall_clock, |rec| {
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

    let gpu = out.to_vec(ctx)?;
    let mut cpu_out = vec![0.0f32; m * n];
    let mut cpu_gflops = None;
    if !args.no_cpu {
        let mut best = f64::INFINITY;
        // Warm-up plus timed runs, best of three (the CPU has no compilation to exclude).
        for run in 0..4 {
            let start = Instant::now();
            sgemm_matrixmultiply(m, n, k, &a_host, &b_host, &mut cpu_out);
            if run > 0 {
                best = best.min(start.elapsed().as_secs_f64());
            }
        }
        cpu_gflops = Some(flops / best / 1e9);
    } else {
        sgemm_matrixmultiply(m, n, k, &a_host, &b_host, &mut cpu_out);
    }
    // Scaled by sqrt(K), the typical magnitude of a sum of K products of uniform inputs.
    let scale = (k as f64).sqrt().max(1.0);
    let max_rel_err = gpu
        .iter()
        .zip(&cpu_out)
        .map(|(g, c)| f64::from((g - c).abs()) / scale)
        .fold(0.0, f64::max);
    Ok(Row {
        tiles: format!(
            "{}x{}/{}x{}{}",
            tiles.bm,
            tiles.bn,
            tiles.tm,
            tiles.tn,
            if splits > 1 {
                format!(" k/{splits}")
            } else {
                String::new()
            }
        ),
        mean_s,
        gflops: flops / mean_s / 1e9,
        best_gflops: flops / best_s / 1e9,
        cpu_gflops,
        max_rel_err,
        method: prof.method,
    })
}
