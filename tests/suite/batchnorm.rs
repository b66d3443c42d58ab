//! BatchNorm (+ fused ReLU): GPU vs the f64 CPU twin for training forward (with running
//! averages), eval forward and backward, and finite differences of the CPU forward against the
//! GPU backward.

use hark::cpu::batchnorm as cpu_bn;
use hark::kernels::batchnorm::{batchnorm, batchnorm_backward, BatchNormConfig, BatchNormState};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn up(ctx: &Context, shape: &[usize], v: &[f64]) -> Tensor {
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(ctx, shape, &v32).unwrap()
}

fn down(ctx: &Context, t: &Tensor) -> Vec<f32> {
    t.to_vec(ctx).unwrap()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// (N, C, L): the DCASE AE's [512, 128] shrunk, a prime batch, channel counts that are not
/// multiples of the 64-thread workgroup, one sample of length > 1, conv-style [N, C, L], and the
/// OE stem's [128, 8, 32 * 64] (one thread per channel lost all but the first rows there).
const SHAPES: &[(usize, usize, usize)] = &[
    (32, 128, 1),
    (7, 65, 1),
    (1, 3, 5),
    (5, 8, 3),
    (3, 1, 1),
    (128, 8, 2048),
];

#[test]
fn forward_backward_and_running_statistics_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    for &(n, c, l) in SHAPES {
        for relu in [true, false] {
            let config = BatchNormConfig {
                eps: 1e-3,
                momentum: 0.01,
                relu,
            };
            let shape: Vec<usize> = if l == 1 { vec![n, c] } else { vec![n, c, l] };
            let gen = |rng: &mut SeededRng, len: usize, lo: f32, hi: f32| -> Vec<f64> {
                rng.vec(len, lo, hi).iter().map(|&v| f64::from(v)).collect()
            };
            // An offset of 3 in the inputs: the two-pass variance must hold.
            let x: Vec<f64> = gen(&mut rng, n * c * l, -1.0, 1.0)
                .iter()
                .map(|v| v + 3.0)
                .collect();
            let gamma = gen(&mut rng, c, 0.5, 1.5);
            let beta = gen(&mut rng, c, -0.5, 0.5);
            let rm = gen(&mut rng, c, -0.1, 0.1);
            let rv = gen(&mut rng, c, 0.9, 1.1);
            let dy = gen(&mut rng, n * c * l, -1.0, 1.0);
            let (y_ref, mean, rstd, rm_ref, rv_ref) =
                cpu_bn::batchnorm_train(&x, n, c, l, &gamma, &beta, &rm, &rv, 1e-3, 0.01, relu);

            let tx = up(&ctx, &shape, &x);
            let (tg, tb) = (up(&ctx, &[c], &gamma), up(&ctx, &[c], &beta));
            let (trm, trv) = (up(&ctx, &[c], &rm), up(&ctx, &[c], &rv));
            let ty = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
            let saved = Tensor::zeros(&ctx, &[c, 2], DType::F32).unwrap();
            let state = BatchNormState {
                gamma: &tg,
                beta: &tb,
                running_mean: &trm,
                running_var: &trv,
            };
            let mut rec = Recorder::new(&ctx);
            batchnorm(&mut rec, &tx, &state, &config, true, &ty, &saved).unwrap();
            let tdy = up(&ctx, &shape, &dy);
            let tdx = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
            let tdg = Tensor::zeros(&ctx, &[c], DType::F32).unwrap();
            let tdb = Tensor::zeros(&ctx, &[c], DType::F32).unwrap();
            batchnorm_backward(
                &mut rec, &tx, &ty, &tdy, &tg, &saved, &config, &tdx, &tdg, &tdb,
            )
            .unwrap();
            rec.submit().unwrap();

            // f32 sums of at most 32 values against f64: a few ulps of the normalised values.
            assert_close(&down(&ctx, &ty), &f32s(&y_ref), 1e-4, 1e-4);
            assert_close(&down(&ctx, &trm), &f32s(&rm_ref), 1e-5, 1e-6);
            assert_close(&down(&ctx, &trv), &f32s(&rv_ref), 1e-4, 1e-6);
            let (dx_ref, dg_ref, db_ref) =
                cpu_bn::batchnorm_backward(&x, &y_ref, &dy, n, c, l, &gamma, &mean, &rstd, relu);
            // dx subtracts sums of O(N) terms: absolute error ~ N eps * |dy| * gamma * rstd.
            assert_close(&down(&ctx, &tdx), &f32s(&dx_ref), 1e-3, 1e-3);
            assert_close(&down(&ctx, &tdg), &f32s(&dg_ref), 1e-3, 1e-3);
            assert_close(&down(&ctx, &tdb), &f32s(&db_ref), 1e-4, 1e-4);

            // Eval mode with the updated running statistics.
            let te = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
            let mut rec = Recorder::new(&ctx);
            batchnorm(&mut rec, &tx, &state, &config, false, &te, &saved).unwrap();
            rec.submit().unwrap();
            let e_ref =
                cpu_bn::batchnorm_eval(&x, n, c, l, &gamma, &beta, &rm_ref, &rv_ref, 1e-3, relu);
            // Inputs near 3 with running stats near 0/1: values ~4, a few ulps.
            assert_close(&down(&ctx, &te), &f32s(&e_ref), 1e-4, 1e-4);
        }
    }
}

#[test]
fn backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(42);
    let (n, c, l) = (6, 5, 2);
    for relu in [false, true] {
        let config = BatchNormConfig {
            eps: 1e-3,
            momentum: 0.1,
            relu,
        };
        let gen = |rng: &mut SeededRng, len: usize, lo: f32, hi: f32| -> Vec<f64> {
            rng.vec(len, lo, hi).iter().map(|&v| f64::from(v)).collect()
        };
        let x = gen(&mut rng, n * c * l, -2.0, 2.0);
        let gamma = gen(&mut rng, c, 0.5, 1.5);
        let beta = gen(&mut rng, c, -0.5, 0.5);
        let (rm, rv) = (vec![0.0; c], vec![1.0; c]);
        let g = gen(&mut rng, n * c * l, -1.0, 1.0);
        let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
            let (y, ..) =
                cpu_bn::batchnorm_train(x, n, c, l, gamma, beta, &rm, &rv, 1e-3, 0.1, relu);
            y.iter().zip(&g).map(|(a, b)| a * b).sum()
        };
        let h = 1e-5;
        let fd = |f: &dyn Fn(&[f64]) -> f64, v: &[f64]| -> Vec<f32> {
            (0..v.len())
                .map(|i| {
                    let (mut plus, mut minus) = (v.to_vec(), v.to_vec());
                    plus[i] += h;
                    minus[i] -= h;
                    ((f(&plus) - f(&minus)) / (2.0 * h)) as f32
                })
                .collect()
        };
        let fd_x = fd(&|v| loss(v, &gamma, &beta), &x);
        let fd_gamma = fd(&|v| loss(&x, v, &beta), &gamma);
        let fd_beta = fd(&|v| loss(&x, &gamma, v), &beta);

        let shape = [n, c, l];
        let tx = up(&ctx, &shape, &x);
        let (tg, tb) = (up(&ctx, &[c], &gamma), up(&ctx, &[c], &beta));
        let (trm, trv) = (up(&ctx, &[c], &rm), up(&ctx, &[c], &rv));
        let state = BatchNormState {
            gamma: &tg,
            beta: &tb,
            running_mean: &trm,
            running_var: &trv,
        };
        let ty = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
        let saved = Tensor::zeros(&ctx, &[c, 2], DType::F32).unwrap();
        let tdy = up(&ctx, &shape, &g);
        let tdx = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
        let tdg = Tensor::zeros(&ctx, &[c], DType::F32).unwrap();
        let tdb = Tensor::zeros(&ctx, &[c], DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        batchnorm(&mut rec, &tx, &state, &config, true, &ty, &saved).unwrap();
        batchnorm_backward(
            &mut rec, &tx, &ty, &tdy, &tg, &saved, &config, &tdx, &tdg, &tdb,
        )
        .unwrap();
        rec.submit().unwrap();
        // Central differences of the f64 forward (h = 1e-5: truncation ~1e-10, rounding ~1e-11)
        // against the f32 GPU backward: the GPU's rounding dominates, ~1e-5 relative. A ReLU
        // kink within h of an input would break this; none is that close with these seeds.
        assert_close(&down(&ctx, &tdx), &fd_x, 1e-3, 1e-4);
        assert_close(&down(&ctx, &tdg), &fd_gamma, 1e-3, 1e-4);
        assert_close(&down(&ctx, &tdb), &fd_beta, 1e-3, 1e-4);
    }
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). One channel of
/// 9,000,000 values (a long BatchNorm2d plane, N * H * W): the old kernels strode one
/// workgroup over the whole channel (3 passes of 35,157 steps forward, 2 backward), so the
/// tails of y and dx were never written. Long channels must be split over many workgroups.
#[test]
fn long_channel_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let (n, c, l) = (1usize, 1usize, 9_000_000usize);
    let shape = [n, c, l];
    let config = BatchNormConfig {
        eps: 1e-3,
        momentum: 0.01,
        relu: true,
    };
    let mut rng = SeededRng::new(42);
    let x: Vec<f64> = rng.vec(l, 2.0, 4.0).iter().map(|&v| f64::from(v)).collect();
    let dy: Vec<f64> = rng
        .vec(l, -1.0, 1.0)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let (gamma, beta, rm, rv) = (vec![1.3], vec![-0.2], vec![0.05], vec![1.02]);
    let (y_ref, mean, rstd, rm_ref, rv_ref) =
        cpu_bn::batchnorm_train(&x, n, c, l, &gamma, &beta, &rm, &rv, 1e-3, 0.01, true);
    let tx = up(&ctx, &shape, &x);
    let (tg, tb) = (up(&ctx, &[c], &gamma), up(&ctx, &[c], &beta));
    let (trm, trv) = (up(&ctx, &[c], &rm), up(&ctx, &[c], &rv));
    let ty = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
    let saved = Tensor::zeros(&ctx, &[c, 2], DType::F32).unwrap();
    let state = BatchNormState {
        gamma: &tg,
        beta: &tb,
        running_mean: &trm,
        running_var: &trv,
    };
    let tdy = up(&ctx, &shape, &dy);
    let tdx = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
    let (tdg, tdb) = (
        Tensor::zeros(&ctx, &[c], DType::F32).unwrap(),
        Tensor::zeros(&ctx, &[c], DType::F32).unwrap(),
    );
    let mut rec = Recorder::new(&ctx);
    batchnorm(&mut rec, &tx, &state, &config, true, &ty, &saved).unwrap();
    batchnorm_backward(
        &mut rec, &tx, &ty, &tdy, &tg, &saved, &config, &tdx, &tdg, &tdb,
    )
    .unwrap();
    rec.submit().unwrap();
    // 9 M values in chunks of 4,096 merged in order: ~1e-5 relative on the statistics.
    assert_close(&down(&ctx, &ty), &f32s(&y_ref), 1e-4, 1e-4);
    assert_close(&down(&ctx, &trm), &f32s(&rm_ref), 1e-5, 1e-6);
    assert_close(&down(&ctx, &trv), &f32s(&rv_ref), 1e-4, 1e-6);
    // The ReLU mask from the GPU's own y: among 9 M values a few sit within f32 rounding of
    // the kink, where the two sides may legitimately disagree.
    let y_gpu: Vec<f64> = down(&ctx, &ty).iter().map(|&v| f64::from(v)).collect();
    let (dx_ref, dg_ref, db_ref) =
        cpu_bn::batchnorm_backward(&x, &y_gpu, &dy, n, c, l, &gamma, &mean, &rstd, true);
    assert_close(&down(&ctx, &tdx), &f32s(&dx_ref), 1e-3, 1e-3);
    // Sums of ~4.5 M terms of size ~1 (totals ~1,000): f32 rounding ~1e-2 absolute.
    assert_close(&down(&ctx, &tdg), &f32s(&dg_ref), 1e-3, 5e-2);
    assert_close(&down(&ctx, &tdb), &f32s(&db_ref), 1e-3, 5e-2);
}
