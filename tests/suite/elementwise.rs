//! GPU vs CPU for the elementwise kernels on purposeful lengths and shapes, the stability of
//! sigmoid and tanh at large |x|, and the typed errors for mismatched shapes.

use hark::cpu;
use hark::kernels::elementwise::{self, BinaryOp, UnaryOp};
use hark::testing::{assert_close, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Context, DType, HarkError, Recorder, Tensor};

#[test]
fn binary_matches_cpu_on_purposeful_lengths() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(1);
    for &n in PURPOSEFUL_LENGTHS {
        // Same length, a divisor (broadcast over leading axes), and a scalar.
        for b_len in [n, largest_proper_divisor(n), 1] {
            for op in [BinaryOp::Add, BinaryOp::Mul] {
                let a = rng.vec(n, -2.0, 2.0);
                let b = rng.vec(b_len, -2.0, 2.0);
                let ta = Tensor::from_slice(&ctx, &[n], &a).unwrap();
                let tb = Tensor::from_slice(&ctx, &[b_len], &b).unwrap();
                let out = Tensor::zeros(&ctx, &[n], hark::DType::F32).unwrap();
                let mut rec = Recorder::new(&ctx);
                elementwise::binary(&mut rec, op, &ta, &tb, &out).unwrap();
                rec.submit().unwrap();
                // One rounding in both: bitwise-equal is expected, allow 1 ulp-ish.
                assert_close(
                    &out.to_vec(&ctx).unwrap(),
                    &cpu::elementwise::binary(op, &a, &b),
                    1e-6,
                    0.0,
                );
            }
        }
    }
}

#[test]
fn binary_rejects_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let a = Tensor::zeros(&ctx, &[6], hark::DType::F32).unwrap();
    let b = Tensor::zeros(&ctx, &[4], hark::DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[6], hark::DType::F32).unwrap();
    let short = Tensor::zeros(&ctx, &[5], hark::DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = elementwise::add(&mut rec, &a, &b, &out).unwrap_err();
    assert!(err.to_string().contains("does not broadcast"), "{err}");
    let err = elementwise::add(&mut rec, &a, &a, &short).unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
}

fn largest_proper_divisor(n: usize) -> usize {
    (1..n).rev().find(|d| n.is_multiple_of(*d)).unwrap_or(1)
}

/// Every op, with non-trivial scalars (a negative scale, torch's default LeakyReLU slope).
const UNARY_OPS: [UnaryOp; 6] = [
    UnaryOp::Scale(-1.5),
    UnaryOp::Relu,
    UnaryOp::LeakyRelu(0.01),
    UnaryOp::Sigmoid,
    UnaryOp::Tanh,
    UnaryOp::Relu6,
];

fn run_unary(ctx: &Context, op: UnaryOp, x: &[f32]) -> Vec<f32> {
    let tx = Tensor::from_slice(ctx, &[x.len()], x).unwrap();
    let out = Tensor::zeros(ctx, &[x.len()], DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    elementwise::unary(&mut rec, op, &tx, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// (rel, abs) tolerance of GPU vs CPU twin for `op`.
fn unary_tolerance(op: UnaryOp) -> (f32, f32) {
    match op {
        // One correctly rounded multiply (WGSL requires it) or a copy/compare: bitwise equal.
        UnaryOp::Scale(_) | UnaryOp::Relu | UnaryOp::LeakyRelu(_) | UnaryOp::Relu6 => (0.0, 0.0),
        // WGSL allows exp an error of 3 + 2|x| ulp (19 ulp, ~1.1e-6 relative, at |x| = 8) against
        // the CPU's libm; a division and an add follow. 4e-6 covers that with room; abs 1e-7
        // covers sigmoid's tail, where a device may flush denormals to zero.
        UnaryOp::Sigmoid | UnaryOp::Tanh => (4e-6, 1e-7),
    }
}

#[test]
fn unary_matches_cpu_on_purposeful_lengths() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(11);
    for &n in PURPOSEFUL_LENGTHS {
        // [-8, 8] spans the series branch of tanh (|x| < 0.25), its exp branch, and sigmoid's
        // two branches; a zero checks ReLU's boundary.
        let mut x = rng.vec(n, -8.0, 8.0);
        x[n / 2] = 0.0;
        // ReLU6's upper kink.
        x[n - 1] = 6.0;
        for op in UNARY_OPS {
            let (rel, abs) = unary_tolerance(op);
            let gpu = run_unary(&ctx, op, &x);
            if let Err(report) =
                hark::testing::compare(&gpu, &cpu::elementwise::unary(op, &x), rel, abs)
            {
                panic!("{op:?} n={n}: {report}");
            }
        }
    }
}

#[test]
fn unary_convenience_functions_match_unary() {
    let Some(ctx) = test_context() else { return };
    let x: Vec<f32> = SeededRng::new(12).vec(257, -4.0, 4.0);
    let tx = Tensor::from_slice(&ctx, &[257], &x).unwrap();
    let outs: Vec<Tensor> = (0..5)
        .map(|_| Tensor::zeros(&ctx, &[257], DType::F32).unwrap())
        .collect();
    let mut rec = Recorder::new(&ctx);
    elementwise::scale(&mut rec, &tx, -1.5, &outs[0]).unwrap();
    elementwise::relu(&mut rec, &tx, &outs[1]).unwrap();
    elementwise::leaky_relu(&mut rec, &tx, 0.01, &outs[2]).unwrap();
    elementwise::sigmoid(&mut rec, &tx, &outs[3]).unwrap();
    elementwise::tanh(&mut rec, &tx, &outs[4]).unwrap();
    rec.submit().unwrap();
    for (op, out) in UNARY_OPS.into_iter().zip(&outs) {
        let (rel, abs) = unary_tolerance(op);
        assert_close(
            &out.to_vec(&ctx).unwrap(),
            &cpu::elementwise::unary(op, &x),
            rel,
            abs,
        );
    }
}

#[test]
fn cpu_sigmoid_and_tanh_match_f64() {
    // The CPU twin is the spec, so it is itself held to f64 math: a dense sweep over the series /
    // exp switch of tanh (0.25) and out to where both saturate.
    let x: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.005).collect();
    let sig: Vec<f32> = x
        .iter()
        .map(|&v| (1.0 / (1.0 + (-f64::from(v)).exp())) as f32)
        .collect();
    let tanh: Vec<f32> = x.iter().map(|&v| f64::from(v).tanh() as f32).collect();
    // A few f32 roundings after a correctly rounded-ish libm exp: 1e-6 relative is ~8 ulp.
    assert_close(
        &cpu::elementwise::unary(UnaryOp::Sigmoid, &x),
        &sig,
        1e-6,
        0.0,
    );
    // Same budget; near 0 the series is exact to 1e-8 and the exp branch starts at |x| = 0.25,
    // where the cancellation in 1 - e^-2|x| costs under 2 bits.
    assert_close(
        &cpu::elementwise::unary(UnaryOp::Tanh, &x),
        &tanh,
        1e-6,
        0.0,
    );
}

#[test]
fn sigmoid_and_tanh_stay_finite_at_large_inputs() {
    let Some(ctx) = test_context() else { return };
    let x = [
        -1e30f32, -1000.0, -100.0, -88.8, -50.0, -20.0, -1e-3, -1e-30, 0.0, 1e-30, 1e-3, 20.0,
        50.0, 88.8, 100.0, 1000.0, 1e30,
    ];
    let sig = run_unary(&ctx, UnaryOp::Sigmoid, &x);
    let tanh = run_unary(&ctx, UnaryOp::Tanh, &x);
    for (i, &v) in x.iter().enumerate() {
        assert!(
            sig[i].is_finite() && (0.0..=1.0).contains(&sig[i]),
            "sigmoid({v}) = {}",
            sig[i]
        );
        assert!(
            tanh[i].is_finite() && (-1.0..=1.0).contains(&tanh[i]),
            "tanh({v}) = {}",
            tanh[i]
        );
    }
    // Saturation is exact in f32: e^-100 is far below half an ulp of 1.
    assert_eq!(sig[x.len() - 3], 1.0);
    assert!(sig[2] < 1e-30, "sigmoid(-100) = {}", sig[2]);
    assert_eq!(tanh[2], -1.0);
    assert_eq!(tanh[x.len() - 3], 1.0);
    // Odd symmetry and the small-argument limit tanh(x) ~ x hold to f32 rounding.
    assert_eq!(tanh[6], -tanh[10]);
    assert_close(&[tanh[10], tanh[9]], &[1e-3 - 1e-9 / 3.0, 1e-30], 1e-6, 0.0);
    assert_eq!(sig[8], 0.5);
}

#[test]
fn unary_rejects_mismatched_output() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[6], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[5], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = elementwise::relu(&mut rec, &x, &out).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
}

fn run_prelu(ctx: &Context, shape: &[usize], x: &[f32], w: &[f32]) -> Vec<f32> {
    let tx = Tensor::from_slice(ctx, shape, x).unwrap();
    let tw = Tensor::from_slice(ctx, &[w.len()], w).unwrap();
    let out = Tensor::zeros(ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    elementwise::prelu(&mut rec, &tx, &tw, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

#[test]
fn prelu_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(13);
    let shapes: &[&[usize]] = &[
        &[1],
        &[7],
        &[1, 1],
        &[3, 5],
        &[4099, 3],
        &[2, 3, 7, 11],
        &[5, 31, 97],
        // A conv front end's activation: batch 4, 64 channels, 313 frames (10 s at 32 ms hops).
        &[4, 64, 313],
    ];
    for &shape in shapes {
        let n: usize = shape.iter().product();
        let channels = if shape.len() >= 2 { shape[1] } else { shape[0] };
        let x = rng.vec(n, -2.0, 2.0);
        for slopes in [channels, 1] {
            // Distinct slopes, so that a wrong channel index changes the result.
            let w = rng.vec(slopes, 0.0, 0.5);
            // A copy or one correctly rounded multiply in both: bitwise equal.
            assert_close(
                &run_prelu(&ctx, shape, &x, &w),
                &cpu::elementwise::prelu(&x, shape, &w),
                0.0,
                0.0,
            );
        }
    }
}

#[test]
fn prelu_follows_torch_on_a_known_case() {
    let Some(ctx) = test_context() else { return };
    // [N=1, C=2, L=2]: channel 0 has slope 0.5, channel 1 slope 0.25.
    let x = [-2.0, 3.0, -4.0, -8.0];
    let got = run_prelu(&ctx, &[1, 2, 2], &x, &[0.5, 0.25]);
    assert_eq!(got, vec![-1.0, 3.0, -1.0, -2.0]);
}

#[test]
fn prelu_rejects_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[2, 3, 4], DType::F32).unwrap();
    let w = Tensor::zeros(&ctx, &[4], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[2, 3, 4], DType::F32).unwrap();
    let short = Tensor::zeros(&ctx, &[23], DType::F32).unwrap();
    let w3 = Tensor::zeros(&ctx, &[3], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = elementwise::prelu(&mut rec, &x, &w, &out).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("slopes"), "{err}");
    let err = elementwise::prelu(&mut rec, &x, &w3, &short).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
}
