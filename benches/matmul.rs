//! Criterion bench of the tiled matmul on square and model-shaped problems, with throughput in
//! FLOP (criterion prints FLOP/s as elements/s). Each sample submits the recorded iterations and
//! waits for the device before the clock is read; the CPU SGEMM of the same shapes runs in the same
//! harness for the ratio.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hark::cpu::matmul::sgemm_matrixmultiply;
use hark::kernels::matmul::{matmul, matmul_flops, MatmulOptions};
use hark::testing::{test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

/// (name, M, N, K).
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("square_512", 512, 512, 512),
    ("square_1024", 1024, 1024, 1024),
    ("dcase_ae_4096x128x640", 4096, 128, 640),
];

fn bench_matmul(c: &mut Criterion) {
    let Some(ctx) = test_context() else { return };
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(if software { 10 } else { 3 }));
    let mut shapes = SHAPES.to_vec();
    if !software {
        shapes.push(("square_4096", 4096, 4096, 4096));
    }
    for &(name, m, n, k) in &shapes {
        let mut rng = SeededRng::new(1);
        let a_host = rng.vec(m * k, -1.0, 1.0);
        let b_host = rng.vec(k * n, -1.0, 1.0);
        group.throughput(Throughput::Elements(matmul_flops(1, m, n, k) as u64));

        let a = Tensor::from_slice(&ctx, &[m, k], &a_host).expect("upload a");
        let b = Tensor::from_slice(&ctx, &[k, n], &b_host).expect("upload b");
        let out = Tensor::zeros(&ctx, &[m, n], DType::F32).expect("alloc out");
        group.bench_function(BenchmarkId::new("gpu", name), |bench| {
            bench.iter_custom(|iters| {
                let mut rec = Recorder::new(&ctx);
                for _ in 0..iters {
                    matmul(&mut rec, &a, &b, &out, &MatmulOptions::default()).expect("record");
                }
                let start = Instant::now();
                rec.submit_and_wait().expect("submit");
                start.elapsed()
            })
        });

        let mut c_host = vec![0.0f32; m * n];
        group.bench_function(BenchmarkId::new("cpu_matrixmultiply", name), |bench| {
            bench.iter(|| sgemm_matrixmultiply(m, n, k, &a_host, &b_host, &mut c_host))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_matmul);
criterion_main!(benches);
