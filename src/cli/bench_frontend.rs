//! `hark bench frontend`: the log-mel of a batch of ten-second clips (n_fft 1024, hop 512, 128
//! mels) and the whole-clip spectrum (160000 points) on the GPU, timed per kernel with timestamps,
//! against the CPU path (realfft + matrixmultiply on all cores) on the same clips in the same run.

use std::time::Instant;

use clap::{Args, ValueEnum};
use hark::features::cpu_path;
use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::profiler::{profile, Profile};
use hark::rng::SeededRng;
use hark::{Context, DType, Tensor};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PathChoice {
    /// The library's choice: fused on GPUs, global on software adapters.
    Auto,
    /// The fused workgroup FFT where it fits, on any adapter.
    Workgroup,
    /// One dispatch per FFT stage through global memory.
    Global,
}

#[derive(Debug, Args)]
pub struct BenchFrontendArgs {
    /// Clips per batch.
    #[arg(long, default_value_t = 64)]
    clips: usize,
    /// Samples per clip (10 s at 16 kHz).
    #[arg(long, default_value_t = 160_000)]
    samples: usize,
    /// Timed iterations (after one untimed warm-up).
    #[arg(long, default_value_t = 3)]
    iters: usize,
    #[arg(long, value_enum, default_value_t = PathChoice::Auto)]
    fft_path: PathChoice,
}

pub fn run(args: &BenchFrontendArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?}); {} clips x {} samples; CPU path: realfft + matrixmultiply on {} threads",
        info.name,
        info.device_type,
        info.backend,
        args.clips,
        args.samples,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if info.device_type == wgpu::DeviceType::Cpu {
        println!("note: a software adapter runs WGSL on the CPU; read GPU figures as ratios only");
    }
    let mut rng = SeededRng::new(5);
    let clips: Vec<Vec<f32>> = (0..args.clips)
        .map(|_| rng.vec(args.samples, -0.5, 0.5))
        .collect();
    let fft_path = match args.fft_path {
        PathChoice::Auto => FftPath::Auto,
        PathChoice::Workgroup => FftPath::Workgroup,
        PathChoice::Global => FftPath::Global,
    };
    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "feature", "gpu ms", "gpu clip/s", "gpu GB/s", "cpu ms", "cpu clip/s", "gpu/cpu"
    );
    for kind in [FeatureKind::Logmel, FeatureKind::Spectrum] {
        let spec = FeatureSpec {
            fft_path,
            ..FeatureSpec::dcase(kind)
        };
        let (gpu, prof) = time_gpu(&ctx, &spec, &clips, args.iters)?;
        let start = Instant::now();
        let cpu_runs = 2;
        for _ in 0..cpu_runs {
            match kind {
                FeatureKind::Spectrum => drop(cpu_path::spectrum(&clips)),
                _ => drop(cpu_path::logmel(&clips, &spec)),
            }
        }
        let cpu_s = start.elapsed().as_secs_f64() / f64::from(cpu_runs);
        let n = args.clips as f64;
        // Bytes that must cross memory at least once: the clips in, the features out.
        let out_floats: usize = spec.output_shape(args.samples).iter().product();
        let bytes = (args.clips * (args.samples + out_floats) * 4) as f64;
        println!(
            "{:>10} {:>10.2} {:>10.1} {:>10.3} {:>10.2} {:>10.1} {:>8.3}",
            format!("{kind:?}").to_lowercase(),
            gpu * 1e3,
            n / gpu,
            bytes / gpu / 1e9,
            cpu_s * 1e3,
            n / cpu_s,
            cpu_s / gpu
        );
        for k in &prof.kernels {
            println!(
                "{:>10}   {:<22} {:>3} call(s) {:>10.2} ms",
                "",
                k.kernel,
                k.calls_per_iteration,
                k.mean_s * 1e3
            );
        }
    }
    println!(
        "GB/s counts clip samples read and features written once (f32); gpu/cpu is the speed-up."
    );
    Ok(())
}

/// Mean GPU seconds per batch (timestamps where available) and the per-kernel profile.
fn time_gpu(
    ctx: &Context,
    spec: &FeatureSpec,
    clips: &[Vec<f32>],
    iters: usize,
) -> hark::Result<(f64, Profile)> {
    let len = clips.first().map_or(0, Vec::len);
    let mut packed = Vec::with_capacity(clips.len() * len);
    for clip in clips {
        packed.extend_from_slice(clip);
    }
    let input = Tensor::from_slice(ctx, &[clips.len(), len], &packed)?;
    let mut shape = vec![clips.len()];
    shape.extend(spec.output_shape(len));
    let out = Tensor::zeros(ctx, &shape, DType::F32)?;
    let mut extractor = FeatureExtractor::new(ctx, spec)?;
    let prof = profile(ctx, iters, false, |rec| {
        extractor.record(rec, &input, len, &out)
    })?;
    let seconds = prof.mean_total_s();
    Ok((seconds, prof))
}
