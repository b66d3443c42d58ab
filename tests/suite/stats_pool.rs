//! GPU vs CPU for x-vector statistics pooling (forward and backward) on purposeful shapes, the
//! real TDNN shape, a grid past 65535 workgroups and data with a large mean; central differences
//! for the backward through the `StatsPool` layer; the typed errors.

use hark::cpu;
use hark::kernels::reduce::{stats_pool, stats_pool_backward, STATS_POOL_EPS};
use hark::nn::{Layer, Mode, StatsPool};
use hark::testing::{assert_close, compare, test_context, SeededRng};
use hark::{Context, DType, HarkError, Recorder, Tensor};

/// (stats, grad_x) on the GPU for `x` `[b, c, l]` and output gradient `g` `[b, 2c]`.
fn run(ctx: &Context, shape: [usize; 3], x: &[f32], g: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let [b, c, _] = shape;
    let tx = Tensor::from_slice(ctx, &shape, x).unwrap();
    let stats = Tensor::zeros(ctx, &[b, 2 * c], DType::F32).unwrap();
    let tg = Tensor::from_slice(ctx, &[b, 2 * c], g).unwrap();
    let gx = Tensor::zeros(ctx, &shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    stats_pool(&mut rec, &tx, STATS_POOL_EPS, &stats).unwrap();
    stats_pool_backward(&mut rec, &tx, &stats, &tg, &gx).unwrap();
    rec.submit().unwrap();
    (stats.to_vec(ctx).unwrap(), gx.to_vec(ctx).unwrap())
}

fn check(ctx: &Context, rng: &mut SeededRng, shape: [usize; 3], offset: f32) {
    let [b, c, l] = shape;
    let x: Vec<f32> = rng
        .vec(b * c * l, -1.0, 1.0)
        .iter()
        .map(|v| v + offset)
        .collect();
    let g = rng.vec(b * 2 * c, -1.0, 1.0);
    let (stats, gx) = run(ctx, shape, &x, &g);
    let expected = cpu::reduce::stats_pool(&x, b, c, l, STATS_POOL_EPS);
    // Same adds in the same order as the twin; sqrt and the divisions may differ by the few ulps
    // WGSL allows (2e-6 relative is ~16 ulp); abs for means that cancel to near zero.
    if let Err(report) = compare(&stats, &expected, 2e-6, 1e-6) {
        panic!("stats of {shape:?} (offset {offset}): {report}");
    }
    // The backward from the CPU's own stats: a per-element formula of a few f32 ops.
    let expected_gx = cpu::reduce::stats_pool_backward(&x, &expected, &g, b, c, l);
    if let Err(report) = compare(&gx, &expected_gx, 1e-5, 1e-6) {
        panic!("grad_x of {shape:?} (offset {offset}): {report}");
    }
}

#[test]
fn stats_pool_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    // Lengths 1 (std = sqrt(eps)), primes, the workgroup's 256 +- 1, the 2 s and 10 s clips'
    // TDNN frame counts (49 and 299), channel counts that are not powers of two.
    let shapes = [
        [1, 1, 1],
        [1, 1, 2],
        [2, 3, 7],
        [3, 5, 97],
        [2, 7, 255],
        [1, 3, 256],
        [2, 2, 257],
        [1, 2, 4099],
        [4, 31, 49],
        [2, 512, 299],
    ];
    for shape in shapes {
        check(&ctx, &mut rng, shape, 0.0);
    }
}

#[test]
fn stats_pool_keeps_the_spread_of_data_with_a_large_mean() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(42);
    // 1000 +- 1: a one-pass E[x^2] - E[x]^2 would keep no correct digit of the variance.
    check(&ctx, &mut rng, [2, 3, 300], 1000.0);
    let x: Vec<f32> = (0..300).map(|i| 1000.0 + (i % 2) as f32).collect();
    let (stats, _) = run(&ctx, [1, 1, 300], &x, &[0.0, 0.0]);
    assert_close(
        &stats,
        &[1000.5, (0.25f32 + STATS_POOL_EPS).sqrt()],
        1e-6,
        0.0,
    );
}

#[test]
fn stats_pool_grid_past_65535_workgroups() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(43);
    // 131 x 512 = 67072 rows, one workgroup each: a 2-D grid.
    check(&ctx, &mut rng, [131, 512, 2], 0.0);
}

#[test]
fn stats_pool_layer_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(44);
    let shape = [2, 3, 11];
    let x = rng.vec(66, -1.0, 1.0);
    let w = rng.vec(12, -1.0, 1.0);
    let mut layer = StatsPool::new(&ctx);
    let input = Tensor::from_slice(&ctx, &shape, &x).unwrap();
    let mut rec = Recorder::new(&ctx);
    let y = layer.forward(&mut rec, &input, Mode::Train).unwrap();
    assert_eq!(y.shape(), [2, 6]);
    let grad_out = Tensor::from_slice(&ctx, &[2, 6], &w).unwrap();
    let grad_x = layer.backward(&mut rec, &grad_out).unwrap();
    rec.submit().unwrap();
    let analytic = grad_x.to_vec(&ctx).unwrap();
    // L = sum(w * pool(x)), in f64 from the GPU forward.
    let mut probe = StatsPool::new(&ctx);
    let mut loss = |values: &[f32]| -> f64 {
        let t = Tensor::from_slice(&ctx, &shape, values).unwrap();
        let mut rec = Recorder::new(&ctx);
        let y = probe.forward(&mut rec, &t, Mode::Eval).unwrap();
        rec.submit().unwrap();
        let y = y.to_vec(&ctx).unwrap();
        y.iter()
            .zip(&w)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum()
    };
    // The map is smooth (std >= sqrt(eps) and well away from it here): h = 1e-2 leaves a
    // truncation error ~h^2 * |f'''| below 1e-4; f32 rounding of the 12 outputs moves the loss
    // by ~1e-6, i.e. ~1e-4 after dividing by 2h.
    let h = 1e-2f32;
    let numeric: Vec<f32> = (0..x.len())
        .map(|i| {
            let mut shifted = x.clone();
            shifted[i] += h;
            let plus = loss(&shifted);
            shifted[i] = x[i] - h;
            let minus = loss(&shifted);
            ((plus - minus) / (2.0 * f64::from(h))) as f32
        })
        .collect();
    assert_close(&analytic, &numeric, 1e-2, 1e-3);
}

#[test]
fn stats_pool_rejects_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[2, 3, 5], DType::F32).unwrap();
    let wrong = Tensor::zeros(&ctx, &[2, 3], DType::F32).unwrap();
    let flat = Tensor::zeros(&ctx, &[6, 5], DType::F32).unwrap();
    let empty = Tensor::zeros(&ctx, &[2, 3, 0], DType::F32).unwrap();
    let good = Tensor::zeros(&ctx, &[2, 6], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let shape_error = |e: HarkError| matches!(e, HarkError::Shape { .. });
    assert!(shape_error(
        stats_pool(&mut rec, &x, STATS_POOL_EPS, &wrong).unwrap_err()
    ));
    assert!(shape_error(
        stats_pool(&mut rec, &flat, STATS_POOL_EPS, &good).unwrap_err()
    ));
    assert!(matches!(
        stats_pool(&mut rec, &empty, STATS_POOL_EPS, &good).unwrap_err(),
        HarkError::InvalidArgument { .. }
    ));
    assert!(shape_error(
        stats_pool_backward(&mut rec, &x, &good, &good, &flat).unwrap_err()
    ));
    let mut layer = StatsPool::new(&ctx);
    assert!(layer.backward(&mut rec, &good).is_err());
}
