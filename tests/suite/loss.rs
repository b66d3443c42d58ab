//! GPU vs CPU for the losses (L1, binary cross-entropy with logits, soft-label softmax
//! cross-entropy, SI-SDR), forward (per-row values and the 1-element loss) and backward, plus
//! finite-difference checks of every gradient against the f64 CPU forward.

use hark::cpu;
use hark::kernels::loss;
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Central differences of `loss` at `p`, one coordinate at a time.
fn numeric_gradient(p: &[f64], h: f64, loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut q = p.to_vec();
    (0..p.len())
        .map(|i| {
            q[i] = p[i] + h;
            let up = loss(&q);
            q[i] = p[i] - h;
            let down = loss(&q);
            q[i] = p[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn max_abs(v: &[f64]) -> f32 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs())) as f32
}

#[derive(Clone, Copy, Debug)]
enum Loss {
    L1,
    Bce,
    CrossEntropy,
    SiSdr,
}

/// The GPU's row values, loss and gradient (with `upstream`) for one case.
fn gpu(
    ctx: &Context,
    kind: Loss,
    shape: &[usize],
    pred: &[f32],
    target: &[f32],
    upstream: f32,
) -> (Vec<f32>, f32, Vec<f32>) {
    let rows = if shape.len() < 2 { 1 } else { shape[0] };
    let p = Tensor::from_slice(ctx, shape, pred).unwrap();
    let t = Tensor::from_slice(ctx, shape, target).unwrap();
    let row_values = Tensor::zeros(ctx, &[rows], DType::F32).unwrap();
    let value = Tensor::zeros(ctx, &[1], DType::F32).unwrap();
    let grad = Tensor::zeros(ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    match kind {
        Loss::L1 => {
            loss::l1_loss(&mut rec, &p, &t, &row_values, &value).unwrap();
            loss::l1_loss_backward(&mut rec, &p, &t, upstream, &grad).unwrap();
        }
        Loss::Bce => {
            loss::bce_with_logits(&mut rec, &p, &t, &row_values, &value).unwrap();
            loss::bce_with_logits_backward(&mut rec, &p, &t, upstream, &grad).unwrap();
        }
        Loss::CrossEntropy => {
            loss::cross_entropy(&mut rec, &p, &t, &row_values, &value).unwrap();
            loss::cross_entropy_backward(&mut rec, &p, &t, upstream, &grad).unwrap();
        }
        Loss::SiSdr => {
            loss::si_sdr_loss(&mut rec, &p, &t, &row_values, &value).unwrap();
            loss::si_sdr_loss_backward(&mut rec, &p, &t, upstream, &grad).unwrap();
        }
    }
    rec.submit().unwrap();
    (
        row_values.to_vec(ctx).unwrap(),
        value.to_vec(ctx).unwrap()[0],
        grad.to_vec(ctx).unwrap(),
    )
}

/// The f64 CPU reference's row values and loss.
fn cpu_forward(kind: Loss, pred: &[f64], target: &[f64], cols: usize) -> (Vec<f64>, f64) {
    match kind {
        Loss::L1 => cpu::loss::l1_loss(pred, target, cols),
        Loss::Bce => cpu::loss::bce_with_logits(pred, target, cols),
        Loss::CrossEntropy => cpu::loss::cross_entropy(pred, target, cols),
        Loss::SiSdr => cpu::loss::si_sdr_loss(pred, target, cols, f64::from(loss::SI_SDR_EPS)),
    }
}

fn cpu_backward(kind: Loss, pred: &[f64], target: &[f64], cols: usize, up: f64) -> Vec<f64> {
    match kind {
        Loss::L1 => cpu::loss::l1_loss_backward(pred, target, up),
        Loss::Bce => cpu::loss::bce_with_logits_backward(pred, target, up),
        Loss::CrossEntropy => cpu::loss::cross_entropy_backward(pred, target, cols, up),
        Loss::SiSdr => {
            cpu::loss::si_sdr_loss_backward(pred, target, cols, f64::from(loss::SI_SDR_EPS), up)
        }
    }
}

/// Prediction and target for `kind` on `n` elements.
fn data(rng: &mut SeededRng, kind: Loss, n: usize, cols: usize) -> (Vec<f32>, Vec<f32>) {
    match kind {
        Loss::L1 => {
            let t = rng.vec(n, -1.0, 1.0);
            // Every 13th prediction equals its target: the gradient there is 0, as torch's sign.
            // Others are at least 0.01 away, so h = 1e-3 never crosses the kink.
            let p = t
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let d = rng.uniform(0.01, 1.0);
                    match i % 13 {
                        0 => v,
                        k if k % 2 == 0 => v + d,
                        _ => v - d,
                    }
                })
                .collect();
            (p, t)
        }
        // Logits into the saturated range and soft targets.
        Loss::Bce => (rng.vec(n, -30.0, 30.0), rng.vec(n, 0.0, 1.0)),
        Loss::CrossEntropy => {
            // A large common offset (a naive exp overflows) and soft labels summing to 1 per row,
            // except that every third row sums to 0.7 (torch allows it).
            let z = rng.vec(n, -8.0, 8.0).iter().map(|v| v + 500.0).collect();
            let mut y = rng.vec(n, 0.0, 1.0);
            for (r, row) in y.chunks_mut(cols).enumerate() {
                let total: f32 = row.iter().sum();
                let mass = if r % 3 == 2 { 0.7 } else { 1.0 };
                row.iter_mut().for_each(|v| *v *= mass / total);
            }
            (z, y)
        }
        Loss::SiSdr => {
            // Estimate = 0.8 target + noise + a DC offset (which SI-SDR must ignore): ~8 dB.
            let t = rng.vec(n, -1.0, 1.0);
            let e = t
                .iter()
                .map(|v| 0.8 * v + rng.uniform(-0.3, 0.3) + 0.5)
                .collect();
            (e, t)
        }
    }
}

#[test]
fn losses_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(71);
    let cases: &[(Loss, &[usize])] = &[
        (Loss::L1, &[1]),
        (Loss::L1, &[3, 257]),
        (Loss::L1, &[512, 640]),
        (Loss::Bce, &[1]),
        (Loss::Bce, &[8, 5]),
        (Loss::Bce, &[3, 1000]),
        (Loss::CrossEntropy, &[1, 1]),
        (Loss::CrossEntropy, &[64, 7]),
        (Loss::CrossEntropy, &[3, 1000]),
        (Loss::SiSdr, &[3, 7]),
        (Loss::SiSdr, &[2, 32000]),
        (Loss::SiSdr, &[4, 1000]),
    ];
    for &(kind, shape) in cases {
        let n: usize = shape.iter().product();
        let cols = if shape.len() < 2 { n } else { n / shape[0] };
        let (p, t) = data(&mut rng, kind, n, cols);
        let upstream = 0.7;
        let (rows, value, grad) = gpu(&ctx, kind, shape, &p, &t, upstream);
        let (p64, t64) = (to_f64(&p), to_f64(&t));
        let (crows, cvalue) = cpu_forward(kind, &p64, &t64, cols);
        let cgrad = cpu_backward(kind, &p64, &t64, cols, f64::from(upstream));
        // Row sums of up to 32000 f32 terms (125 serial per thread, then a tree): ~1e-5
        // relative. Cross-entropy's lse * sum(y) - sum(y z) cancels about 500 against 500, so
        // its floor is 500 * 1e-6; SI-SDR in dB goes through a log: 1e-4 dB absolute.
        let (rel, abs) = match kind {
            Loss::CrossEntropy => (1e-4, 1e-3),
            Loss::SiSdr => (1e-4, 1e-4),
            _ => (1e-5, 1e-6),
        };
        assert_close(&rows, &to_f32(&crows), rel, abs);
        assert_close(&[value], &[cvalue as f32], rel, abs);
        // Gradients are elementwise formulas of the same row statistics: 1e-4 relative, with a
        // floor at 1e-4 of the largest gradient for entries that cancel to near zero.
        assert_close(&grad, &to_f32(&cgrad), 1e-4, 1e-4 * max_abs(&cgrad));
    }
}

#[test]
fn loss_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(72);
    let cases: &[(Loss, &[usize])] = &[
        (Loss::L1, &[4, 9]),
        (Loss::Bce, &[4, 5]),
        (Loss::CrossEntropy, &[3, 7]),
        (Loss::SiSdr, &[2, 50]),
        (Loss::SiSdr, &[1, 31]),
    ];
    for &(kind, shape) in cases {
        let n: usize = shape.iter().product();
        let cols = n / shape[0];
        let (mut p, t) = data(&mut rng, kind, n, cols);
        if let Loss::Bce = kind {
            // Keep the finite differences off the saturated tails, where the gradient is ~0.
            p.iter_mut().for_each(|v| *v /= 6.0);
        }
        let upstream = 1.5;
        let (_, _, grad) = gpu(&ctx, kind, shape, &p, &t, upstream);
        let t64 = to_f64(&t);
        let numeric = numeric_gradient(&to_f64(&p), 1e-3, |q| {
            f64::from(upstream) * cpu_forward(kind, q, &t64, cols).1
        });
        // f64 central differences are exact to O(h^2) ~ 1e-6 relative; the tolerance covers
        // the GPU's f32 row statistics.
        assert_close(&grad, &to_f32(&numeric), 1e-3, 1e-3 * max_abs(&numeric));
    }
}

#[test]
fn losses_reject_mismatched_shapes() {
    let Some(ctx) = test_context() else { return };
    let p = Tensor::zeros(&ctx, &[2, 5], DType::F32).unwrap();
    let t = Tensor::zeros(&ctx, &[2, 6], DType::F32).unwrap();
    let (rows, value) = (
        Tensor::zeros(&ctx, &[2], DType::F32).unwrap(),
        Tensor::zeros(&ctx, &[1], DType::F32).unwrap(),
    );
    let mut rec = Recorder::new(&ctx);
    let err = loss::l1_loss(&mut rec, &p, &t, &rows, &value).unwrap_err();
    assert!(err.to_string().contains("target"), "{err}");
    let err = loss::cross_entropy(&mut rec, &p, &p, &value, &value).unwrap_err();
    assert!(err.to_string().contains("row losses"), "{err}");
}

#[test]
fn mixup_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(73);
    // Odd and even batches (the middle sample of an odd batch is its own partner), per-sample
    // and shared lambdas, a 2-D input and a Wilkinghoff-style label matrix.
    let cases: &[(&[usize], bool)] = &[(&[1, 5], true), (&[7, 3, 11], true), (&[64, 37], false)];
    for &(shape, per_sample) in cases {
        let n: usize = shape.iter().product();
        let batch = shape[0];
        let x = rng.vec(n, -1.0, 1.0);
        let lambda = rng.vec(if per_sample { batch } else { 1 }, 0.0, 1.0);
        for mode in [loss::MixupMode::Linear, loss::MixupMode::Max] {
            let xt = Tensor::from_slice(&ctx, shape, &x).unwrap();
            let lt = Tensor::from_slice(&ctx, &[lambda.len()], &lambda).unwrap();
            let out = Tensor::zeros(&ctx, shape, DType::F32).unwrap();
            let mut rec = Recorder::new(&ctx);
            loss::mixup(&mut rec, mode, &xt, &lt, &out).unwrap();
            rec.submit().unwrap();
            // Two products and a sum or max in the same order: equal up to a fused multiply-add.
            assert_close(
                &out.to_vec(&ctx).unwrap(),
                &cpu::loss::mixup(mode, &x, batch, &lambda),
                1e-6,
                1e-7,
            );
        }
    }
}

#[test]
fn si_sdr_of_a_known_mixture_is_20_db_at_any_scale_and_offset() {
    let Some(ctx) = test_context() else { return };
    // Target sin, noise 0.1 cos over whole periods: orthogonal, energy ratio 100, so SI-SDR is
    // 20 dB whatever the estimate's gain (3 and -0.5 here) and DC offset (zero-mean step).
    let t = 16000;
    let phase = |i: usize| 2.0 * std::f32::consts::PI * 40.0 * i as f32 / t as f32;
    let target: Vec<f32> = (0..2)
        .flat_map(|_| (0..t).map(|i| phase(i).sin()))
        .collect();
    let estimate: Vec<f32> = [3.0f32, -0.5]
        .iter()
        .flat_map(|&g| (0..t).map(move |i| g * (phase(i).sin() + 0.1 * phase(i).cos()) + 0.2))
        .collect();
    let (rows, value, _) = gpu(&ctx, Loss::SiSdr, &[2, t], &estimate, &target, 1.0);
    // f32 energies of 16000 terms: ~1e-5 relative, i.e. ~5e-5 dB; the sin/cos of f32 phases
    // are orthogonal to about 1e-6 of the energy.
    assert_close(&rows, &[20.0, 20.0], 0.0, 1e-3);
    assert_close(&[value], &[-20.0], 0.0, 1e-3);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). SI-SDR's backward
/// walks a row four times in one workgroup: rows of 4,200,000 samples are 65,628 strided steps
/// per thread, past that limit (the old launchers accepted them); the launchers refuse rows
/// past the budget.
#[test]
fn row_losses_refuse_rows_past_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let cols = 4_200_000usize;
    let p = Tensor::zeros(&ctx, &[1, cols], DType::F32).unwrap();
    let grad = Tensor::zeros(&ctx, &[1, cols], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = loss::si_sdr_loss_backward(&mut rec, &p, &p, 1.0, &grad).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
    let (rows, value) = (
        Tensor::zeros(&ctx, &[1], DType::F32).unwrap(),
        Tensor::zeros(&ctx, &[1], DType::F32).unwrap(),
    );
    let err = loss::si_sdr_loss(&mut rec, &p, &p, &rows, &value).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}
