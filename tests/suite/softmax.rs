//! GPU vs CPU for softmax along one axis: purposeful lengths, every axis of small and model
//! shapes, a grid past 65535 rows, stability at logits of +-1000 and with masked (-inf) entries,
//! and the typed errors.

use hark::cpu;
use hark::kernels::reduce::AxisView;
use hark::kernels::softmax;
use hark::testing::{assert_close, compare, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Context, DType, HarkError, Recorder, Tensor};

/// GPU vs twin: the max and the sum are formed in the same order, so what differs is exp, which
/// WGSL lets err by 3 + 2|x| ulp against the CPU's libm (19 ulp, ~1.1e-6 relative, at the
/// |x - max| <= 8 of these inputs), then one division (2.5 ulp). 1e-5 relative covers the exp in
/// the sum and in the numerator with room; abs 1e-8 covers probabilities near zero, where the
/// exp error bound grows with |x - max|.
const REL: f32 = 1e-5;
const ABS: f32 = 1e-8;

fn run_softmax(ctx: &Context, shape: &[usize], x: &[f32], axis: usize) -> Vec<f32> {
    let tx = Tensor::from_slice(ctx, shape, x).unwrap();
    let out = Tensor::zeros(ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    softmax::softmax(&mut rec, &tx, axis, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

fn check_softmax(ctx: &Context, shape: &[usize], x: &[f32], axis: usize) {
    let gpu = run_softmax(ctx, shape, x, axis);
    let view = AxisView::new("test", shape, axis).unwrap();
    if let Err(report) = compare(&gpu, &cpu::softmax::softmax(x, view), REL, ABS) {
        panic!("softmax of {shape:?} along {axis}: {report}");
    }
}

#[test]
fn softmax_matches_cpu_on_purposeful_lengths() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(31);
    for &n in PURPOSEFUL_LENGTHS {
        check_softmax(&ctx, &[n], &rng.vec(n, -4.0, 4.0), 0);
    }
}

#[test]
fn softmax_matches_cpu_along_every_axis() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(32);
    let cases: &[&[usize]] = &[&[1, 1], &[3, 7, 5], &[5, 1, 3], &[2, 3, 7, 11], &[64, 1000]];
    for &shape in cases {
        let x = rng.vec(shape.iter().product(), -4.0, 4.0);
        for axis in 0..shape.len() {
            check_softmax(&ctx, shape, &x, axis);
        }
    }
}

#[test]
fn softmax_matches_cpu_on_model_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(33);
    // Attention pooling over 313 frames of a [batch 4, heads 8, 313] score map, and over the
    // 313-frame axis of a [4, 313, 64] tensor (strided by 64).
    let x = rng.vec(4 * 8 * 313, -4.0, 4.0);
    check_softmax(&ctx, &[4, 8, 313], &x, 2);
    let x = rng.vec(4 * 313 * 64, -4.0, 4.0);
    check_softmax(&ctx, &[4, 313, 64], &x, 1);
    // Over 128 channels of a [32, 128, 640] activation (20480 rows strided by 640).
    let x = rng.vec(32 * 128 * 640, -4.0, 4.0);
    check_softmax(&ctx, &[32, 128, 640], &x, 1);
}

#[test]
fn softmax_covers_grids_past_65535_rows() {
    let Some(ctx) = test_context() else { return };
    // 70000 rows of 3 along the last axis: one workgroup each, folded into a 2-D grid by
    // grid_1d; rows past 65535 come from wid.y.
    let x = SeededRng::new(34).vec(70000 * 3, -4.0, 4.0);
    check_softmax(&ctx, &[70000, 3], &x, 1);
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    let Some(ctx) = test_context() else { return };
    // Without the max subtraction exp(1000) is inf and every output NaN.
    let rows: [&[f32]; 4] = [
        &[1000.0, 999.0, -1000.0, 998.0],
        &[-1000.0, -1000.0, -1000.0, -1000.0],
        &[1000.0, 1000.0, -1000.0, -1000.0],
        &[88.0, 89.0, 90.0, 1000.0],
    ];
    let x: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    let got = run_softmax(&ctx, &[4, 4], &x, 1);
    let expected = f64_softmax(&x, 4);
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    // Against f64 math: a handful of f32 roundings plus exp's error at |x - max| <= 2 (7 ulp);
    // entries 1000 below the max are exactly 0 in f32 (e^-1000 underflows), hence abs 1e-30.
    assert_close(&got, &expected, 2e-6, 1e-30);
}

#[test]
fn softmax_rows_sum_to_one() {
    let Some(ctx) = test_context() else { return };
    let x = SeededRng::new(35).vec(7 * 4099, -20.0, 20.0);
    let got = run_softmax(&ctx, &[7, 4099], &x, 1);
    let sums: Vec<f32> = got
        .chunks(4099)
        .map(|r| r.iter().map(|&v| f64::from(v)).sum::<f64>() as f32)
        .collect();
    // Each output carries a few ulp of relative error and they add to 1: 1e-5 absolute is ~80 ulp.
    assert_close(&sums, &[1.0; 7], 0.0, 1e-5);
}

#[test]
fn softmax_gives_masked_entries_zero() {
    let Some(ctx) = test_context() else { return };
    // -inf logits (an attention mask) get probability 0 and leave the rest a proper softmax.
    // WGSL does not promise IEEE infinities in arithmetic; exp(-inf) = 0 holds on lavapipe and
    // the usual GPU drivers, and this test is where a driver that differs would show.
    let ninf = f32::NEG_INFINITY;
    let x = [0.0, ninf, 1.0, ninf, ninf, 2.0, ninf, 3.0];
    let got = run_softmax(&ctx, &[2, 4], &x, 1);
    let e = std::f32::consts::E;
    let expected = [
        1.0 / (1.0 + e),
        0.0,
        e / (1.0 + e),
        0.0,
        0.0,
        1.0 / (1.0 + e),
        0.0,
        e / (1.0 + e),
    ];
    // A few f32 roundings and exp's error at |x| <= 1.
    assert_close(&got, &expected, 2e-6, 0.0);
}

/// Softmax of rows of `len` in f64 (max-subtracted too: the ground truth must not overflow).
fn f64_softmax(x: &[f32], len: usize) -> Vec<f32> {
    x.chunks(len)
        .flat_map(|row| {
            let m = row
                .iter()
                .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
            let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / s) as f32)
        })
        .collect()
}

#[test]
fn cpu_softmax_matches_f64() {
    // The twin is the spec, so it is itself held to f64 math: a few f32 roundings per output.
    let x = SeededRng::new(36).vec(3 * 313, -10.0, 10.0);
    let view = AxisView::new("test", &[3, 313], 1).unwrap();
    assert_close(
        &cpu::softmax::softmax(&x, view),
        &f64_softmax(&x, 313),
        2e-6,
        1e-12,
    );
}

#[test]
fn softmax_rejects_bad_axes_and_outputs() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[4, 5], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[4, 5], DType::F32).unwrap();
    let short = Tensor::zeros(&ctx, &[4, 4], DType::F32).unwrap();
    let empty_axis = Tensor::zeros(&ctx, &[4, 0], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = softmax::softmax(&mut rec, &x, 2, &out).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = softmax::softmax(&mut rec, &empty_axis, 1, &empty_axis).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    let err = softmax::softmax(&mut rec, &x, 1, &short).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    // In place is not supported: the runtime refuses a buffer bound read-only and written.
    let err = softmax::softmax(&mut rec, &x, 1, &x).unwrap_err();
    assert!(err.to_string().contains("share one buffer"), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). One row of
/// 5,600,000 values takes one workgroup 3 x 21,875 strided steps per thread, past that limit
/// (the old launcher accepted it); the launcher now refuses rows past the budget.
#[test]
fn softmax_refuses_rows_past_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let n = 5_600_000usize;
    let x = Tensor::zeros(&ctx, &[1, n], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[1, n], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = softmax::softmax(&mut rec, &x, 1, &out).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("loop iterations"), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}
