//! Adam / AdamW and the MSE loss: GPU vs CPU over several steps, and the MSE gradient against
//! finite differences.

use hark::cpu;
use hark::kernels::loss::{mse_backward, mse_rows};
use hark::kernels::optim::{adam_step, AdamConfig};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

#[test]
fn adam_and_adamw_match_cpu_over_steps() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(51);
    for (decoupled, weight_decay) in [(false, 0.0), (false, 1e-2), (true, 1e-2)] {
        for n in [1usize, 257, 1000] {
            let config = AdamConfig {
                weight_decay,
                decoupled,
                ..AdamConfig::adam(1e-2)
            };
            let mut p = rng.vec(n, -1.0, 1.0);
            let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
            let tp = Tensor::from_slice(&ctx, &[n], &p).unwrap();
            let tm = Tensor::zeros(&ctx, &[n], DType::F32).unwrap();
            let tv = Tensor::zeros(&ctx, &[n], DType::F32).unwrap();
            for step in 1..=5u64 {
                let g = rng.vec(n, -1.0, 1.0);
                let tgrad = Tensor::from_slice(&ctx, &[n], &g).unwrap();
                let mut rec = Recorder::new(&ctx);
                adam_step(&mut rec, &config, step, 0.5, &tgrad, &tp, &tm, &tv, None).unwrap();
                rec.submit().unwrap();
                cpu::optim::adam_step(&config, step, 0.5, &g, &mut p, &mut m, &mut v);
            }
            // Same arithmetic in f32; sqrt and division are correctly rounded in WGSL but the
            // compiler may fuse multiply-adds: a few ulps after 5 steps.
            assert_close(&tp.to_vec(&ctx).unwrap(), &p, 1e-5, 1e-6);
            assert_close(&tm.to_vec(&ctx).unwrap(), &m, 1e-5, 1e-7);
            assert_close(&tv.to_vec(&ctx).unwrap(), &v, 1e-5, 1e-9);
        }
    }
}

#[test]
fn mse_rows_and_gradient_match_cpu_and_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(52);
    for (rows, cols) in [(1usize, 1usize), (3, 7), (512, 640), (257, 5)] {
        let p = rng.vec(rows * cols, -1.0, 1.0);
        let t = rng.vec(rows * cols, -1.0, 1.0);
        let tp = Tensor::from_slice(&ctx, &[rows, cols], &p).unwrap();
        let tt = Tensor::from_slice(&ctx, &[rows, cols], &t).unwrap();
        let per_row = Tensor::zeros(&ctx, &[rows], DType::F32).unwrap();
        let grad = Tensor::zeros(&ctx, &[rows, cols], DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        mse_rows(&mut rec, &tp, &tt, &per_row).unwrap();
        mse_backward(&mut rec, &tp, &tt, 3.0, &grad).unwrap();
        rec.submit().unwrap();
        // Sums of up to 640 squares in the same order: a few ulps.
        assert_close(
            &per_row.to_vec(&ctx).unwrap(),
            &cpu::loss::mse_rows(&p, &t, cols),
            1e-5,
            1e-7,
        );
        let g = grad.to_vec(&ctx).unwrap();
        assert_close(&g, &cpu::loss::mse_backward(&p, &t, 3.0), 1e-6, 0.0);
        if rows * cols <= 21 {
            // d(3 * mean((p - t)^2)) / dp by central differences in f64.
            let loss = |p: &[f64]| -> f64 {
                3.0 * p
                    .iter()
                    .zip(&t)
                    .map(|(a, &b)| (a - f64::from(b)).powi(2))
                    .sum::<f64>()
                    / p.len() as f64
            };
            let p64: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
            let fd: Vec<f32> = (0..p64.len())
                .map(|i| {
                    let (mut a, mut b) = (p64.clone(), p64.clone());
                    a[i] += 1e-6;
                    b[i] -= 1e-6;
                    ((loss(&a) - loss(&b)) / 2e-6) as f32
                })
                .collect();
            // Quadratic: central differences are exact up to f64 rounding (~1e-9).
            assert_close(&g, &fd, 1e-5, 1e-6);
        }
    }
}

#[test]
fn the_model_optimizer_follows_its_learning_rate_schedule() {
    let Some(ctx) = test_context() else { return };
    use hark::nn::{Adam, LrSchedule, Param};
    let mut rng = SeededRng::new(53);
    let n = 37;
    let mut p_host = rng.vec(n, -1.0, 1.0);
    let param = Param::new(&ctx, "w".into(), &[n], &p_host).unwrap();
    let config = AdamConfig::adam(0.1);
    let mut adam = Adam::new(&ctx, &[&param], config).unwrap();
    adam.schedule = LrSchedule::one_cycle(0.1, 6);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    for step in 0..6u64 {
        let g = rng.vec(n, -1.0, 1.0);
        param.grad.write(&ctx, &g).unwrap();
        let mut rec = Recorder::new(&ctx);
        adam.step(&mut rec, &[&param]).unwrap();
        rec.submit().unwrap();
        let scheduled = AdamConfig {
            lr: adam.schedule.lr(step),
            ..config
        };
        cpu::optim::adam_step(&scheduled, step + 1, 1.0, &g, &mut p_host, &mut m, &mut v);
    }
    // Same arithmetic as adam_and_adamw_match_cpu_over_steps: a few ulps after 6 steps.
    assert_close(&param.value.to_vec(&ctx).unwrap(), &p_host, 1e-5, 1e-6);
}

#[test]
fn global_norm_clipping_scales_every_gradient_like_torch() {
    let Some(ctx) = test_context() else { return };
    use hark::kernels::optim::clip_scale;
    let mut rng = SeededRng::new(54);
    let sizes = [1usize, 300, 17, 1000];
    let grads: Vec<Vec<f32>> = sizes.iter().map(|&n| rng.vec(n, -1.0, 1.0)).collect();
    let tensors: Vec<Tensor> = grads
        .iter()
        .map(|g| Tensor::from_slice(&ctx, &[g.len()], g).unwrap())
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let partials = Tensor::zeros(&ctx, &[sizes.len()], DType::F32).unwrap();
    let scale = Tensor::zeros(&ctx, &[2], DType::F32).unwrap();
    let slices: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    for max_norm in [0.5f32, 1e3] {
        let mut rec = Recorder::new(&ctx);
        clip_scale(&mut rec, &refs, max_norm, &partials, &scale).unwrap();
        rec.submit().unwrap();
        let (expected_scale, expected_norm) = cpu::optim::clip_scale(&slices, max_norm);
        // A tree sum of ~1300 squares against an f64 sum: ~1e-6 relative.
        assert_close(
            &scale.to_vec(&ctx).unwrap(),
            &[expected_scale, expected_norm],
            1e-5,
            0.0,
        );
    }
    // Adam with the GPU scale equals Adam with the scale applied on the host.
    let config = AdamConfig::adam(1e-2);
    let n = sizes[3];
    let mut p = rng.vec(n, -1.0, 1.0);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let tp = Tensor::from_slice(&ctx, &[n], &p).unwrap();
    let tm = Tensor::zeros(&ctx, &[n], DType::F32).unwrap();
    let tv = Tensor::zeros(&ctx, &[n], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    clip_scale(&mut rec, &refs, 0.5, &partials, &scale).unwrap();
    adam_step(
        &mut rec,
        &config,
        1,
        1.0,
        &tensors[3],
        &tp,
        &tm,
        &tv,
        Some(&scale),
    )
    .unwrap();
    rec.submit().unwrap();
    let (s, _) = cpu::optim::clip_scale(&slices, 0.5);
    cpu::optim::adam_step(&config, 1, s, &grads[3], &mut p, &mut m, &mut v);
    assert_close(&tp.to_vec(&ctx).unwrap(), &p, 1e-5, 1e-6);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). Rows of 70,001
/// values (MSE on ~4.4 s of 16 kHz audio): one thread per row walked the whole row and dropped
/// its tail; long rows must be shared by a workgroup. The tail carries large errors so that a
/// dropped tail shows.
#[test]
fn mse_rows_over_long_rows_cross_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let (rows, cols) = (3usize, 70_001usize);
    let mut rng = SeededRng::new(53);
    let p = rng.vec(rows * cols, -1.0, 1.0);
    let mut t = rng.vec(rows * cols, -1.0, 1.0);
    for row in t.chunks_mut(cols) {
        for v in &mut row[cols - 5_000..] {
            *v += 10.0;
        }
    }
    let tp = Tensor::from_slice(&ctx, &[rows, cols], &p).unwrap();
    let tt = Tensor::from_slice(&ctx, &[rows, cols], &t).unwrap();
    let per_row = Tensor::zeros(&ctx, &[rows], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    mse_rows(&mut rec, &tp, &tt, &per_row).unwrap();
    rec.submit().unwrap();
    // 70,001 squares summed in f32 (274 per thread, then a tree): ~1e-6 relative.
    assert_close(
        &per_row.to_vec(&ctx).unwrap(),
        &cpu::loss::mse_rows(&p, &t, cols),
        1e-5,
        1e-6,
    );
}
