//! Criterion bench of the batched STFT (64 ten-second clips at 16 kHz, n_fft 1024, hop 512,
//! centred, power: the DCASE front end) and of the 160000-point whole-clip magnitude spectrum of
//! 64 clips (Wilkinghoff), on the GPU and, in the same harness, with the rustfft/realfft CPU
//! references (f64, one thread) over the same batch. Throughput is declared in clips, so
//! criterion's elements/s are clips/s; the bytes each clip moves (samples in, spectrum out) are
//! printed once so that GB/s = clips/s x bytes per clip. Each GPU sample submits the recorded
//! iterations and waits for the device before the clock is read.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hark::cpu::{fft as cpu_fft, stft as cpu_stft};
use hark::kernels::fft::{rfft_bins, FftPath, RfftPlan, SpectrumKind};
use hark::kernels::stft::{stft_frames, Centering, StftOptions, StftPlan};
use hark::testing::{test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

const CLIPS: usize = 64;
const SAMPLES: usize = 160_000;

fn bench_fft(c: &mut Criterion) {
    let Some(ctx) = test_context() else { return };
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let mut group = c.benchmark_group("fft");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(if software { 10 } else { 3 }));
    group.throughput(Throughput::Elements(CLIPS as u64));

    let host = SeededRng::new(1).vec(CLIPS * SAMPLES, -1.0, 1.0);
    let input = Tensor::from_slice(&ctx, &[CLIPS, SAMPLES], &host).expect("upload clips");

    // STFT, DCASE configuration.
    let options = StftOptions {
        n_fft: 1024,
        hop: 512,
        center: Centering::Zero,
        output: SpectrumKind::Power,
        path: FftPath::Auto,
    };
    let frames = stft_frames(SAMPLES, options.n_fft, options.hop, options.center);
    let bins = rfft_bins(options.n_fft);
    eprintln!(
        "fft/stft_1024_512: {} bytes per clip",
        4 * (SAMPLES + frames * bins)
    );
    let plan = StftPlan::new(&ctx, &options).expect("plan stft");
    let out = Tensor::zeros(&ctx, &[CLIPS, frames, bins], DType::F32).expect("alloc stft");
    group.bench_function(BenchmarkId::new("gpu", "stft_1024_512"), |bench| {
        bench.iter_custom(|iters| {
            let mut rec = Recorder::new(&ctx);
            for _ in 0..iters {
                plan.record(&mut rec, &input, &out).expect("record stft");
            }
            let start = Instant::now();
            rec.submit_and_wait().expect("submit");
            start.elapsed()
        })
    });
    // The same STFT on the multi-pass global-memory path, for the choice between the two paths.
    let global = StftPlan::new(
        &ctx,
        &StftOptions {
            path: FftPath::Global,
            ..options
        },
    )
    .expect("plan global stft");
    group.bench_function(BenchmarkId::new("gpu_global", "stft_1024_512"), |bench| {
        bench.iter_custom(|iters| {
            let mut rec = Recorder::new(&ctx);
            for _ in 0..iters {
                global.record(&mut rec, &input, &out).expect("record stft");
            }
            let start = Instant::now();
            rec.submit_and_wait().expect("submit");
            start.elapsed()
        })
    });
    group.bench_function(BenchmarkId::new("cpu_realfft", "stft_1024_512"), |bench| {
        bench.iter(|| cpu_stft::stft(&host, CLIPS, &options))
    });

    // Whole-clip spectrum: 160000 = 2^8 5^4, mixed radix on the packed 80000-point half.
    let bins = rfft_bins(SAMPLES);
    eprintln!("fft/rfft_160000: {} bytes per clip", 4 * (SAMPLES + bins));
    let plan = RfftPlan::new(&ctx, SAMPLES, FftPath::Auto).expect("plan rfft");
    let out = Tensor::zeros(&ctx, &[CLIPS, bins], DType::F32).expect("alloc rfft");
    group.bench_function(BenchmarkId::new("gpu", "rfft_160000"), |bench| {
        bench.iter_custom(|iters| {
            let mut rec = Recorder::new(&ctx);
            for _ in 0..iters {
                plan.record(&mut rec, &input, &out, SpectrumKind::Magnitude)
                    .expect("record rfft");
            }
            let start = Instant::now();
            rec.submit_and_wait().expect("submit");
            start.elapsed()
        })
    });
    group.bench_function(BenchmarkId::new("cpu_realfft", "rfft_160000"), |bench| {
        bench.iter(|| cpu_fft::rfft(&host, SAMPLES, SpectrumKind::Magnitude))
    });
    group.finish();
}

criterion_group!(benches, bench_fft);
criterion_main!(benches);
