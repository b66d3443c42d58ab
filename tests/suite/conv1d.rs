//! GPU vs CPU for conv1d and conv_transpose1d, forward and every backward, on the shapes the
//! models use (Conv-TasNet's 1x1, depthwise and encoder/decoder convs, TgramNet's strided conv)
//! and awkward ones (odd groups, stride 3, L = 1, primes); finite-difference checks of each
//! gradient against the f64 CPU forward.

use hark::cpu::conv1d::{self as cpu, Conv1dDims, ConvTranspose1dDims};
use hark::kernels::conv1d::{self as conv, conv1d_output_len, Conv1dParams};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    batch: usize,
    c_in: usize,
    l_in: usize,
    c_out: usize,
    kernel: usize,
    p: Conv1dParams,
    bias: bool,
    /// conv_transpose1d only.
    output_padding: usize,
}

const fn params(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv1dParams {
    Conv1dParams {
        stride,
        padding,
        dilation,
        groups,
    }
}

#[allow(clippy::too_many_arguments)]
const fn case(
    name: &'static str,
    batch: usize,
    c_in: usize,
    l_in: usize,
    c_out: usize,
    kernel: usize,
    p: Conv1dParams,
    bias: bool,
) -> Case {
    Case {
        name,
        batch,
        c_in,
        l_in,
        c_out,
        kernel,
        p,
        bias,
        output_padding: 0,
    }
}

const CONV_CASES: &[Case] = &[
    // Conv-TasNet's 1x1 convs (bottleneck, res_out, skip_out).
    case("pointwise", 2, 16, 37, 24, 1, params(1, 0, 1, 1), true),
    // Pointwise convs run as a matmul: batch 1, primes, no bias; and a 1x1 with a stride,
    // which must stay on the direct kernel.
    case(
        "pointwise prime",
        1,
        13,
        61,
        7,
        1,
        params(1, 0, 1, 1),
        false,
    ),
    case(
        "pointwise strided",
        2,
        5,
        31,
        3,
        1,
        params(2, 0, 1, 1),
        true,
    ),
    // Conv-TasNet's depthwise convs: kernel 3, padding = dilation, length preserved.
    case("depthwise d1", 2, 32, 50, 32, 3, params(1, 1, 1, 32), true),
    case("depthwise d2", 2, 32, 50, 32, 3, params(1, 2, 2, 32), true),
    case("depthwise d4", 2, 32, 50, 32, 3, params(1, 4, 4, 32), true),
    // Conv-TasNet's encoder Conv1d(1, N, 16, stride 8, padding 8), no bias.
    case("encoder", 2, 1, 161, 32, 16, params(8, 8, 1, 1), false),
    // TgramNet's Conv1d(1, 16, 1024, stride 512, padding 512), no bias.
    case("tgram", 1, 1, 4000, 16, 1024, params(512, 512, 1, 1), false),
    // Two groups of 3 input and 5 output channels.
    case("groups 2 odd", 3, 6, 23, 10, 5, params(1, 2, 1, 2), true),
    case("stride 3", 2, 5, 31, 7, 4, params(3, 1, 2, 1), true),
    case("L = 1 padded", 1, 3, 1, 2, 3, params(1, 1, 1, 1), true),
    case("primes", 3, 7, 97, 11, 5, params(2, 3, 3, 1), true),
];

fn transposed(mut c: Case, output_padding: usize) -> Case {
    c.output_padding = output_padding;
    c
}

fn transpose_cases() -> Vec<Case> {
    vec![
        // Conv-TasNet's decoder ConvTranspose1d(N = 512, 1, 16, stride 8, padding 8), no bias,
        // on 21 encoder frames (160 samples).
        case("decoder", 2, 512, 21, 1, 16, params(8, 8, 1, 1), false),
        transposed(
            case("stride 3 op 2", 2, 4, 13, 6, 5, params(3, 1, 1, 1), true),
            2,
        ),
        case(
            "groups 2 dilation 2",
            1,
            4,
            11,
            6,
            3,
            params(2, 1, 2, 2),
            true,
        ),
        case("L = 1", 1, 3, 1, 2, 4, params(1, 0, 1, 1), true),
        case("primes", 3, 7, 29, 5, 7, params(5, 3, 1, 1), true),
    ]
}

fn upload(ctx: &Context, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(ctx, shape, data).unwrap()
}

/// Records `f` into a fresh recorder writing a zero tensor of `shape`, submits, reads back.
fn run(ctx: &Context, shape: &[usize], f: impl FnOnce(&mut Recorder, &Tensor)) -> Vec<f32> {
    let out = Tensor::zeros(ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    f(&mut rec, &out);
    assert_eq!(rec.dispatch_count(), 1, "one dispatch for all channels");
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// Tolerance for an f32 sum of `terms` products of O(1) values against the f64 reference:
/// rounding grows about linearly with the number of terms (u·Σ|t|, u = 6e-8); 1e-6 per term
/// leaves a margin of ~16 u and stays far below any indexing error (O(1)).
fn abs_tol(terms: usize) -> f32 {
    1e-6 * terms.max(1) as f32
}

/// Central differences of `loss(theta)` at a few indices of `theta` (the loss is linear in each
/// operand, so h only sets the f64 rounding: about 1e-13 / h).
fn finite_diff(theta: &[f32], picks: &[usize], loss: impl Fn(&[f64]) -> f64) -> Vec<f32> {
    let h = 1e-3;
    let base: Vec<f64> = theta.iter().map(|&v| f64::from(v)).collect();
    picks
        .iter()
        .map(|&i| {
            let mut plus = base.clone();
            plus[i] += h;
            let mut minus = base.clone();
            minus[i] -= h;
            ((loss(&plus) - loss(&minus)) / (2.0 * h)) as f32
        })
        .collect()
}

/// Up to 16 indices spread over `0..n`, first and last included.
fn picks(n: usize, rng: &mut SeededRng) -> Vec<usize> {
    if n <= 16 {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..14)
        .map(|_| (rng.next_u64() % n as u64) as usize)
        .collect();
    v.extend([0, n - 1]);
    v
}

fn dot(a: &[f64], g: &[f32]) -> f64 {
    a.iter().zip(g).map(|(a, &g)| a * f64::from(g)).sum()
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn select(v: &[f32], picks: &[usize]) -> Vec<f32> {
    picks.iter().map(|&i| v[i]).collect()
}

#[test]
fn conv1d_forward_and_backward_match_cpu_and_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(51);
    for c in CONV_CASES {
        let p = c.p;
        let dims = Conv1dDims {
            batch: c.batch,
            c_in: c.c_in,
            l_in: c.l_in,
            c_out: c.c_out,
            kernel: c.kernel,
        };
        let l_out = conv1d_output_len(c.l_in, c.kernel, &p).unwrap();
        let cig = c.c_in / p.groups;
        let x_shape = [c.batch, c.c_in, c.l_in];
        let w_shape = [c.c_out, cig, c.kernel];
        let y_shape = [c.batch, c.c_out, l_out];
        let x = rng.vec(x_shape.iter().product(), -1.0, 1.0);
        let w = rng.vec(w_shape.iter().product(), -1.0, 1.0);
        let b = rng.vec(c.c_out, -1.0, 1.0);
        let g = rng.vec(y_shape.iter().product(), -1.0, 1.0);
        let (xt, wt, bt, gt) = (
            upload(&ctx, &x_shape, &x),
            upload(&ctx, &w_shape, &w),
            upload(&ctx, &[c.c_out], &b),
            upload(&ctx, &y_shape, &g),
        );
        let bias = c.bias.then_some(&bt);
        let name = c.name;

        let y = run(&ctx, &y_shape, |rec, out| {
            conv::conv1d(rec, &xt, &wt, bias, &p, out).unwrap()
        });
        let bias_cpu = c.bias.then_some(b.as_slice());
        let y_cpu = cpu::conv1d(&x, &w, bias_cpu, &dims, &p);
        eprintln!("{name}: forward");
        assert_close(&y, &y_cpu, 1e-5, abs_tol(cig * c.kernel));

        let gx = run(&ctx, &x_shape, |rec, out| {
            conv::conv1d_backward_input(rec, &gt, &wt, &p, out).unwrap()
        });
        let gw = run(&ctx, &w_shape, |rec, out| {
            conv::conv1d_backward_weight(rec, &xt, &gt, &p, out).unwrap()
        });
        let gb = run(&ctx, &[c.c_out], |rec, out| {
            conv::conv1d_backward_bias(rec, &gt, out).unwrap()
        });
        // Each input element gets at most (C_out / groups) * ceil(K / stride) products; each
        // weight element and bias element sums batch * L_out of them.
        let terms_x = (c.c_out / p.groups) * c.kernel.div_ceil(p.stride);
        let terms_w = c.batch * l_out;
        eprintln!("{name}: backward vs cpu");
        assert_close(
            &gx,
            &cpu::conv1d_backward_input(&g, &w, &dims, &p),
            1e-5,
            abs_tol(terms_x),
        );
        assert_close(
            &gw,
            &cpu::conv1d_backward_weight(&x, &g, &dims, &p),
            1e-5,
            abs_tol(terms_w),
        );
        assert_close(
            &gb,
            &cpu::conv1d_backward_bias(&g, c.batch, c.c_out, l_out),
            1e-5,
            abs_tol(terms_w),
        );

        // Finite differences of L = sum(conv1d(x, w, b) * g), in f64. The same bounds as above
        // hold (the f64 differences are exact to ~1e-10, so the GPU's f32 sums set the error).
        eprintln!("{name}: finite differences");
        let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
        let bias64 = |b: &[f64]| c.bias.then_some(b.to_vec());
        let pick = picks(x.len(), &mut rng);
        let fd = finite_diff(&x, &pick, |xv| {
            dot(
                &cpu::conv1d_f64(xv, &w64, bias64(&b64).as_deref(), &dims, &p),
                &g,
            )
        });
        assert_close(&select(&gx, &pick), &fd, 1e-5, abs_tol(terms_x));
        let pick = picks(w.len(), &mut rng);
        let fd = finite_diff(&w, &pick, |wv| {
            dot(
                &cpu::conv1d_f64(&x64, wv, bias64(&b64).as_deref(), &dims, &p),
                &g,
            )
        });
        assert_close(&select(&gw, &pick), &fd, 1e-5, abs_tol(terms_w));
        if c.bias {
            let pick = picks(b.len(), &mut rng);
            let fd = finite_diff(&b, &pick, |bv| {
                dot(&cpu::conv1d_f64(&x64, &w64, Some(bv), &dims, &p), &g)
            });
            assert_close(&select(&gb, &pick), &fd, 1e-5, abs_tol(terms_w));
        }
    }
}

#[test]
fn conv_transpose1d_forward_and_backward_match_cpu_and_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(52);
    for c in transpose_cases() {
        let p = c.p;
        let dims = ConvTranspose1dDims {
            batch: c.batch,
            c_in: c.c_in,
            l_in: c.l_in,
            c_out: c.c_out,
            kernel: c.kernel,
            output_padding: c.output_padding,
        };
        let l_out = dims.l_out(&p);
        assert!(l_out > 0, "{}", c.name);
        let cog = c.c_out / p.groups;
        let x_shape = [c.batch, c.c_in, c.l_in];
        let w_shape = [c.c_in, cog, c.kernel];
        let y_shape = [c.batch, c.c_out, l_out];
        let x = rng.vec(x_shape.iter().product(), -1.0, 1.0);
        let w = rng.vec(w_shape.iter().product(), -1.0, 1.0);
        let b = rng.vec(c.c_out, -1.0, 1.0);
        let g = rng.vec(y_shape.iter().product(), -1.0, 1.0);
        let (xt, wt, bt, gt) = (
            upload(&ctx, &x_shape, &x),
            upload(&ctx, &w_shape, &w),
            upload(&ctx, &[c.c_out], &b),
            upload(&ctx, &y_shape, &g),
        );
        let bias = c.bias.then_some(&bt);
        let name = c.name;

        let y = run(&ctx, &y_shape, |rec, out| {
            conv::conv_transpose1d(rec, &xt, &wt, bias, &p, out).unwrap()
        });
        let bias_cpu = c.bias.then_some(b.as_slice());
        // Each output element sums at most (C_in / groups) * ceil(K / stride) products.
        let terms_y = (c.c_in / p.groups) * c.kernel.div_ceil(p.stride);
        eprintln!("{name}: forward");
        assert_close(
            &y,
            &cpu::conv_transpose1d(&x, &w, bias_cpu, &dims, &p),
            1e-5,
            abs_tol(terms_y),
        );

        let gx = run(&ctx, &x_shape, |rec, out| {
            conv::conv_transpose1d_backward_input(rec, &gt, &wt, &p, out).unwrap()
        });
        let gw = run(&ctx, &w_shape, |rec, out| {
            conv::conv_transpose1d_backward_weight(rec, &xt, &gt, &p, out).unwrap()
        });
        let gb = run(&ctx, &[c.c_out], |rec, out| {
            conv::conv_transpose1d_backward_bias(rec, &gt, out).unwrap()
        });
        // Input elements sum (C_out / groups) * K products, weight elements batch * L_in.
        let terms_x = cog * c.kernel;
        let terms_w = c.batch * c.l_in.max(l_out);
        eprintln!("{name}: backward vs cpu");
        assert_close(
            &gx,
            &cpu::conv_transpose1d_backward_input(&g, &w, &dims, &p),
            1e-5,
            abs_tol(terms_x),
        );
        assert_close(
            &gw,
            &cpu::conv_transpose1d_backward_weight(&x, &g, &dims, &p),
            1e-5,
            abs_tol(terms_w),
        );
        assert_close(
            &gb,
            &cpu::conv1d_backward_bias(&g, c.batch, c.c_out, l_out),
            1e-5,
            abs_tol(terms_w),
        );

        // Finite differences of L = sum(conv_transpose1d(x, w, b) * g) in f64; tolerances as
        // above (f64 differences of a linear loss are exact to ~1e-10).
        eprintln!("{name}: finite differences");
        let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
        let bias64 = |b: &[f64]| c.bias.then_some(b.to_vec());
        let pick = picks(x.len(), &mut rng);
        let fd = finite_diff(&x, &pick, |xv| {
            dot(
                &cpu::conv_transpose1d_f64(xv, &w64, bias64(&b64).as_deref(), &dims, &p),
                &g,
            )
        });
        assert_close(&select(&gx, &pick), &fd, 1e-5, abs_tol(terms_x));
        let pick = picks(w.len(), &mut rng);
        let fd = finite_diff(&w, &pick, |wv| {
            dot(
                &cpu::conv_transpose1d_f64(&x64, wv, bias64(&b64).as_deref(), &dims, &p),
                &g,
            )
        });
        assert_close(&select(&gw, &pick), &fd, 1e-5, abs_tol(terms_w));
        if c.bias {
            let pick = picks(b.len(), &mut rng);
            let fd = finite_diff(&b, &pick, |bv| {
                dot(
                    &cpu::conv_transpose1d_f64(&x64, &w64, Some(bv), &dims, &p),
                    &g,
                )
            });
            assert_close(&select(&gb, &pick), &fd, 1e-5, abs_tol(terms_w));
        }
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let Some(ctx) = test_context() else { return };
    let t = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let p = Conv1dParams::default();
    // Wrong output length (the kernel gives 8).
    let err = conv::conv1d(
        &mut rec,
        &t(&[1, 2, 10]),
        &t(&[3, 2, 3]),
        None,
        &p,
        &t(&[1, 3, 9]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected out"), "{err}");
    // Groups that do not divide the channels.
    let g3 = Conv1dParams { groups: 3, ..p };
    let err = conv::conv1d(
        &mut rec,
        &t(&[1, 4, 10]),
        &t(&[3, 1, 3]),
        None,
        &g3,
        &t(&[1, 3, 8]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("groups"), "{err}");
    // Bias of the wrong length.
    let err = conv::conv1d(
        &mut rec,
        &t(&[1, 2, 10]),
        &t(&[3, 2, 3]),
        Some(&t(&[2])),
        &p,
        &t(&[1, 3, 8]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");
    // Kernel longer than the padded input.
    let err = conv::conv1d(
        &mut rec,
        &t(&[1, 2, 2]),
        &t(&[3, 2, 3]),
        None,
        &p,
        &t(&[1, 3, 1]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("None"), "{err}");
    // Transposed output length beyond output_padding < stride.
    let s2 = Conv1dParams { stride: 2, ..p };
    let err = conv::conv_transpose1d(
        &mut rec,
        &t(&[1, 2, 4]),
        &t(&[2, 3, 3]),
        None,
        &s2,
        &t(&[1, 3, 11]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("output_padding"), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). Two channels of
/// 4,300,000 output positions: the old bias gradient strode one 64-thread workgroup over each
/// channel (67,188 steps per thread) and dropped the tail (which carries most of the sum here).
/// The weight gradient's direct kernel reduces one weight element in one workgroup: past the
/// budget it must refuse instead of computing a wrong sum.
#[test]
fn long_channels_cross_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let (batch, channels, len) = (1usize, 2usize, 4_300_000usize);
    let mut rng = SeededRng::new(91);
    let mut g = rng.vec(batch * channels * len, -1.0, 1.0);
    for row in g.chunks_mut(len) {
        for v in &mut row[len - 100_000..] {
            *v += 1.0;
        }
    }
    let tg = upload(&ctx, &[batch, channels, len], &g);
    let gb = Tensor::zeros(&ctx, &[channels], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    conv::conv1d_backward_bias(&mut rec, &tg, &gb).unwrap();
    rec.submit().unwrap();
    let want = cpu::conv1d_backward_bias(&g, batch, channels, len);
    // Sums of 4.3 M values in f32 (rows strided by 256 threads, then a tree): ~1e-5 relative
    // of the ~1e5 total.
    assert_close(&gb.to_vec(&ctx).unwrap(), &want, 1e-4, 1e-1);

    let x = upload(&ctx, &[batch, 1, len], &g[..len]);
    let gy = upload(&ctx, &[batch, 1, len], &g[len..]);
    let gw = Tensor::zeros(&ctx, &[1, 1, 1], DType::F32).unwrap();
    let p = Conv1dParams::default();
    let err = conv::conv1d_backward_weight(&mut Recorder::new(&ctx), &x, &gy, &p, &gw).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
}
