//! The flow kernels against their CPU twins on purposeful shapes (1 sample, odd and prime channel
//! counts, positions past one workgroup, the DCASE 640-dim vectors), and the whole coupling block:
//! inverse(forward(x)) = x, log-det = log|det J| of a numerical Jacobian, and central-difference
//! gradients w.r.t. the input and every parameter for dense and conv subnets.

use hark::cpu::flow::{self as reference, DenseBlockWeights, FlowDims};
use hark::kernels::flow::{self, unit_scale_g};
use hark::models::flow::{DomainLatent, Flow, FlowConfig, FlowNll, Subnet, CLAMP};
use hark::nn::Mode;
use hark::testing::{assert_close, compare, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// (N, C, P) shapes: one sample, 2 channels (C2 = 1), odd and prime channel counts (x1 larger
/// than x2), maps with 13 and 289 positions (per-sample loops past one 256-thread workgroup),
/// and the DCASE vectors.
const SHAPES: [(usize, usize, usize); 6] = [
    (1, 2, 1),
    (3, 7, 1),
    (2, 5, 13),
    (2, 3, 289),
    (5, 31, 1),
    (4, 640, 1),
];

fn shape_of(n: usize, c: usize, p: usize) -> Vec<usize> {
    if p == 1 {
        vec![n, c]
    } else {
        vec![n, c, p, 1]
    }
}

fn tensor(ctx: &Context, shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_slice(ctx, shape, values).unwrap()
}

fn zeros(ctx: &Context, shape: &[usize]) -> Tensor {
    Tensor::zeros(ctx, shape, DType::F32).unwrap()
}

#[test]
fn coupling_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(3);
    for (n, c, p) in SHAPES {
        let d = FlowDims {
            n,
            channels: c,
            inner: p,
        };
        let shape = shape_of(n, c, p);
        let a_shape = shape_of(n, 2 * (c / 2), p);
        let x = rng.vec(d.numel(), -2.0, 2.0);
        // Raw subnet outputs up to 30: 0.1 a reaches tanh's saturated range.
        let a = rng.vec(n * 2 * (c / 2) * p, -30.0, 30.0);
        let start = rng.vec(n, -1.0, 1.0);
        let (tx, ta) = (tensor(&ctx, &shape, &x), tensor(&ctx, &a_shape, &a));
        let (out, inv) = (zeros(&ctx, &shape), zeros(&ctx, &shape));
        let logdet = tensor(&ctx, &[n], &start);
        let inverse_logdet = zeros(&ctx, &[n]);
        let mut rec = Recorder::new(&ctx);
        flow::coupling_forward(&mut rec, &tx, &ta, CLAMP, &out, &logdet).unwrap();
        flow::coupling_inverse(&mut rec, &out, &ta, CLAMP, &inv, &inverse_logdet).unwrap();
        rec.submit().unwrap();
        let (want, want_logdet) = reference::coupling_forward(&x, &a, d, CLAMP);
        // One exp and one tanh per element (a few ulps), then a tree sum vs a loop over up to
        // 867 terms for the log-det.
        assert_close(&out.to_vec(&ctx).unwrap(), &want, 1e-5, 1e-6);
        let shifted: Vec<f32> = want_logdet.iter().zip(&start).map(|(l, s)| l + s).collect();
        assert_close(&logdet.to_vec(&ctx).unwrap(), &shifted, 1e-5, 1e-4);
        // exp(s) up to e^2 amplifies the rounding of x2' by as much in the inverse.
        assert_close(&inv.to_vec(&ctx).unwrap(), &x, 1e-5, 1e-5);
        let minus: Vec<f32> = want_logdet.iter().map(|l| -l).collect();
        assert_close(&inverse_logdet.to_vec(&ctx).unwrap(), &minus, 1e-5, 1e-4);

        let grad_out = rng.vec(d.numel(), -1.0, 1.0);
        let grad_logdet = rng.vec(n, -1.0, 1.0);
        let (tg, tgl) = (
            tensor(&ctx, &shape, &grad_out),
            tensor(&ctx, &[n], &grad_logdet),
        );
        let (grad_x, grad_a) = (zeros(&ctx, &shape), zeros(&ctx, &a_shape));
        let mut rec = Recorder::new(&ctx);
        flow::coupling_backward(&mut rec, &tx, &ta, &tg, &tgl, CLAMP, &grad_x, &grad_a).unwrap();
        rec.submit().unwrap();
        let want = reference::coupling_backward(&x, &a, &grad_out, &grad_logdet, d, CLAMP);
        assert_close(&grad_x.to_vec(&ctx).unwrap(), &want.grad_x, 1e-5, 1e-6);
        assert_close(&grad_a.to_vec(&ctx).unwrap(), &want.grad_a, 1e-4, 1e-6);
    }
}

#[test]
fn global_affine_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(5);
    for (n, c, p) in SHAPES {
        let d = FlowDims {
            n,
            channels: c,
            inner: p,
        };
        let shape = shape_of(n, c, p);
        let x = rng.vec(d.numel(), -2.0, 2.0);
        // Around the unit scale, with channel 0 past softplus's linear threshold (0.5 g > 20).
        let mut g: Vec<f32> = rng
            .vec(c, -3.0, 3.0)
            .iter()
            .map(|v| v + unit_scale_g())
            .collect();
        g[0] = 45.0;
        let offset = rng.vec(c, -1.0, 1.0);
        let (tx, tgs, toff) = (
            tensor(&ctx, &shape, &x),
            tensor(&ctx, &[c], &g),
            tensor(&ctx, &[c], &offset),
        );
        let (out, inv) = (zeros(&ctx, &shape), zeros(&ctx, &shape));
        let (logdet, inverse_logdet) = (zeros(&ctx, &[n]), zeros(&ctx, &[n]));
        let mut rec = Recorder::new(&ctx);
        flow::global_affine_forward(&mut rec, &tx, &tgs, &toff, &out, &logdet).unwrap();
        flow::global_affine_inverse(&mut rec, &out, &tgs, &toff, &inv, &inverse_logdet).unwrap();
        rec.submit().unwrap();
        let (want, want_logdet) = reference::global_affine_forward(&x, &g, &offset, d);
        assert_close(&out.to_vec(&ctx).unwrap(), &want, 1e-5, 1e-6);
        assert_close(&logdet.to_vec(&ctx).unwrap(), &want_logdet, 1e-5, 1e-4);
        assert_close(&inv.to_vec(&ctx).unwrap(), &x, 1e-5, 1e-5);

        let grad_out = rng.vec(d.numel(), -1.0, 1.0);
        let grad_logdet = rng.vec(n, -1.0, 1.0);
        let (tg, tgl) = (
            tensor(&ctx, &shape, &grad_out),
            tensor(&ctx, &[n], &grad_logdet),
        );
        let grad_x = zeros(&ctx, &shape);
        let (grad_g, grad_offset) = (zeros(&ctx, &[c]), zeros(&ctx, &[c]));
        let mut rec = Recorder::new(&ctx);
        flow::global_affine_backward(
            &mut rec,
            &tx,
            &tgs,
            &tg,
            &tgl,
            &grad_x,
            &grad_g,
            &grad_offset,
        )
        .unwrap();
        rec.submit().unwrap();
        let want = reference::global_affine_backward(&x, &g, &grad_out, &grad_logdet, d);
        assert_close(&grad_x.to_vec(&ctx).unwrap(), &want.grad_x, 1e-5, 1e-6);
        // Sums over N P up to 578 terms in a different order.
        assert_close(&grad_g.to_vec(&ctx).unwrap(), &want.grad_g, 1e-4, 1e-5);
        assert_close(
            &grad_offset.to_vec(&ctx).unwrap(),
            &want.grad_offset,
            1e-4,
            1e-5,
        );
    }
}

#[test]
fn channel_gather_and_scatter_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(7);
    for (n, c, p) in SHAPES {
        let d = FlowDims {
            n,
            channels: c,
            inner: p,
        };
        let shape = shape_of(n, c, p);
        let x = rng.vec(d.numel(), -2.0, 2.0);
        // A reversal with a rotation (every channel moves) and the x1 split.
        let perm: Vec<usize> = (0..c).map(|i| (c - 1 - i + 1) % c).collect();
        let split: Vec<usize> = (0..d.split()).collect();
        for index in [perm, split] {
            let k = index.len();
            let picked_shape = shape_of(n, k, p);
            let tx = tensor(&ctx, &shape, &x);
            let ti = flow::index_tensor(&ctx, &index).unwrap();
            let out = zeros(&ctx, &picked_shape);
            let base = rng.vec(d.numel(), -1.0, 1.0);
            let added = tensor(&ctx, &shape, &base);
            let mut rec = Recorder::new(&ctx);
            flow::channel_gather(&mut rec, &tx, &ti, &out).unwrap();
            flow::channel_scatter_add(&mut rec, &out, &ti, &added).unwrap();
            rec.submit().unwrap();
            let gathered = reference::channel_gather(&x, d, &index);
            // Copies are exact; one addition each.
            assert_close(&out.to_vec(&ctx).unwrap(), &gathered, 0.0, 0.0);
            let mut want = base.clone();
            reference::channel_scatter_add(&gathered, &mut want, d, &index);
            assert_close(&added.to_vec(&ctx).unwrap(), &want, 1e-7, 0.0);
        }
    }
}

#[test]
fn nll_matches_cpu_with_and_without_shifted_latents() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(11);
    for (n, c, p) in SHAPES {
        let d = FlowDims {
            n,
            channels: c,
            inner: p,
        };
        let shape = shape_of(n, c, p);
        let z = rng.vec(d.numel(), -3.0, 3.0);
        let logdet = rng.vec(n, -5.0, 5.0);
        let mean = rng.vec(n, -4.0, 4.0);
        for shifted in [0, 1, c / 2] {
            let (tz, tl, tm) = (
                tensor(&ctx, &shape, &z),
                tensor(&ctx, &[n], &logdet),
                tensor(&ctx, &[n], &mean),
            );
            let (nll, score) = (zeros(&ctx, &[n]), zeros(&ctx, &[n]));
            let (grad_z, grad_logdet) = (zeros(&ctx, &shape), zeros(&ctx, &[n]));
            let mut rec = Recorder::new(&ctx);
            flow::flow_nll(&mut rec, &tz, &tl, &tm, shifted, &nll, &score).unwrap();
            flow::flow_nll_backward(
                &mut rec,
                &tz,
                &tl,
                &tm,
                shifted,
                0.25,
                &grad_z,
                &grad_logdet,
            )
            .unwrap();
            rec.submit().unwrap();
            let (want_nll, want_score) = reference::flow_nll(&z, &logdet, &mean, d, shifted);
            // f32 tree sums of up to 867 squares vs f64 sums.
            assert_close(&nll.to_vec(&ctx).unwrap(), &want_nll, 1e-5, 1e-4);
            assert_close(&score.to_vec(&ctx).unwrap(), &want_score, 1e-5, 1e-4);
            let (want_gz, want_gl) = reference::flow_nll_backward(&z, &mean, d, shifted, 0.25);
            assert_close(&grad_z.to_vec(&ctx).unwrap(), &want_gz, 1e-6, 0.0);
            assert_close(&grad_logdet.to_vec(&ctx).unwrap(), &want_gl, 0.0, 0.0);
        }
    }
}

#[test]
fn nll_reference_gradient_matches_central_differences() {
    let d = FlowDims {
        n: 2,
        channels: 5,
        inner: 3,
    };
    let mut rng = SeededRng::new(13);
    let z = rng.vec(d.numel(), -2.0, 2.0);
    let mean = vec![1.5, -2.0];
    let logdet = vec![0.3, -0.7];
    let (grad_z, grad_logdet) = reference::flow_nll_backward(&z, &mean, d, 2, 1.0);
    let total = |z: &[f32], logdet: &[f32]| -> f64 {
        let (nll, _) = reference::flow_nll(z, logdet, &mean, d, 2);
        nll.iter().map(|&v| f64::from(v)).sum()
    };
    let h = 1e-2f32;
    let numeric: Vec<f32> = (0..z.len())
        .map(|i| {
            let (mut plus, mut minus) = (z.clone(), z.clone());
            plus[i] += h;
            minus[i] -= h;
            ((total(&plus, &logdet) - total(&minus, &logdet)) / (2.0 * f64::from(h))) as f32
        })
        .collect();
    // Quadratic in z: central differences are exact up to f32 rounding of the sums.
    assert_close(&grad_z, &numeric, 1e-3, 1e-3);
    assert_eq!(grad_logdet, vec![-1.0; 2]);
}

fn dense_config(channels: usize, hidden: usize, blocks: usize, seed: u64) -> FlowConfig {
    FlowConfig {
        channels,
        blocks,
        subnet: Subnet::Dense { hidden },
        seed,
    }
}

fn conv_config(channels: usize, hidden: usize, blocks: usize, seed: u64) -> FlowConfig {
    FlowConfig {
        channels,
        blocks,
        subnet: Subnet::Conv { hidden, kernel: 3 },
        seed,
    }
}

/// `(z, logdet)` of `x` through `flow`, read back.
fn run(ctx: &Context, flow: &mut Flow, shape: &[usize], x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let input = tensor(ctx, shape, x);
    let mut rec = Recorder::new(ctx);
    let (z, logdet) = flow.forward(&mut rec, &input, Mode::Train).unwrap();
    rec.submit().unwrap();
    (z.to_vec(ctx).unwrap(), logdet.to_vec(ctx).unwrap())
}

/// Moves every global scale off its unit initialisation and every offset off 0, so that tests
/// exercise them.
fn perturb_global_affine(ctx: &Context, flow: &Flow, rng: &mut SeededRng) {
    for p in flow.params() {
        if p.name.ends_with("global_scale") || p.name.ends_with("global_offset") {
            let values: Vec<f32> = p
                .value
                .to_vec(ctx)
                .unwrap()
                .iter()
                .map(|v| v + rng.uniform(-1.0, 1.0))
                .collect();
            p.value.write(ctx, &values).unwrap();
        }
    }
}

#[test]
fn flow_inverse_reproduces_the_input() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(17);
    for (config, shape) in [
        (dense_config(7, 16, 3, 1), vec![5, 7]),
        (dense_config(640, 64, 2, 2), vec![3, 640]),
        (conv_config(5, 8, 2, 3), vec![2, 5, 6, 7]),
    ] {
        let mut flow = Flow::new(&ctx, config).unwrap();
        perturb_global_affine(&ctx, &flow, &mut rng);
        let numel = shape.iter().product();
        let x = rng.vec(numel, -2.0, 2.0);
        let input = tensor(&ctx, &shape, &x);
        let mut rec = Recorder::new(&ctx);
        let (z, _) = flow.forward(&mut rec, &input, Mode::Eval).unwrap();
        let back = flow.inverse(&mut rec, &z).unwrap();
        rec.submit().unwrap();
        let z = z.to_vec(&ctx).unwrap();
        assert!(compare(&z, &x, 1e-3, 1e-3).is_err(), "the flow must move x");
        // Each block's exp(+-s) (|s| <= 2) and scale divisions round a few ulps.
        assert_close(&back.to_vec(&ctx).unwrap(), &x, 1e-4, 1e-4);
    }
}

/// The CPU reference weights of block 0 of a dense flow.
fn block_weights(ctx: &Context, flow: &Flow, hidden: usize) -> DenseBlockWeights {
    let block = &flow.blocks()[0];
    let values: Vec<Vec<f32>> = block
        .params()
        .iter()
        .map(|p| p.value.to_vec(ctx).unwrap())
        .collect();
    DenseBlockWeights {
        channels: flow.config().channels,
        hidden,
        w1: values[0].clone(),
        b1: values[1].clone(),
        w2: values[2].clone(),
        b2: values[3].clone(),
        global_scale: values[4].clone(),
        global_offset: values[5].clone(),
        perm: block.permutation().unwrap(),
        clamp: CLAMP,
    }
}

/// log|det| of a square row-major matrix by Gaussian elimination with partial pivoting.
fn log_abs_det(mut m: Vec<f64>, d: usize) -> f64 {
    let mut sum = 0.0;
    for col in 0..d {
        let pivot = (col..d)
            .max_by(|&a, &b| m[a * d + col].abs().total_cmp(&m[b * d + col].abs()))
            .unwrap();
        for k in 0..d {
            m.swap(col * d + k, pivot * d + k);
        }
        let p = m[col * d + col];
        sum += p.abs().ln();
        for row in col + 1..d {
            let f = m[row * d + col] / p;
            for k in col..d {
                m[row * d + k] -= f * m[col * d + k];
            }
        }
    }
    sum
}

#[test]
fn dense_block_log_det_matches_the_numerical_jacobian() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(19);
    for (channels, hidden) in [(2, 3), (5, 8), (8, 16)] {
        let mut flow = Flow::new(&ctx, dense_config(channels, hidden, 1, 4)).unwrap();
        perturb_global_affine(&ctx, &flow, &mut rng);
        // Large subnet outputs so that s is far from 0 (and the log-det far from the affine's).
        for p in flow.params() {
            if p.name.contains("subnet.2") {
                let values: Vec<f32> = p
                    .value
                    .to_vec(&ctx)
                    .unwrap()
                    .iter()
                    .map(|v| 20.0 * v)
                    .collect();
                p.value.write(&ctx, &values).unwrap();
            }
        }
        let weights = block_weights(&ctx, &flow, hidden);
        let x = rng.vec(channels, -1.5, 1.5);
        let (y, logdet) = reference::dense_block_forward(&x, 1, &weights);
        // The GPU block is the CPU reference.
        let (gpu_y, gpu_logdet) = run(&ctx, &mut flow, &[1, channels], &x);
        assert_close(&gpu_y, &y, 1e-4, 1e-5);
        assert_close(&gpu_logdet, &logdet, 1e-4, 1e-4);
        // Central differences with h = 1e-2: the block is smooth away from ReLU kinks (rows of
        // x that flip a hidden unit err by O(1); the seed keeps them away), truncation ~h^2.
        let h = 1e-2f32;
        let mut jacobian = vec![0.0f64; channels * channels];
        for j in 0..channels {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[j] += h;
            minus[j] -= h;
            let (yp, _) = reference::dense_block_forward(&plus, 1, &weights);
            let (ym, _) = reference::dense_block_forward(&minus, 1, &weights);
            for i in 0..channels {
                jacobian[i * channels + j] =
                    (f64::from(yp[i]) - f64::from(ym[i])) / (2.0 * f64::from(h));
            }
        }
        let numeric = log_abs_det(jacobian, channels);
        assert!(
            (numeric - f64::from(logdet[0])).abs() < 2e-3 * (1.0 + numeric.abs()),
            "C {channels}: log|det J| {numeric} vs log-det {}",
            logdet[0]
        );
    }
}

#[test]
fn conv_block_log_det_matches_the_numerical_jacobian() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(23);
    let (c, h_, w_) = (3, 2, 3);
    let d = c * h_ * w_;
    let mut flow = Flow::new(&ctx, conv_config(c, 4, 2, 5)).unwrap();
    perturb_global_affine(&ctx, &flow, &mut rng);
    let x = rng.vec(d, -1.5, 1.5);
    // All 2 d perturbed copies and x itself in one batch.
    let h = 1e-2f32;
    let mut batch = Vec::with_capacity((2 * d + 1) * d);
    for j in 0..d {
        for sign in [1.0, -1.0] {
            let mut v = x.clone();
            v[j] += sign * h;
            batch.extend(v);
        }
    }
    batch.extend(&x);
    let (y, logdet) = run(&ctx, &mut flow, &[2 * d + 1, c, h_, w_], &batch);
    let mut jacobian = vec![0.0f64; d * d];
    for j in 0..d {
        for i in 0..d {
            let plus = f64::from(y[(2 * j) * d + i]);
            let minus = f64::from(y[(2 * j + 1) * d + i]);
            jacobian[i * d + j] = (plus - minus) / (2.0 * f64::from(h));
        }
    }
    let numeric = log_abs_det(jacobian, d);
    let analytic = f64::from(logdet[2 * d]);
    // f32 outputs: ~1e-7 / 2h = 5e-6 per Jacobian entry; 18 x 18 determinant.
    assert!(
        (numeric - analytic).abs() < 1e-2 * (1.0 + numeric.abs()),
        "log|det J| {numeric} vs log-det {analytic}"
    );
}

/// Central differences of `L = sum w z + sum u logdet` against the flow's backward, for the input
/// and (a spread of coordinates of) every parameter.
fn check_flow_gradients(ctx: &Context, flow: &mut Flow, shape: &[usize], x: &[f32]) {
    let n = shape[0];
    let mut rng = SeededRng::new(29);
    let w = rng.vec(x.len(), -1.0, 1.0);
    let u = rng.vec(n, -1.0, 1.0);
    let input = tensor(ctx, shape, x);
    let (tw, tu) = (tensor(ctx, shape, &w), tensor(ctx, &[n], &u));
    let mut rec = Recorder::new(ctx);
    flow.forward(&mut rec, &input, Mode::Train).unwrap();
    let grad_x = flow.backward(&mut rec, &tw, &tu).unwrap();
    rec.submit().unwrap();
    let analytic_x = grad_x.to_vec(ctx).unwrap();
    let analytic: Vec<Vec<f32>> = flow
        .params()
        .iter()
        .map(|p| p.grad.to_vec(ctx).unwrap())
        .collect();
    let loss = |flow: &mut Flow, x: &[f32]| -> f64 {
        let (z, logdet) = run(ctx, flow, shape, x);
        let a: f64 = z
            .iter()
            .zip(&w)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        a + logdet
            .iter()
            .zip(&u)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum::<f64>()
    };
    // h = 1e-3: smooth maps (tanh, exp, softplus) have truncation ~h^2 (1e-6); f32 rounding of a
    // loss of ~60 terms of O(1) moves it ~5e-7, i.e. ~3e-4 after dividing by 2h. A ReLU kink
    // within h of a hidden pre-activation errs by O(1); h this small keeps them out of reach.
    let h = 1e-3f32;
    let coordinates = |len: usize| -> Vec<usize> {
        if len <= 12 {
            (0..len).collect()
        } else {
            (0..12).map(|j| j * (len - 1) / 11).collect()
        }
    };
    for (p, analytic) in analytic.iter().enumerate() {
        let name = flow.params()[p].name.clone();
        let values = flow.params()[p].value.to_vec(ctx).unwrap();
        let picked = coordinates(values.len());
        let mut numeric = Vec::new();
        for &i in &picked {
            let mut shifted = values.clone();
            shifted[i] += h;
            flow.params()[p].value.write(ctx, &shifted).unwrap();
            let plus = loss(flow, x);
            shifted[i] = values[i] - h;
            flow.params()[p].value.write(ctx, &shifted).unwrap();
            let minus = loss(flow, x);
            flow.params()[p].value.write(ctx, &values).unwrap();
            numeric.push(((plus - minus) / (2.0 * f64::from(h))) as f32);
        }
        let picked_analytic: Vec<f32> = picked.iter().map(|&i| analytic[i]).collect();
        if let Err(report) = compare(&picked_analytic, &numeric, 1e-2, 3e-3) {
            panic!("{name} (coordinates {picked:?}): {report}");
        }
    }
    let picked = coordinates(x.len());
    let mut numeric = Vec::new();
    for &i in &picked {
        let (mut plus, mut minus) = (x.to_vec(), x.to_vec());
        plus[i] += h;
        minus[i] -= h;
        numeric.push(((loss(flow, &plus) - loss(flow, &minus)) / (2.0 * f64::from(h))) as f32);
    }
    let picked_analytic: Vec<f32> = picked.iter().map(|&i| analytic_x[i]).collect();
    if let Err(report) = compare(&picked_analytic, &numeric, 1e-2, 3e-3) {
        panic!("input (coordinates {picked:?}): {report}");
    }
}

#[test]
fn dense_flow_gradients_match_central_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(31);
    let mut flow = Flow::new(&ctx, dense_config(5, 6, 2, 6)).unwrap();
    perturb_global_affine(&ctx, &flow, &mut rng);
    let x = rng.vec(3 * 5, -1.5, 1.5);
    check_flow_gradients(&ctx, &mut flow, &[3, 5], &x);
}

#[test]
fn conv_flow_gradients_match_central_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(37);
    let mut flow = Flow::new(&ctx, conv_config(3, 4, 2, 7)).unwrap();
    perturb_global_affine(&ctx, &flow, &mut rng);
    let x = rng.vec(2 * 3 * 3 * 3, -1.5, 1.5);
    check_flow_gradients(&ctx, &mut flow, &[2, 3, 3, 3], &x);
}

#[test]
fn checkpoint_round_trip_gives_the_same_latents() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    let config = dense_config(6, 8, 2, 8);
    let mut flow = Flow::new(&ctx, config).unwrap();
    perturb_global_affine(&ctx, &flow, &mut rng);
    let dir = std::env::temp_dir().join(format!("hark-flow-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flow.safetensors");
    flow.save(&path).unwrap();
    // A different seed: other weights and permutations until the file overwrites them.
    let mut loaded = Flow::load(&ctx, &path, FlowConfig { seed: 99, ..config }).unwrap();
    let x = rng.vec(4 * 6, -1.0, 1.0);
    let (z, logdet) = run(&ctx, &mut flow, &[4, 6], &x);
    let (z2, logdet2) = run(&ctx, &mut loaded, &[4, 6], &x);
    assert_close(&z2, &z, 0.0, 0.0);
    assert_close(&logdet2, &logdet, 0.0, 0.0);
    let names: Vec<String> = flow.state_dict().into_iter().map(|(n, _)| n).collect();
    for name in [
        "module_list.0.subnet.0.weight",
        "module_list.1.subnet.2.bias",
        "module_list.1.global_scale",
        "module_list.0.global_offset",
        "module_list.1.perm",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn domain_latent_shifts_the_nll_but_not_the_score() {
    let Some(ctx) = test_context() else { return };
    let (n, c) = (2, 6);
    let z: Vec<f32> = vec![
        5.0, 5.0, 0.5, -0.5, 1.0, 0.0, 10.0, 10.0, 0.5, -0.5, 1.0, 0.0,
    ];
    let logdet = tensor(&ctx, &[n], &[0.0, 0.0]);
    let tz = tensor(&ctx, &[n, c], &z);
    let mut head = FlowNll::new(
        &ctx,
        Some(DomainLatent {
            channels: 2,
            k: 5.0,
        }),
    );
    head.set_categories(&[1, 2]).unwrap();
    let mut rec = Recorder::new(&ctx);
    let (nll, score) = head.forward(&mut rec, &tz, &logdet).unwrap();
    rec.submit().unwrap();
    let (nll, score) = (nll.to_vec(&ctx).unwrap(), score.to_vec(&ctx).unwrap());
    // z_d sits exactly at k v for both samples: the NLLs are equal and the scores are 0.5 ||z_c||^2
    // plus the constant of four channels.
    let constant = 0.5 * (2.0 * std::f32::consts::PI).ln();
    assert_close(&nll, &[0.75 + 6.0 * constant; 2], 1e-6, 1e-6);
    assert_close(&score, &[0.75 + 4.0 * constant; 2], 1e-6, 1e-6);
}

fn flow_values(ctx: &Context, flow: &Flow) -> Vec<Vec<f32>> {
    flow.state_dict()
        .iter()
        .map(|(_, t)| t.to_vec(ctx).unwrap())
        .collect()
}

#[test]
fn resumed_flow_training_equals_an_uninterrupted_run() {
    use hark::models::flow::{train, train_resumable, FlowTrainConfig};
    use hark::train::TrainState;
    let Some(ctx) = test_context() else { return };
    let dims = 12;
    let vectors = SeededRng::new(8).vec(53 * dims, -1.0, 1.0);
    let config = FlowTrainConfig {
        epochs: 3,
        batch_size: 8,
        lr: 1e-3,
        seed: 4,
    };
    let mut straight = Flow::new(&ctx, dense_config(dims, 16, 2, 1)).unwrap();
    train(&ctx, &mut straight, &vectors, &config, |_| {}).unwrap();

    // Two epochs, "killed", then a fresh flow that resumes to epoch 3 from the saved state.
    let dir = tempfile::tempdir().unwrap();
    let state = TrainState::in_models_dir(dir.path(), "flow", "fan", true);
    let two = FlowTrainConfig {
        epochs: 2,
        ..config
    };
    let mut first = Flow::new(&ctx, dense_config(dims, 16, 2, 1)).unwrap();
    train_resumable(&ctx, &mut first, &vectors, &two, Some(&state), |_| {}).unwrap();
    assert!(dir.path().join("flow_fan.train.safetensors").exists());
    let mut resumed = Flow::new(&ctx, dense_config(dims, 16, 2, 1)).unwrap();
    let mut epochs = Vec::new();
    train_resumable(&ctx, &mut resumed, &vectors, &config, Some(&state), |r| {
        epochs.push(r.epoch)
    })
    .unwrap();
    assert_eq!(epochs, [3], "resumed after the saved epochs");
    assert_eq!(flow_values(&ctx, &straight), flow_values(&ctx, &resumed));

    // Another batch size is another run: refused by name.
    let other = FlowTrainConfig {
        batch_size: 4,
        ..config
    };
    let mut flow = Flow::new(&ctx, dense_config(dims, 16, 2, 1)).unwrap();
    let err = train_resumable(&ctx, &mut flow, &vectors, &other, Some(&state), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("train.batch_size"), "{err}");
}
