//! `hark bench knn`: cosine top-k search of a batch of queries against a database, GPU time from
//! timestamps (wall clock where the adapter has none), queries/s and effective GFLOP/s (the
//! 2 * queries * rows * dim of the score matrix), and in the same run a CPU brute force on the same
//! data (matrixmultiply SGEMM on all cores for the scores, then a partial sort per query) for the
//! ratio. The first GPU run (pipeline compilation) is not timed; the index build is not timed on
//! either side, the query normalisation is.

use std::time::Instant;

use clap::Args;
use hark::cpu::matmul::sgemm_matrixmultiply;
use hark::kernels::knn::{download_indices, similarity_flops};
use hark::knn::{CosineIndex, IndexOptions};
use hark::profiler::{profile, TimingMethod};
use hark::rng::SeededRng;
use hark::{Context, DType, HarkError, Tensor};

#[derive(Debug, Args)]
pub struct BenchKnnArgs {
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Database rows.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    #[arg(long, default_value_t = 256)]
    dim: usize,
    #[arg(long, default_value_t = 16)]
    k: usize,
    /// Timed iterations (after one untimed warm-up).
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Store the database as f16 (needs SHADER_F16).
    #[arg(long)]
    f16: bool,
    /// Time with the wall clock even where GPU timestamps exist.
    #[arg(long)]
    wall_clock: bool,
    /// Skip the CPU brute force.
    #[arg(long)]
    no_cpu: bool,
}

pub fn run(args: &BenchKnnArgs) -> hark::Result<()> {
    let (nq, n, dim, k) = (args.queries, args.rows, args.dim, args.k);
    if nq == 0 || n == 0 || dim == 0 {
        return Err(HarkError::invalid(
            "bench knn",
            "queries, rows and dim must be at least 1",
        ));
    }
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?}); CPU: matrixmultiply SGEMM + partial sort on {} threads",
        info.name,
        info.device_type,
        info.backend,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if info.device_type == wgpu::DeviceType::Cpu {
        println!("note: a software adapter runs WGSL on the CPU; read GPU figures as ratios only");
    }
    let mut rng = SeededRng::new(42);
    let database = rng.vec(n * dim, -1.0, 1.0);
    let queries = rng.vec(nq * dim, -1.0, 1.0);
    let options = IndexOptions {
        storage: if args.f16 { DType::F16 } else { DType::F32 },
        ..Default::default()
    };
    let index = CosineIndex::from_slice(&ctx, &database, dim, options)?;
    let tq = Tensor::from_slice(&ctx, &[nq, dim], &queries)?;
    let sims = Tensor::zeros(&ctx, &[nq, k], DType::F32)?;
    let best = Tensor::zeros(&ctx, &[nq, k], DType::F32)?;
    let prof = profile(&ctx, args.iters, args.wall_clock, |rec| {
        index.search_tensor(rec, &tq, k, &sims, &best)
    })?;
    let gpu_s = prof.mean_total_s();
    if gpu_s <= 0.0 {
        return Err(HarkError::invalid(
            "bench knn",
            "the GPU reported zero time",
        ));
    }
    let flops = similarity_flops(nq, n, dim);
    println!(
        "{nq} queries x {n} rows x dim {dim}, k {k}, {} storage, {} chunk(s)",
        index.storage().name(),
        index.chunks().len()
    );
    println!(
        "gpu: {:.3} ms, {:.0} queries/s, {:.1} GFLOP/s effective",
        gpu_s * 1e3,
        nq as f64 / gpu_s,
        flops / gpu_s / 1e9
    );
    for kernel in &prof.kernels {
        println!(
            "  {:<16} {:>3} calls {:>10.3} ms",
            kernel.kernel,
            kernel.calls_per_iteration,
            kernel.mean_s * 1e3
        );
    }
    if !args.no_cpu {
        let gpu_idx = download_indices(&ctx, &best)?;
        let (cpu_s, cpu_idx) = cpu_brute_force(&queries, &database, dim, k);
        let same = gpu_idx.iter().zip(&cpu_idx).filter(|(a, b)| a == b).count();
        println!(
            "cpu: {:.3} ms, {:.0} queries/s, {:.1} GFLOP/s; gpu/cpu speed ratio {:.2}; \
             {:.4} of the top-k indices identical (the rest are f32 near-ties)",
            cpu_s * 1e3,
            nq as f64 / cpu_s,
            flops / cpu_s / 1e9,
            cpu_s / gpu_s,
            same as f64 / gpu_idx.len().max(1) as f64
        );
    }
    println!(
        "timing: {} ({} iterations after a warm-up)",
        match prof.method {
            TimingMethod::Timestamps => "GPU timestamp queries",
            TimingMethod::WallClock => "wall clock per submit (no timestamp queries)",
        },
        args.iters
    );
    Ok(())
}

/// Rows of `x` over their L2 norms (zero rows stay zero).
fn normalized(x: &[f32], dim: usize) -> Vec<f32> {
    let mut out = x.to_vec();
    for row in out.chunks_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    out
}

/// CPU cosine top-k: seconds (query normalisation, SGEMM in blocks of queries, partial sort) and
/// the indices, best first, ties to the lower index.
fn cpu_brute_force(queries: &[f32], database: &[f32], dim: usize, k: usize) -> (f64, Vec<u32>) {
    let n = database.len() / dim;
    // Untimed, like the GPU index build: the database normalised and transposed to [dim, n].
    let db = normalized(database, dim);
    let mut db_t = vec![0.0f32; n * dim];
    for (r, row) in db.chunks(dim).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            db_t[c * n + r] = v;
        }
    }
    let start = Instant::now();
    let q = normalized(queries, dim);
    const BLOCK: usize = 64;
    let mut scores = vec![0.0f32; BLOCK * n];
    let mut indices = Vec::with_capacity(queries.len() / dim * k);
    for block in q.chunks(BLOCK * dim) {
        let rows = block.len() / dim;
        sgemm_matrixmultiply(rows, n, dim, block, &db_t, &mut scores[..rows * n]);
        for row in scores[..rows * n].chunks(n) {
            let mut order: Vec<u32> = (0..n as u32).collect();
            let before = |a: &u32, b: &u32| {
                row[*b as usize]
                    .partial_cmp(&row[*a as usize])
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(b))
            };
            if k < n {
                order.select_nth_unstable_by(k, before);
                order.truncate(k);
            }
            order.sort_unstable_by(before);
            indices.extend_from_slice(&order[..k]);
        }
    }
    (start.elapsed().as_secs_f64(), indices)
}
