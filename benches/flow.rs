//! Criterion bench of the affine coupling kernel, forward + backward in one submit, on the GPU and
//! through its CPU twin (`hark::cpu::flow`) in the same harness. Throughput in elements of x
//! per second. Shapes: the flow system's 640-dim vectors at batch 512 and a FastFlow-like map
//! `[8, 64, 32, 32]`; on a software adapter the batch and the map shrink to keep runs short.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hark::cpu::flow::{self as reference, FlowDims};
use hark::kernels::flow::{coupling_backward, coupling_forward};
use hark::models::flow::CLAMP;
use hark::testing::{test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

fn bench_coupling(c: &mut Criterion) {
    let Some(ctx) = test_context() else { return };
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let shapes: [(&str, FlowDims); 2] = if software {
        [
            (
                "vectors_128x640",
                FlowDims {
                    n: 128,
                    channels: 640,
                    inner: 1,
                },
            ),
            (
                "map_2x64x16x16",
                FlowDims {
                    n: 2,
                    channels: 64,
                    inner: 256,
                },
            ),
        ]
    } else {
        [
            (
                "vectors_512x640",
                FlowDims {
                    n: 512,
                    channels: 640,
                    inner: 1,
                },
            ),
            (
                "map_8x64x32x32",
                FlowDims {
                    n: 8,
                    channels: 64,
                    inner: 1024,
                },
            ),
        ]
    };
    let mut group = c.benchmark_group("flow_coupling_fwd_bwd");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    let mut rng = SeededRng::new(1);
    for (name, d) in shapes {
        let shape = [d.n, d.channels, d.inner];
        let a_shape = [d.n, 2 * (d.channels / 2), d.inner];
        let a_len = a_shape.iter().product();
        let x = rng.vec(d.numel(), -1.0, 1.0);
        let a = rng.vec(a_len, -5.0, 5.0);
        let g = rng.vec(d.numel(), -1.0, 1.0);
        let gl = rng.vec(d.n, -1.0, 1.0);
        let upload =
            |shape: &[usize], v: &[f32]| Tensor::from_slice(&ctx, shape, v).expect("upload");
        let zeros = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).expect("alloc");
        let (tx, ta, tg, tgl) = (
            upload(&shape, &x),
            upload(&a_shape, &a),
            upload(&shape, &g),
            upload(&[d.n], &gl),
        );
        let (out, logdet, grad_x, grad_a) =
            (zeros(&shape), zeros(&[d.n]), zeros(&shape), zeros(&a_shape));
        group.throughput(Throughput::Elements(d.numel() as u64));
        group.bench_function(BenchmarkId::new("gpu", name), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut rec = Recorder::new(&ctx);
                    coupling_forward(&mut rec, &tx, &ta, CLAMP, &out, &logdet).expect("forward");
                    coupling_backward(&mut rec, &tx, &ta, &tg, &tgl, CLAMP, &grad_x, &grad_a)
                        .expect("backward");
                    rec.submit_and_wait().expect("submit");
                    total += start.elapsed();
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("cpu_reference", name), |bench| {
            bench.iter(|| {
                let (y, _) = reference::coupling_forward(&x, &a, d, CLAMP);
                let grads = reference::coupling_backward(&x, &a, &g, &gl, d, CLAMP);
                y.len() + grads.grad_a.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_coupling);
criterion_main!(benches);
