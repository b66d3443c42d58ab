//! GPU vs CPU for LayerNorm and GroupNorm, forward and backward, on purposeful shapes and the
//! real model shapes (TgramNet's LayerNorm over 313 frames, Conv-TasNet's gLN), plus
//! finite-difference checks of every gradient against the f64 CPU forward.

use hark::cpu;
use hark::kernels::norm;
use hark::testing::{assert_close, test_context, SeededRng};
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

/// Everything one LayerNorm case produces on the GPU.
struct Run {
    out: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
    grad_in: Vec<f32>,
    grad_weight: Vec<f32>,
    grad_bias: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
fn layer_norm_gpu(
    ctx: &Context,
    shape: &[usize],
    axis: usize,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    grad_out: &[f32],
) -> Run {
    let lines = x.len() / shape[axis];
    let xt = upload(ctx, shape, x);
    let gt = upload(ctx, shape, grad_out);
    let wt = weight.map(|w| upload(ctx, &[w.len()], w));
    let bt = bias.map(|b| upload(ctx, &[b.len()], b));
    let (out, mean, rstd) = (
        zeros(ctx, shape),
        zeros(ctx, &[lines]),
        zeros(ctx, &[lines]),
    );
    let grad_in = zeros(ctx, shape);
    let (gw, gb) = (zeros(ctx, &[shape[axis]]), zeros(ctx, &[shape[axis]]));
    let mut rec = Recorder::new(ctx);
    norm::layer_norm(
        &mut rec,
        &xt,
        axis,
        eps,
        wt.as_ref(),
        bt.as_ref(),
        &out,
        &mean,
        &rstd,
    )
    .unwrap();
    norm::layer_norm_backward_input(
        &mut rec,
        &xt,
        &gt,
        axis,
        wt.as_ref(),
        &mean,
        &rstd,
        &grad_in,
    )
    .unwrap();
    norm::layer_norm_backward_params(&mut rec, &xt, &gt, axis, &mean, &rstd, &gw, &gb).unwrap();
    rec.submit().unwrap();
    Run {
        out: out.to_vec(ctx).unwrap(),
        mean: mean.to_vec(ctx).unwrap(),
        rstd: rstd.to_vec(ctx).unwrap(),
        grad_in: grad_in.to_vec(ctx).unwrap(),
        grad_weight: gw.to_vec(ctx).unwrap(),
        grad_bias: gb.to_vec(ctx).unwrap(),
    }
}

fn view(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

#[test]
fn layer_norm_matches_cpu_forward_and_backward() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(51);
    // (shape, axis, weight, bias): TgramNet's [N, 128, 313] over time; a middle axis with an
    // inner stride; an axis of 1; an axis longer than the workgroup; weight without bias.
    let cases: &[(&[usize], usize, bool, bool)] = &[
        (&[2, 128, 313], 2, true, true),
        (&[3, 7, 5], 1, true, true),
        (&[4, 1], 1, true, true),
        (&[2, 300, 3], 1, false, false),
        (&[5, 257], 1, true, false),
        (&[97], 0, true, true),
    ];
    for &(shape, axis, has_w, has_b) in cases {
        let n: usize = shape.iter().product();
        let a = shape[axis];
        // An offset of 3 on the input: the two-pass variance must not lose it.
        let x: Vec<f32> = rng.vec(n, -2.0, 2.0).iter().map(|v| v + 3.0).collect();
        let w = rng.vec(a, 0.5, 1.5);
        let b = rng.vec(a, -0.5, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let eps = 1e-5;
        let run = layer_norm_gpu(
            &ctx,
            shape,
            axis,
            eps,
            &x,
            has_w.then_some(&w[..]),
            has_b.then_some(&b[..]),
            &g,
        );
        let (w64, b64) = (
            if has_w { to_f64(&w) } else { vec![] },
            if has_b { to_f64(&b) } else { vec![] },
        );
        let dims = view(shape, axis);
        let (out, mean, rstd) =
            cpu::norm::layer_norm(&to_f64(&x), dims, f64::from(eps), &w64, &b64);
        // f32 sums of at most 313 terms per line: relative error of a few 1e-6 on the mean and
        // rstd, so 1e-5 relative with a 1e-5 floor for outputs near zero.
        assert_close(&run.mean, &to_f32(&mean), 1e-5, 1e-5);
        assert_close(&run.rstd, &to_f32(&rstd), 1e-5, 1e-5);
        assert_close(&run.out, &to_f32(&out), 1e-5, 1e-5);
        let (gi, gw, gb) =
            cpu::norm::layer_norm_backward(&to_f64(&x), &to_f64(&g), dims, &w64, &mean, &rstd);
        // grad_in subtracts two means from gw: absolute error ~ rstd * 1e-6 * a few; grad_weight
        // and grad_bias sum up to 1280 lines of O(1) terms, so 1e-4 absolute on sums of size ~30.
        assert_close(&run.grad_in, &to_f32(&gi), 1e-4, 2e-5);
        assert_close(&run.grad_weight, &to_f32(&gw), 1e-4, 1e-4);
        assert_close(&run.grad_bias, &to_f32(&gb), 1e-4, 1e-4);
    }
}

#[test]
fn layer_norm_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(52);
    for (shape, axis) in [
        (&[2usize, 5, 3][..], 1usize),
        (&[3, 7][..], 1),
        (&[6, 2][..], 0),
    ] {
        let n: usize = shape.iter().product();
        let a = shape[axis];
        let x = rng.vec(n, -2.0, 2.0);
        let w = rng.vec(a, 0.5, 1.5);
        let b = rng.vec(a, -0.5, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let eps = 1e-5;
        let run = layer_norm_gpu(&ctx, shape, axis, eps, &x, Some(&w), Some(&b), &g);
        let dims = view(shape, axis);
        let (x64, w64, b64, g64) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&g));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            dot(
                &cpu::norm::layer_norm(x, dims, f64::from(eps), w, b).0,
                &g64,
            )
        };
        let h = 1e-3;
        let dx = numeric_gradient(&x64, h, |p| loss(p, &w64, &b64));
        let dw = numeric_gradient(&w64, h, |p| loss(&x64, p, &b64));
        let db = numeric_gradient(&b64, h, |p| loss(&x64, &w64, p));
        // Central differences in f64 are exact to O(h^2) ~ 1e-6 here; the tolerance covers the
        // f32 rounding of the GPU's reductions (gradients are O(1)).
        assert_close(&run.grad_in, &to_f32(&dx), 1e-3, 1e-4);
        assert_close(&run.grad_weight, &to_f32(&dw), 1e-3, 1e-4);
        assert_close(&run.grad_bias, &to_f32(&db), 1e-3, 1e-4);
    }
}

#[allow(clippy::too_many_arguments)]
fn group_norm_gpu(
    ctx: &Context,
    shape: &[usize],
    groups: usize,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    grad_out: &[f32],
) -> Run {
    let blocks = shape[0] * groups;
    let xt = upload(ctx, shape, x);
    let gt = upload(ctx, shape, grad_out);
    let wt = weight.map(|w| upload(ctx, &[w.len()], w));
    let bt = bias.map(|b| upload(ctx, &[b.len()], b));
    let (out, mean, rstd) = (
        zeros(ctx, shape),
        zeros(ctx, &[blocks]),
        zeros(ctx, &[blocks]),
    );
    let grad_in = zeros(ctx, shape);
    let (gw, gb) = (zeros(ctx, &[shape[1]]), zeros(ctx, &[shape[1]]));
    let mut rec = Recorder::new(ctx);
    norm::group_norm(
        &mut rec,
        &xt,
        groups,
        eps,
        wt.as_ref(),
        bt.as_ref(),
        &out,
        &mean,
        &rstd,
    )
    .unwrap();
    norm::group_norm_backward_input(
        &mut rec,
        &xt,
        &gt,
        groups,
        wt.as_ref(),
        &mean,
        &rstd,
        &grad_in,
    )
    .unwrap();
    norm::group_norm_backward_params(&mut rec, &xt, &gt, groups, &mean, &rstd, &gw, &gb).unwrap();
    rec.submit().unwrap();
    Run {
        out: out.to_vec(ctx).unwrap(),
        mean: mean.to_vec(ctx).unwrap(),
        rstd: rstd.to_vec(ctx).unwrap(),
        grad_in: grad_in.to_vec(ctx).unwrap(),
        grad_weight: gw.to_vec(ctx).unwrap(),
        grad_bias: gb.to_vec(ctx).unwrap(),
    }
}

fn ncs(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

#[test]
fn group_norm_matches_cpu_forward_and_backward() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(53);
    // (shape, groups, eps, affine): Conv-TasNet's gLN (G = 1, eps 1e-8) on [2, 32, 50] and on
    // a long [1, 16, 4000]; G = 4 on [3, 12, 7]; 2-D [N, C, H, W]; per-channel groups; [N, C].
    let cases: &[(&[usize], usize, f32, bool)] = &[
        (&[2, 32, 50], 1, 1e-8, true),
        (&[1, 16, 4000], 1, 1e-8, true),
        (&[3, 12, 7], 4, 1e-5, true),
        (&[2, 6, 5, 7], 3, 1e-5, true),
        (&[2, 5, 31], 5, 1e-5, false),
        (&[4, 6], 2, 1e-5, true),
    ];
    for &(shape, groups, eps, affine) in cases {
        let n: usize = shape.iter().product();
        let c = shape[1];
        let x: Vec<f32> = rng.vec(n, -2.0, 2.0).iter().map(|v| v + 3.0).collect();
        let w = rng.vec(c, 0.5, 1.5);
        let b = rng.vec(c, -0.5, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let run = group_norm_gpu(
            &ctx,
            shape,
            groups,
            eps,
            &x,
            affine.then_some(&w[..]),
            affine.then_some(&b[..]),
            &g,
        );
        let (w64, b64) = if affine {
            (to_f64(&w), to_f64(&b))
        } else {
            (vec![], vec![])
        };
        let dims = ncs(shape);
        let (out, mean, rstd) =
            cpu::norm::group_norm(&to_f64(&x), dims, groups, f64::from(eps), &w64, &b64);
        // Blocks of up to 64000 values summed in f32 (250 serial terms per thread, then a tree):
        // relative error of ~1e-5 on mean and rstd.
        assert_close(&run.mean, &to_f32(&mean), 2e-5, 1e-5);
        assert_close(&run.rstd, &to_f32(&rstd), 2e-5, 1e-5);
        assert_close(&run.out, &to_f32(&out), 2e-5, 2e-5);
        let (gi, gw, gb) = cpu::norm::group_norm_backward(
            &to_f64(&x),
            &to_f64(&g),
            dims,
            groups,
            &w64,
            &mean,
            &rstd,
        );
        // As for LayerNorm; grad_weight sums up to 4000 O(1) terms (size ~60).
        assert_close(&run.grad_in, &to_f32(&gi), 1e-4, 2e-5);
        assert_close(&run.grad_weight, &to_f32(&gw), 1e-4, 2e-4);
        assert_close(&run.grad_bias, &to_f32(&gb), 1e-4, 2e-4);
    }
}

#[test]
fn group_norm_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(54);
    for (shape, groups, eps) in [
        (&[3usize, 12, 7][..], 4usize, 1e-5f32),
        (&[2, 4, 5][..], 1, 1e-8),
    ] {
        let n: usize = shape.iter().product();
        let c = shape[1];
        let x = rng.vec(n, -2.0, 2.0);
        let w = rng.vec(c, 0.5, 1.5);
        let b = rng.vec(c, -0.5, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let run = group_norm_gpu(&ctx, shape, groups, eps, &x, Some(&w), Some(&b), &g);
        let dims = ncs(shape);
        let (x64, w64, b64, g64) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&g));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            dot(
                &cpu::norm::group_norm(x, dims, groups, f64::from(eps), w, b).0,
                &g64,
            )
        };
        let h = 1e-3;
        let dx = numeric_gradient(&x64, h, |p| loss(p, &w64, &b64));
        let dw = numeric_gradient(&w64, h, |p| loss(&x64, p, &b64));
        let db = numeric_gradient(&b64, h, |p| loss(&x64, &w64, p));
        // f64 central differences are exact to O(h^2) ~ 1e-6; the tolerance covers the GPU's f32.
        assert_close(&run.grad_in, &to_f32(&dx), 1e-3, 1e-4);
        assert_close(&run.grad_weight, &to_f32(&dw), 1e-3, 1e-4);
        assert_close(&run.grad_bias, &to_f32(&db), 1e-3, 1e-4);
    }
}

#[test]
fn norms_reject_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let x = zeros(&ctx, &[2, 6, 5]);
    let (out, stat) = (zeros(&ctx, &[2, 6, 5]), zeros(&ctx, &[8]));
    let mut rec = Recorder::new(&ctx);
    let err = norm::group_norm(&mut rec, &x, 4, 1e-5, None, None, &out, &stat, &stat).unwrap_err();
    assert!(err.to_string().contains("4 groups"), "{err}");
    let err = norm::layer_norm(&mut rec, &x, 3, 1e-5, None, None, &out, &stat, &stat).unwrap_err();
    assert!(err.to_string().contains("axis 3"), "{err}");
    let wrong = zeros(&ctx, &[4]);
    let (mean, rstd) = (zeros(&ctx, &[10]), zeros(&ctx, &[10]));
    let err = norm::layer_norm(
        &mut rec,
        &x,
        1,
        1e-5,
        Some(&wrong),
        None,
        &out,
        &mean,
        &rstd,
    )
    .unwrap_err();
    assert!(err.to_string().contains("weight"), "{err}");
}

/// GPU fused PReLU + GroupNorm: (out, activated, mean, rstd).
#[allow(clippy::too_many_arguments)]
fn prelu_group_norm_gpu(
    ctx: &Context,
    shape: &[usize],
    groups: usize,
    eps: f32,
    chunk: usize,
    x: &[f32],
    slope: Option<&[f32]>,
    affine: Option<(&[f32], &[f32])>,
) -> [Vec<f32>; 4] {
    let n: usize = shape.iter().product();
    let blocks = shape[0] * groups;
    let xt = upload(ctx, shape, x);
    let st = slope.map(|s| upload(ctx, &[s.len()], s));
    let wt = affine.map(|(w, _)| upload(ctx, &[w.len()], w));
    let bt = affine.map(|(_, b)| upload(ctx, &[b.len()], b));
    let (out, activated) = (zeros(ctx, shape), zeros(ctx, shape));
    let (mean, rstd) = (zeros(ctx, &[blocks]), zeros(ctx, &[blocks]));
    let partials = zeros(ctx, &[norm::partials_len(shape, groups, chunk).unwrap()]);
    let mut rec = Recorder::new(ctx);
    let args = norm::PreluGroupNormArgs {
        x: &xt,
        slope: st.as_ref(),
        groups,
        eps,
        weight: wt.as_ref(),
        bias: bt.as_ref(),
        chunk,
    };
    let outputs = norm::PreluGroupNormOutputs {
        out: &out,
        activated: Some(&activated),
        mean: &mean,
        rstd: &rstd,
        partials: &partials,
    };
    norm::prelu_group_norm(&mut rec, &args, &outputs).unwrap();
    rec.submit().unwrap();
    let read = |t: &Tensor| t.to_vec(ctx).unwrap();
    assert_eq!(out.numel(), n);
    [read(&out), read(&activated), read(&mean), read(&rstd)]
}

#[test]
fn fused_prelu_group_norm_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(55);
    // (shape, groups, slopes: 0 none / 1 shared / C per channel, affine, chunk, offset):
    // one element; gLN in one chunk and in prime-sized chunks with a ragged last one; a long
    // block over 250 chunks with a large offset (the chunk combination must stay as accurate as
    // a two-pass variance); groups with per-channel slopes; chunk = block length; no PReLU and
    // no affine; Conv-TasNet's hidden width H = 512 at the default chunk.
    type Case<'a> = (&'a [usize], usize, usize, bool, usize, f32);
    let cases: &[Case] = &[
        (&[1, 1, 1], 1, 1, true, norm::DEFAULT_CHUNK, 0.0),
        (&[2, 32, 50], 1, 1, true, norm::DEFAULT_CHUNK, 3.0),
        (&[2, 32, 50], 1, 1, true, 7, 3.0),
        (&[1, 16, 4000], 1, 1, true, 256, 1000.0),
        (&[3, 12, 7], 4, 12, true, 5, 0.0),
        (&[2, 5, 31], 5, 0, false, 31, 1.0),
        (&[1, 512, 301], 1, 1, true, norm::DEFAULT_CHUNK, 0.0),
    ];
    for &(shape, groups, slopes, affine, chunk, offset) in cases {
        let n: usize = shape.iter().product();
        let c = shape[1];
        let x: Vec<f32> = rng.vec(n, -2.0, 2.0).iter().map(|v| v + offset).collect();
        let slope = rng.vec(slopes, 0.05, 0.5);
        let (w, b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let eps = 1e-5;
        let [out, activated, mean, rstd] = prelu_group_norm_gpu(
            &ctx,
            shape,
            groups,
            eps,
            chunk,
            &x,
            (slopes > 0).then_some(&slope[..]),
            affine.then_some((&w[..], &b[..])),
        );
        let (w64, b64) = if affine {
            (to_f64(&w), to_f64(&b))
        } else {
            (vec![], vec![])
        };
        let (cpu_out, cpu_act, cpu_mean, cpu_rstd) = cpu::norm::prelu_group_norm(
            &to_f64(&x),
            ncs(shape),
            groups,
            f64::from(eps),
            &to_f64(&slope),
            &w64,
            &b64,
        );
        let case = format!("{shape:?} groups {groups} chunk {chunk} offset {offset}");
        assert_eq!(activated, to_f32(&cpu_act), "{case}");
        assert_close(&mean, &to_f32(&cpu_mean), 1e-5, 1e-5);
        // The offset case: variance 1.3 around 1000 in f32 inputs.
        assert_close(&rstd, &to_f32(&cpu_rstd), 1e-4, 1e-4);
        assert_close(&out, &to_f32(&cpu_out), 2e-4, 2e-4);
    }
}

#[test]
fn fused_prelu_group_norm_rejects_bad_arguments() {
    let Some(ctx) = test_context() else { return };
    let x = zeros(&ctx, &[2, 6, 5]);
    let out = zeros(&ctx, &[2, 6, 5]);
    let stat = zeros(&ctx, &[2]);
    let partials = zeros(&ctx, &[norm::partials_len(&[2, 6, 5], 1, 8).unwrap()]);
    let slope = zeros(&ctx, &[4]);
    let mut rec = Recorder::new(&ctx);
    let mut args = norm::PreluGroupNormArgs {
        x: &x,
        slope: Some(&slope),
        groups: 1,
        eps: 1e-8,
        weight: None,
        bias: None,
        chunk: 8,
    };
    let outputs = norm::PreluGroupNormOutputs {
        out: &out,
        activated: None,
        mean: &stat,
        rstd: &stat,
        partials: &partials,
    };
    let err = norm::prelu_group_norm(&mut rec, &args, &outputs).unwrap_err();
    assert!(err.to_string().contains("4 PReLU slopes"), "{err}");
    args.slope = None;
    args.chunk = 3;
    let err = norm::prelu_group_norm(&mut rec, &args, &outputs).unwrap_err();
    assert!(err.to_string().contains("partials"), "{err}");
    args.chunk = 8;
    args.groups = 4;
    assert!(norm::prelu_group_norm(&mut rec, &args, &outputs).is_err());
    assert!(norm::partials_len(&[2, 6, 5], 1, 0).is_err());
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). A gLN block of
/// 2 x 4,300,000 values: the old kernels strode one workgroup over the whole block (3 passes
/// of 33,594 steps forward, 2 backward), so the tail of `out` and `grad_in` was never
/// written. The kernels must split long blocks over many workgroups. Second case: two blocks
/// of 2,800,000 (chunked too), no affine parameters.
#[test]
fn group_norm_long_block_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(54);
    let cases: &[(&[usize], bool)] = &[(&[1, 2, 4_300_000], true), (&[2, 2, 1_400_000], false)];
    for &(shape, affine) in cases {
        let n: usize = shape.iter().product();
        let x: Vec<f32> = rng.vec(n, 1.0, 5.0);
        let w = rng.vec(2, 0.5, 1.5);
        let b = rng.vec(2, -0.5, 0.5);
        let g = rng.vec(n, -1.0, 1.0);
        let (wo, bo) = (affine.then_some(&w[..]), affine.then_some(&b[..]));
        let run = group_norm_gpu(&ctx, shape, 1, 1e-8, &x, wo, bo, &g);
        let (w64, b64) = if affine {
            (to_f64(&w), to_f64(&b))
        } else {
            (vec![], vec![])
        };
        let dims = ncs(shape);
        let (out, mean, rstd) = cpu::norm::group_norm(&to_f64(&x), dims, 1, 1e-8, &w64, &b64);
        // Millions of values summed in f32 (chunks of 4,096, then partial sums): ~1e-5
        // relative.
        assert_close(&run.mean, &to_f32(&mean), 1e-4, 1e-5);
        assert_close(&run.rstd, &to_f32(&rstd), 1e-4, 1e-5);
        assert_close(&run.out, &to_f32(&out), 1e-4, 1e-4);
        let (gi, gw, gb) =
            cpu::norm::group_norm_backward(&to_f64(&x), &to_f64(&g), dims, 1, &w64, &mean, &rstd);
        assert_close(&run.grad_in, &to_f32(&gi), 1e-3, 1e-4);
        // Sums of millions of terms of size ~1 (values ~2,000): f32 rounding ~1e-3 absolute.
        assert_close(&run.grad_weight, &to_f32(&gw), 1e-3, 1e-1);
        assert_close(&run.grad_bias, &to_f32(&gb), 1e-3, 1e-1);
    }
}
