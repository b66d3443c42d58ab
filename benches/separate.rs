//! Criterion bench of Conv-TasNet inference: one clip through the GPU model (Mode::Eval) and
//! through the CPU reference (`hark::models::conv_tasnet::cpu_reference`, SGEMM on all cores) in the same harness.
//! Throughput is in audio samples (elements/s = samples/s; divide by 16000 for the real-time
//! factor). On a GPU the paper's default model on a 10 s clip; on a software adapter a small
//! model (N=64, B=32, H=64, X=4, R=2) on 1 s, since the default model takes minutes there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hark::models::conv_tasnet::cpu_reference::conv_tasnet_forward;
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig};
use hark::nn::{Layer, Mode};
use hark::testing::{test_context, SeededRng};
use hark::{Recorder, Tensor};

fn bench_separate(c: &mut Criterion) {
    let Some(ctx) = test_context() else { return };
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let (name, config, len) = if software {
        let small = ConvTasNetConfig {
            enc_feats: 64,
            msk_feats: 32,
            msk_hidden: 64,
            msk_layers: 4,
            msk_stacks: 2,
            ..ConvTasNetConfig::default()
        };
        ("small_1s", small, 16_000)
    } else {
        ("default_10s", ConvTasNetConfig::default(), 160_000)
    };
    let mut model = ConvTasNet::new(&ctx, config, 0).expect("model");
    let weights: HashMap<String, Vec<f32>> = model
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.to_vec(&ctx).expect("read weights")))
        .collect();
    let clip = SeededRng::new(3).vec(len, -0.3, 0.3);
    let x = Tensor::from_slice(&ctx, &[1, 1, len], &clip).expect("upload clip");

    let mut group = c.benchmark_group("separate");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(len as u64));
    group.bench_function(BenchmarkId::new("gpu", name), |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let mut rec = Recorder::new(&ctx);
                model.forward(&mut rec, &x, Mode::Eval).expect("forward");
                rec.submit_and_wait().expect("submit");
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function(BenchmarkId::new("cpu_reference", name), |bench| {
        bench.iter(|| conv_tasnet_forward(&config, &weights, &clip, 1, len).len())
    });
    group.finish();
}

criterion_group!(benches, bench_separate);
criterion_main!(benches);
