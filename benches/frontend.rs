//! Criterion bench of the front end: log-mel (n_fft 1024, hop 512, 128 mels) and the
//! 160000-point whole-clip spectrum of a batch of ten-second clips on the GPU, and the CPU path
//! (realfft + matrixmultiply, all cores) on the same batch in the same harness. Throughput is in
//! clips (elements/s = clips/s).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hark::features::cpu_path;
use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::testing::{test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

const SAMPLES: usize = 160_000;

fn bench_frontend(c: &mut Criterion) {
    let Some(ctx) = test_context() else { return };
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    // 64 clips on a GPU (the batch); 16 on lavapipe to keep the run short.
    let clips_n = if software { 16 } else { 64 };
    let mut rng = SeededRng::new(9);
    let clips: Vec<Vec<f32>> = (0..clips_n).map(|_| rng.vec(SAMPLES, -0.5, 0.5)).collect();
    let packed: Vec<f32> = clips.iter().flatten().copied().collect();
    let input = Tensor::from_slice(&ctx, &[clips_n, SAMPLES], &packed).expect("upload clips");

    let mut group = c.benchmark_group("frontend");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(if software { 10 } else { 3 }));
    group.throughput(Throughput::Elements(clips_n as u64));
    for (name, kind) in [
        ("logmel", FeatureKind::Logmel),
        ("spectrum_160000", FeatureKind::Spectrum),
    ] {
        let spec = FeatureSpec::dcase(kind);
        let mut shape = vec![clips_n];
        shape.extend(spec.output_shape(SAMPLES));
        let out = Tensor::zeros(&ctx, &shape, DType::F32).expect("alloc out");
        let mut extractor = FeatureExtractor::new(&ctx, &spec).expect("plan");
        group.bench_function(BenchmarkId::new("gpu", name), |bench| {
            bench.iter_custom(|iters| {
                let mut rec = Recorder::new(&ctx);
                for _ in 0..iters {
                    extractor
                        .record(&mut rec, &input, SAMPLES, &out)
                        .expect("record");
                }
                let start = Instant::now();
                rec.submit_and_wait().expect("submit");
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("cpu_realfft", name), |bench| {
            bench.iter(|| match kind {
                FeatureKind::Spectrum => cpu_path::spectrum(&clips).len(),
                _ => cpu_path::logmel(&clips, &spec).len(),
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_frontend);
criterion_main!(benches);
