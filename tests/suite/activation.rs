//! GPU vs CPU for softplus and the activation backward passes (LeakyReLU, sigmoid, tanh,
//! softplus, ReLU6, PReLU input and slope gradients), plus finite-difference checks of each gradient
//! against an f64 forward.

use hark::cpu;
use hark::kernels::activation::{self, ActivationGrad, SOFTPLUS_THRESHOLD};
use hark::kernels::elementwise;
use hark::testing::{assert_close, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Context, DType, Recorder, Tensor};

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn upload(ctx: &Context, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(ctx, shape, data).unwrap()
}

fn zeros(ctx: &Context, shape: &[usize]) -> Tensor {
    Tensor::zeros(ctx, shape, DType::F32).unwrap()
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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `n` values in [-4, 4] kept at least 0.01 from 0, so that h = 1e-3 never straddles a kink.
fn away_from_zero(rng: &mut SeededRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v = rng.uniform(0.01, 4.0);
            if rng.uniform(0.0, 1.0) < 0.5 {
                -v
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn softplus_matches_cpu_across_the_threshold() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(61);
    for &n in PURPOSEFUL_LENGTHS {
        for beta in [1.0f32, 0.5, 2.0] {
            // beta x spans [-60, 60]: tiny exp tails, the threshold at 20, and the linear part.
            let x = rng.vec(n, -30.0, 30.0);
            let t = upload(&ctx, &[n], &x);
            let out = zeros(&ctx, &[n]);
            let mut rec = Recorder::new(&ctx);
            activation::softplus(&mut rec, &t, beta, SOFTPLUS_THRESHOLD, &out).unwrap();
            rec.submit().unwrap();
            let expected = cpu::activation::softplus(
                &to_f64(&x),
                f64::from(beta),
                f64::from(SOFTPLUS_THRESHOLD),
            );
            // exp and log within a few ulp; the log1p form keeps relative accuracy in the
            // exp(beta x) tail, so a relative tolerance alone (abs only below f32's normals).
            assert_close(&out.to_vec(&ctx).unwrap(), &to_f32(&expected), 1e-5, 1e-37);
        }
    }
}

fn backward_gpu(ctx: &Context, op: ActivationGrad, saved: &[f32], grad_out: &[f32]) -> Vec<f32> {
    let n = saved.len();
    let (s, g, out) = (
        upload(ctx, &[n], saved),
        upload(ctx, &[n], grad_out),
        zeros(ctx, &[n]),
    );
    let mut rec = Recorder::new(ctx);
    activation::activation_backward(&mut rec, op, &s, &g, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// The forward output of sigmoid or tanh from hark's elementwise kernels (what a layer saves).
fn forward_gpu(ctx: &Context, op: ActivationGrad, x: &[f32]) -> Vec<f32> {
    let n = x.len();
    let (t, out) = (upload(ctx, &[n], x), zeros(ctx, &[n]));
    let mut rec = Recorder::new(ctx);
    match op {
        ActivationGrad::Sigmoid => elementwise::sigmoid(&mut rec, &t, &out).unwrap(),
        _ => elementwise::tanh(&mut rec, &t, &out).unwrap(),
    }
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

fn forward_f64(op: ActivationGrad, x: &[f64]) -> Vec<f64> {
    match op {
        ActivationGrad::LeakyRelu(slope) => x
            .iter()
            .map(|&v| if v >= 0.0 { v } else { f64::from(slope) * v })
            .collect(),
        ActivationGrad::Sigmoid => x.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        ActivationGrad::Tanh => x.iter().map(|&v| v.tanh()).collect(),
        ActivationGrad::Softplus { beta, threshold } => {
            cpu::activation::softplus(x, f64::from(beta), f64::from(threshold))
        }
        ActivationGrad::Relu6 => x.iter().map(|&v| v.clamp(0.0, 6.0)).collect(),
    }
}

const OPS: [ActivationGrad; 6] = [
    ActivationGrad::LeakyRelu(0.2),
    ActivationGrad::Sigmoid,
    ActivationGrad::Tanh,
    ActivationGrad::Softplus {
        beta: 1.0,
        threshold: 20.0,
    },
    ActivationGrad::Softplus {
        beta: 0.5,
        threshold: 20.0,
    },
    ActivationGrad::Relu6,
];

/// Whether the op's backward reads the forward output (else the input).
fn saves_output(op: ActivationGrad) -> bool {
    matches!(op, ActivationGrad::Sigmoid | ActivationGrad::Tanh)
}

#[test]
fn activation_backward_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(62);
    for &n in PURPOSEFUL_LENGTHS {
        for op in OPS {
            // Includes exact zeros (LeakyReLU's convention at 0) and large |x| (saturation).
            let mut x = rng.vec(n, -50.0, 50.0);
            x[0] = 0.0;
            // ReLU6's upper kink (torch: zero gradient at 6).
            x[n - 1] = 6.0;
            let g = rng.vec(n, -1.0, 1.0);
            let saved = if saves_output(op) {
                forward_gpu(&ctx, op, &x)
            } else {
                x.clone()
            };
            let got = backward_gpu(&ctx, op, &saved, &g);
            let expected = cpu::activation::activation_backward(op, &to_f64(&saved), &to_f64(&g));
            // A product or two of f32 values plus one exp: a few ulp; the abs floor covers
            // y (1 - y) where 1 - y cancels for saturated sigmoid outputs.
            assert_close(&got, &to_f32(&expected), 1e-5, 1e-7);
        }
    }
}

#[test]
fn activation_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(63);
    for op in OPS {
        let n = 97;
        let x = away_from_zero(&mut rng, n);
        let g = rng.vec(n, -1.0, 1.0);
        let saved = if saves_output(op) {
            forward_gpu(&ctx, op, &x)
        } else {
            x.clone()
        };
        let got = backward_gpu(&ctx, op, &saved, &g);
        let g64 = to_f64(&g);
        let numeric = numeric_gradient(&to_f64(&x), 1e-3, |p| dot(&forward_f64(op, p), &g64));
        // f64 central differences: O(h^2) ~ 1e-7 here; the GPU side starts from an f32 forward
        // output (sigmoid, tanh), whose rounding moves y (1 - y) by ~1e-7.
        assert_close(&got, &to_f32(&numeric), 1e-4, 1e-6);
    }
}

#[test]
fn relu6_backward_matches_finite_differences_around_both_kinks() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(64);
    let n = 211;
    // [-8, 8] covers the flat parts below 0 and above 6; values within 0.01 of a kink move away
    // from it so that h = 1e-3 never straddles one.
    let x: Vec<f32> = rng
        .vec(n, -8.0, 8.0)
        .into_iter()
        .map(|v| {
            let near = |k: f32| (v - k).abs() < 0.01;
            if near(0.0) || near(6.0) {
                v + 0.05
            } else {
                v
            }
        })
        .collect();
    assert!(x.iter().any(|&v| v > 6.0) && x.iter().any(|&v| v < 0.0));
    let g = rng.vec(n, -1.0, 1.0);
    let got = backward_gpu(&ctx, ActivationGrad::Relu6, &x, &g);
    let g64 = to_f64(&g);
    let numeric = numeric_gradient(&to_f64(&x), 1e-3, |p| {
        dot(&forward_f64(ActivationGrad::Relu6, p), &g64)
    });
    // Piecewise linear: central differences are exact up to f64 rounding.
    assert_close(&got, &to_f32(&numeric), 1e-6, 1e-9);
}

fn prelu_gpu(
    ctx: &Context,
    shape: &[usize],
    x: &[f32],
    weight: &[f32],
    grad_out: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let (xt, wt, gt) = (
        upload(ctx, shape, x),
        upload(ctx, &[weight.len()], weight),
        upload(ctx, shape, grad_out),
    );
    let (gi, gw) = (zeros(ctx, shape), zeros(ctx, &[weight.len()]));
    let mut rec = Recorder::new(ctx);
    activation::prelu_backward_input(&mut rec, &xt, &wt, &gt, &gi).unwrap();
    activation::prelu_backward_weight(&mut rec, &xt, &gt, &gw).unwrap();
    rec.submit().unwrap();
    (gi.to_vec(ctx).unwrap(), gw.to_vec(ctx).unwrap())
}

/// (channels, inner) as torch's PReLU sees `shape`.
fn prelu_dims(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        1 => (shape[0], 1),
        _ => (shape[1], shape[2..].iter().product()),
    }
}

#[test]
fn prelu_backward_matches_cpu_and_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(64);
    // (shape, per-channel): Conv-TasNet's shared slope on [N, H, L]; per channel on NCL, NCHW,
    // [N, C] and [C]; a long shared case that one workgroup reduces.
    let cases: &[(&[usize], bool)] = &[
        (&[2, 8, 33], false),
        (&[2, 5, 7], true),
        (&[2, 3, 4, 5], true),
        (&[4, 5], true),
        (&[7], true),
        (&[1, 16, 4000], false),
    ];
    for &(shape, per_channel) in cases {
        let n: usize = shape.iter().product();
        let (channels, inner) = prelu_dims(shape);
        let slopes = if per_channel { channels } else { 1 };
        let x = away_from_zero(&mut rng, n);
        let w = rng.vec(slopes, 0.05, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let (gi, gw) = prelu_gpu(&ctx, shape, &x, &w, &g);
        let (x64, w64, g64) = (to_f64(&x), to_f64(&w), to_f64(&g));
        let (ci, cw) = cpu::activation::prelu_backward(&x64, &w64, &g64, channels, inner);
        // grad_in is one product: exact up to an ulp. grad_weight sums up to 64000 terms of
        // size ~2 in f32 (250 per thread, then a tree): ~1e-5 relative on sums of ~100.
        assert_close(&gi, &to_f32(&ci), 1e-6, 0.0);
        assert_close(&gw, &to_f32(&cw), 1e-4, 1e-4);
        if n <= 200 {
            let loss =
                |x: &[f64], w: &[f64]| dot(&cpu::activation::prelu(x, w, channels, inner), &g64);
            let dx = numeric_gradient(&x64, 1e-3, |p| loss(p, &w64));
            let dw = numeric_gradient(&w64, 1e-3, |p| loss(&x64, p));
            // PReLU is piecewise linear and no x is within h of its kink: differences are exact
            // up to f64 rounding; the tolerance covers the GPU's f32 sums.
            assert_close(&gi, &to_f32(&dx), 1e-5, 1e-6);
            assert_close(&gw, &to_f32(&dw), 1e-4, 1e-5);
        }
    }
    // A slope count that fits neither convention.
    let x = zeros(&ctx, &[2, 5, 7]);
    let gw = zeros(&ctx, &[3]);
    let err = activation::prelu_backward_weight(&mut Recorder::new(&ctx), &x, &x, &gw).unwrap_err();
    assert!(err.to_string().contains("need 1 or 5"), "{err}");
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). One shared slope
/// over 17,000,000 values (Conv-TasNet's PReLU on a long batch): the old weight gradient strode
/// one workgroup over all of them (66,407 steps per invocation) and dropped the tail.
#[test]
fn prelu_weight_grad_over_a_long_tensor_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let shape = [1usize, 1, 17_000_000];
    let n: usize = shape.iter().product();
    let mut rng = SeededRng::new(65);
    let mut x = away_from_zero(&mut rng, n);
    // The tail is all negative (it carries the gradient): dropping it changes the sum a lot.
    for v in &mut x[n - 1_000_000..] {
        *v = -v.abs();
    }
    let g = vec![1.0f32; n];
    let (xt, gt) = (upload(&ctx, &shape, &x), upload(&ctx, &shape, &g));
    let gw = zeros(&ctx, &[1]);
    let mut rec = Recorder::new(&ctx);
    activation::prelu_backward_weight(&mut rec, &xt, &gt, &gw).unwrap();
    rec.submit().unwrap();
    let (x64, g64) = (to_f64(&x), to_f64(&g));
    let (_, cw) = cpu::activation::prelu_backward(&x64, &[0.25], &g64, 1, n);
    // A sum of ~9.5 M terms of size <= 2 in f32 (chunks, then partial sums): ~1e-5 relative.
    assert_close(&gw.to_vec(&ctx).unwrap(), &to_f32(&cw), 1e-4, 1e-2);
}
