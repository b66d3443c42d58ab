//! Dense convolutions on the tiled matmul (im2col): the im2col, col2im and batch/channel swap
//! kernels against their CPU twins, then the `Conv2d` and `Conv1d` layers on that path against
//! the direct CPU conv references (forward, input, weight and bias gradients) on purposeful shapes
//! (batch 1, primes, stride 2, padding, dilation 2..8, the real models' layers), and a
//! finite-difference check through a layer on the path.

use hark::cpu;
use hark::kernels::conv1d::Conv1dParams;
use hark::kernels::conv2d::{Conv2dDims, Conv2dParams};
use hark::kernels::im2col::{col2im, im2col, swap_batch_channel, Im2colGeometry};
use hark::nn::{Conv1d, Conv2d, Layer, Mode, SeededInit};
use hark::testing::{assert_close, compare, test_context, SeededRng};
use hark::{Context, Recorder, Tensor};

/// `got` against `want` with an absolute floor scaled to `want`'s largest magnitude: matmul sums
/// of up to ~1300 f32 products against f64 loops (a wiring error errs by the values themselves).
fn close(what: &str, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    if let Err(report) = compare(got, want, 1e-4, 2e-5 * scale) {
        panic!("{what}: {report}");
    }
}

fn conv2d_geometry(input: [usize; 4], weight: [usize; 4], p: Conv2dParams) -> Im2colGeometry {
    let dims = Conv2dDims::new("test", &input, &weight, &p).unwrap();
    Im2colGeometry::conv2d(&dims, &p)
}

fn conv1d_params(stride: usize, padding: usize, dilation: usize) -> Conv1dParams {
    Conv1dParams {
        stride,
        padding,
        dilation,
        groups: 1,
    }
}

/// Geometries for the raw kernels: 2-D with stride and padding, 1-D with dilation, 1x1 images,
/// and sizes whose element counts are no multiple of 256.
fn geometries() -> Vec<Im2colGeometry> {
    vec![
        conv2d_geometry([2, 3, 13, 17], [4, 3, 3, 3], Conv2dParams::new(1, 1)),
        conv2d_geometry([1, 1, 31, 41], [16, 1, 7, 7], Conv2dParams::new(2, 3)),
        conv2d_geometry(
            [3, 2, 7, 5],
            [1, 2, 3, 2],
            Conv2dParams {
                stride: (2, 1),
                padding: (1, 0),
                groups: 1,
            },
        ),
        conv2d_geometry([1, 2, 1, 1], [3, 2, 3, 3], Conv2dParams::new(2, 1)),
        Im2colGeometry::conv1d(2, 5, 97, 3, &conv1d_params(1, 8, 8)).unwrap(),
        Im2colGeometry::conv1d(1, 3, 53, 5, &conv1d_params(2, 4, 2)).unwrap(),
        Im2colGeometry::conv1d(3, 1, 4099, 1024, &conv1d_params(512, 0, 1)).unwrap(),
        // Column count (68,780) and flat indices (1.2 M) past 2^16: the shaders' fast division
        // works on the high halves too.
        conv2d_geometry([2, 2, 190, 181], [3, 2, 3, 3], Conv2dParams::new(1, 1)),
    ]
}

#[test]
fn im2col_and_col2im_match_cpu() {
    let Some(ctx) = test_context() else { return };
    for (i, geo) in geometries().iter().enumerate() {
        let mut rng = SeededRng::new(100 + i as u64);
        let x = rng.vec(geo.input_len(), -1.0, 1.0);
        let c = rng.vec(geo.rows() * geo.columns(), -1.0, 1.0);
        let x_gpu = Tensor::from_slice(&ctx, &[geo.input_len()], &x).unwrap();
        let col = Tensor::zeros(&ctx, &geo.col_shape(), hark::DType::F32).unwrap();
        let c_gpu = Tensor::from_slice(&ctx, &geo.col_shape(), &c).unwrap();
        let dx = Tensor::zeros(&ctx, &[geo.input_len()], hark::DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        im2col(&mut rec, &x_gpu, geo, &col).unwrap();
        col2im(&mut rec, &c_gpu, geo, &dx).unwrap();
        rec.submit().unwrap();
        // im2col copies: exact.
        assert_eq!(
            col.to_vec(&ctx).unwrap(),
            cpu::im2col::im2col(&x, geo),
            "{geo:?}"
        );
        // col2im sums at most KH*KW entries per element.
        assert_close(
            &dx.to_vec(&ctx).unwrap(),
            &cpu::im2col::col2im(&c, geo),
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    // <im2col(x), c> = <x, col2im(c)> on the CPU twins ties the two index maps together.
    for (i, geo) in geometries().iter().enumerate() {
        let mut rng = SeededRng::new(200 + i as u64);
        let x = rng.vec(geo.input_len(), -1.0, 1.0);
        let c = rng.vec(geo.rows() * geo.columns(), -1.0, 1.0);
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum()
        };
        let left = dot(&cpu::im2col::im2col(&x, geo), &c);
        let right = dot(&x, &cpu::im2col::col2im(&c, geo));
        assert!((left - right).abs() < 1e-4 * (1.0 + left.abs()), "{geo:?}");
    }
}

#[test]
fn swap_batch_channel_matches_cpu_both_ways() {
    let Some(ctx) = test_context() else { return };
    // (3, 2, 65_543): a divisor and indices past 2^16 for the shader's fast division.
    for (i, &(a, b, p)) in [
        (1, 1, 1),
        (2, 3, 5),
        (7, 16, 257),
        (32, 2, 31),
        (3, 2, 65_543),
    ]
    .iter()
    .enumerate()
    {
        let x = SeededRng::new(300 + i as u64).vec(a * b * p, -1.0, 1.0);
        let x_gpu = Tensor::from_slice(&ctx, &[a, b, p], &x).unwrap();
        let there = Tensor::zeros(&ctx, &[b, a, p], hark::DType::F32).unwrap();
        let back = Tensor::zeros(&ctx, &[a, b, p], hark::DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        swap_batch_channel(&mut rec, &x_gpu, (a, b, p), &there).unwrap();
        swap_batch_channel(&mut rec, &there, (b, a, p), &back).unwrap();
        rec.submit().unwrap();
        let want = cpu::im2col::swap_batch_channel(&x, (a, b, p));
        assert_eq!(there.to_vec(&ctx).unwrap(), want);
        assert_eq!(back.to_vec(&ctx).unwrap(), x);
    }
}

/// Forward (train mode) and backward of `layer` on `x`, read back: (y, grad_x, grads of params).
fn forward_backward(
    ctx: &Context,
    layer: &mut dyn Layer,
    shape: &[usize],
    x: &[f32],
    g: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
    let input = Tensor::from_slice(ctx, shape, x).unwrap();
    let mut rec = Recorder::new(ctx);
    let y = layer.forward(&mut rec, &input, Mode::Train).unwrap();
    let grad_out = Tensor::from_slice(ctx, y.shape(), g).unwrap();
    let grad_x = layer.backward(&mut rec, &grad_out).unwrap();
    rec.submit().unwrap();
    let grads = layer
        .params()
        .iter()
        .map(|p| p.grad.to_vec(ctx).unwrap())
        .collect();
    (y.to_vec(ctx).unwrap(), grad_x.to_vec(ctx).unwrap(), grads)
}

#[test]
fn conv2d_layer_on_the_matmul_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    // (input, c_out, kernel, params, bias)
    let cases = [
        // Batch 1, primes, 3x3 stride 2 pad 1 with bias.
        ([1, 3, 11, 13], 5, (3, 3), Conv2dParams::new(2, 1), true),
        // Wilkinghoff's stem: 7x7 stride 2 pad 3, 1 -> 16 channels.
        ([2, 1, 31, 41], 16, (7, 7), Conv2dParams::new(2, 3), false),
        // Embedding ResNet / OE ResNet 3x3 convs: 16 -> 16 and 16 -> 32 at stride 2.
        ([2, 16, 16, 21], 16, (3, 3), Conv2dParams::new(1, 1), false),
        ([2, 16, 16, 21], 32, (3, 3), Conv2dParams::new(2, 1), false),
        // A 1x1 stride-2 shortcut (not pointwise: it strides) and a rectangular kernel.
        ([3, 8, 9, 11], 16, (1, 1), Conv2dParams::new(2, 0), false),
        (
            [2, 3, 7, 6],
            4,
            (3, 2),
            Conv2dParams {
                stride: (2, 1),
                padding: (1, 0),
                groups: 1,
            },
            true,
        ),
    ];
    for (i, &(shape, c_out, kernel, p, bias)) in cases.iter().enumerate() {
        let mut init = SeededInit::new(400 + i as u64);
        let mut layer =
            Conv2d::new(&ctx, "conv", shape[1], c_out, kernel, p, bias, &mut init).unwrap();
        assert!(layer.uses_im2col(&shape), "case {i} is not on the matmul");
        let dims = Conv2dDims::new("test", &shape, layer.weight.value.shape(), &p).unwrap();
        let mut rng = SeededRng::new(500 + i as u64);
        let x = rng.vec(shape.iter().product(), -1.0, 1.0);
        let g = rng.vec(dims.output_shape().iter().product(), -1.0, 1.0);
        let w = layer.weight.value.to_vec(&ctx).unwrap();
        let b = layer.bias.as_ref().map(|b| b.value.to_vec(&ctx).unwrap());
        let (y, grad_x, grads) = forward_backward(&ctx, &mut layer, &shape, &x, &g);
        close(
            "forward",
            &y,
            &cpu::conv2d::conv2d(&x, &w, b.as_deref(), &dims, &p),
        );
        close(
            "grad_x",
            &grad_x,
            &cpu::conv2d::conv2d_backward_input(&g, &w, &dims, &p),
        );
        close(
            "grad_w",
            &grads[0],
            &cpu::conv2d::conv2d_backward_weight(&g, &x, &dims, &p),
        );
        if bias {
            let plane = dims.oh * dims.ow;
            close(
                "grad_b",
                &grads[1],
                &cpu::conv2d::conv2d_backward_bias(&g, dims.n, c_out, plane),
            );
        }
    }
}

#[test]
fn conv1d_layer_on_the_matmul_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    // (batch, c_in, c_out, len, kernel, params, bias)
    let cases = [
        // Batch 1, primes, padded, with bias.
        (1, 3, 5, 31, 3, conv1d_params(1, 1, 1), true),
        // Dilation 2..8 with "same" padding, stride 2.
        (2, 7, 5, 67, 3, conv1d_params(1, 2, 2), false),
        (2, 4, 6, 97, 3, conv1d_params(2, 8, 8), true),
        (3, 5, 3, 41, 5, conv1d_params(1, 0, 4), false),
        // The TDNN's frame layers (kernel, dilation) (5, 1), (3, 2), (3, 3) on 40 frames.
        (2, 128, 64, 40, 5, conv1d_params(1, 0, 1), false),
        (2, 64, 64, 36, 3, conv1d_params(1, 0, 2), false),
        (2, 64, 64, 32, 3, conv1d_params(1, 0, 3), false),
        // The Tgram's first conv (1 -> 128, window 1024, hop 512) and the embedding system's
        // spectrum branch (1 -> 128, kernel 256, stride 64).
        (2, 1, 128, 8192, 1024, conv1d_params(512, 512, 1), false),
        (1, 1, 128, 4001, 256, conv1d_params(64, 96, 1), false),
    ];
    for (i, &(batch, c_in, c_out, len, k, p, bias)) in cases.iter().enumerate() {
        let mut init = SeededInit::new(600 + i as u64);
        let mut layer = Conv1d::new(&ctx, "conv", c_in, c_out, k, p, bias, &mut init).unwrap();
        let shape = [batch, c_in, len];
        assert!(layer.uses_im2col(&shape), "case {i} is not on the matmul");
        let dims = cpu::conv1d::Conv1dDims {
            batch,
            c_in,
            l_in: len,
            c_out,
            kernel: k,
        };
        let l_out = dims.l_out(&p);
        let mut rng = SeededRng::new(700 + i as u64);
        let x = rng.vec(batch * c_in * len, -1.0, 1.0);
        let g = rng.vec(batch * c_out * l_out, -1.0, 1.0);
        let w = layer.weight.value.to_vec(&ctx).unwrap();
        let b = layer.bias.as_ref().map(|b| b.value.to_vec(&ctx).unwrap());
        let (y, grad_x, grads) = forward_backward(&ctx, &mut layer, &shape, &x, &g);
        close(
            "forward",
            &y,
            &cpu::conv1d::conv1d(&x, &w, b.as_deref(), &dims, &p),
        );
        close(
            "grad_x",
            &grad_x,
            &cpu::conv1d::conv1d_backward_input(&g, &w, &dims, &p),
        );
        close(
            "grad_w",
            &grads[0],
            &cpu::conv1d::conv1d_backward_weight(&x, &g, &dims, &p),
        );
        if bias {
            close(
                "grad_b",
                &grads[1],
                &cpu::conv1d::conv1d_backward_bias(&g, batch, c_out, l_out),
            );
        }
    }
}

#[test]
fn pointwise_and_grouped_convs_stay_off_the_matmul_path() {
    let Some(ctx) = test_context() else { return };
    let mut init = SeededInit::new(1);
    let pointwise = Conv2d::new(
        &ctx,
        "pw",
        4,
        8,
        (1, 1),
        Conv2dParams::default(),
        true,
        &mut init,
    )
    .unwrap();
    assert!(!pointwise.uses_im2col(&[2, 4, 5, 5]));
    let depthwise = Conv2d::new(
        &ctx,
        "dw",
        4,
        4,
        (3, 3),
        Conv2dParams::new(1, 1).with_groups(4),
        true,
        &mut init,
    )
    .unwrap();
    assert!(!depthwise.uses_im2col(&[2, 4, 5, 5]));
    let pointwise_1d = Conv1d::new(
        &ctx,
        "pw",
        4,
        8,
        1,
        Conv1dParams::default(),
        true,
        &mut init,
    )
    .unwrap();
    assert!(!pointwise_1d.uses_im2col(&[2, 4, 9]));
    let dense_1d =
        Conv1d::new(&ctx, "c", 4, 8, 3, conv1d_params(1, 1, 2), true, &mut init).unwrap();
    assert!(dense_1d.uses_im2col(&[2, 4, 9]));
    // A wrong channel count is not a routing question.
    assert!(!dense_1d.uses_im2col(&[2, 5, 9]));
}

/// Central differences of `L = sum(r * y)` through a layer on the matmul path, against its
/// backward: every weight, the bias and the input at spread coordinates. The conv is linear in
/// each, so the difference quotient is exact up to f32 rounding of the forward (~1e-6 relative
/// per output, ~1e-4 absolute on the quotient with h = 1e-2).
fn finite_differences(ctx: &Context, layer: &mut dyn Layer, shape: &[usize], seed: u64) {
    let mut rng = SeededRng::new(seed);
    let x: Vec<f32> = rng.vec(shape.iter().product(), -1.0, 1.0);
    let input = Tensor::from_slice(ctx, shape, &x).unwrap();
    let mut rec = Recorder::new(ctx);
    let y = layer.forward(&mut rec, &input, Mode::Train).unwrap();
    rec.submit().unwrap();
    let r = rng.vec(y.numel(), -1.0, 1.0);
    let (_, grad_x, grads) = forward_backward(ctx, layer, shape, &x, &r);
    let loss = |layer: &mut dyn Layer, x: &[f32]| -> f64 {
        let input = Tensor::from_slice(ctx, shape, x).unwrap();
        let mut rec = Recorder::new(ctx);
        let y = layer.forward(&mut rec, &input, Mode::Train).unwrap();
        rec.submit().unwrap();
        y.to_vec(ctx)
            .unwrap()
            .iter()
            .zip(&r)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum()
    };
    let h = 1e-2f32;
    // At most 24 coordinates, spread evenly, first and last included.
    let picks = |n: usize| -> Vec<usize> {
        if n <= 24 {
            (0..n).collect()
        } else {
            (0..24).map(|j| j * (n - 1) / 23).collect()
        }
    };
    for (p, analytic) in grads.iter().enumerate() {
        let values = layer.params()[p].value.to_vec(ctx).unwrap();
        let picked = picks(values.len());
        let mut numeric = Vec::new();
        for &i in &picked {
            let mut shifted = values.clone();
            shifted[i] += h;
            layer.params()[p].value.write(ctx, &shifted).unwrap();
            let plus = loss(layer, &x);
            shifted[i] = values[i] - h;
            layer.params()[p].value.write(ctx, &shifted).unwrap();
            let minus = loss(layer, &x);
            layer.params()[p].value.write(ctx, &values).unwrap();
            numeric.push(((plus - minus) / (2.0 * f64::from(h))) as f32);
        }
        let analytic: Vec<f32> = picked.iter().map(|&i| analytic[i]).collect();
        assert_close(&analytic, &numeric, 1e-2, 2e-3);
    }
    let picked = picks(x.len());
    let mut numeric = Vec::new();
    for &i in &picked {
        let mut shifted = x.clone();
        shifted[i] += h;
        let plus = loss(layer, &shifted);
        shifted[i] = x[i] - h;
        let minus = loss(layer, &shifted);
        numeric.push(((plus - minus) / (2.0 * f64::from(h))) as f32);
    }
    let analytic: Vec<f32> = picked.iter().map(|&i| grad_x[i]).collect();
    assert_close(&analytic, &numeric, 1e-2, 2e-3);
}

#[test]
fn layers_on_the_matmul_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut init = SeededInit::new(800);
    let mut conv2 = Conv2d::new(
        &ctx,
        "c2",
        3,
        4,
        (3, 3),
        Conv2dParams::new(2, 1),
        true,
        &mut init,
    )
    .unwrap();
    assert!(conv2.uses_im2col(&[2, 3, 7, 9]));
    finite_differences(&ctx, &mut conv2, &[2, 3, 7, 9], 801);
    let mut conv1 =
        Conv1d::new(&ctx, "c1", 3, 5, 3, conv1d_params(2, 3, 3), true, &mut init).unwrap();
    assert!(conv1.uses_im2col(&[2, 3, 23]));
    finite_differences(&ctx, &mut conv1, &[2, 3, 23], 802);
}

#[test]
fn a_conv_without_input_grad_gives_the_same_parameter_gradients_and_zeros_for_the_input() {
    let Some(ctx) = test_context() else { return };
    // The OE stem (1 -> 8, 3x3, im2col path) and a depthwise conv (direct kernels).
    let depthwise = Conv2dParams {
        stride: (1, 1),
        padding: (1, 1),
        groups: 4,
    };
    let cases = [
        ([2, 1, 13, 11], 8, Conv2dParams::new(1, 1), true),
        ([2, 4, 7, 9], 4, depthwise, false),
    ];
    for (i, &(shape, c_out, p, bias)) in cases.iter().enumerate() {
        let make = || {
            let mut init = SeededInit::new(900 + i as u64);
            Conv2d::new(&ctx, "conv", shape[1], c_out, (3, 3), p, bias, &mut init).unwrap()
        };
        let mut full = make();
        let mut data_only = make().without_input_grad();
        assert_eq!(full.uses_im2col(&shape), i == 0, "case {i}: wrong path");
        let dims = Conv2dDims::new("test", &shape, full.weight.value.shape(), &p).unwrap();
        let mut rng = SeededRng::new(950 + i as u64);
        let x = rng.vec(shape.iter().product(), -1.0, 1.0);
        let g = rng.vec(dims.output_shape().iter().product(), -1.0, 1.0);
        let (y_full, grad_x_full, grads_full) = forward_backward(&ctx, &mut full, &shape, &x, &g);
        let (y, grad_x, grads) = forward_backward(&ctx, &mut data_only, &shape, &x, &g);
        assert_eq!(y, y_full, "case {i}: forward");
        assert_eq!(grads, grads_full, "case {i}: parameter gradients");
        assert!(grad_x_full.iter().any(|&v| v != 0.0), "case {i}");
        assert!(grad_x.iter().all(|&v| v == 0.0), "case {i}: input gradient");
        // Twice: the reused buffers stay right.
        let (_, grad_x, grads) = forward_backward(&ctx, &mut data_only, &shape, &x, &g);
        assert_eq!(grads, grads_full, "case {i}: second step");
        assert!(grad_x.iter().all(|&v| v == 0.0), "case {i}: second step");
    }
}

#[test]
fn a_k_padded_to_whole_vec4s_gives_the_unpadded_results_step_after_step() {
    let Some(ctx) = test_context() else { return };
    // K = 1 x 3 x 3 = 9 and 1 x 7 x 7 = 49 with N*P a multiple of 4: padded to 12 and 52; and
    // K = 3 x 3 x 3 = 27 with N*P = 2 x 6 x 6 = 72, also padded. Conv1d: K = 3 x 3 = 9.
    let cases = [
        ([2, 1, 8, 8], 8, (3, 3), Conv2dParams::new(1, 1)),
        ([2, 1, 16, 14], 4, (7, 7), Conv2dParams::new(2, 3)),
        ([2, 3, 11, 11], 5, (3, 3), Conv2dParams::new(2, 1)),
    ];
    for (i, &(shape, c_out, kernel, p)) in cases.iter().enumerate() {
        let mut init = SeededInit::new(960 + i as u64);
        let mut layer =
            Conv2d::new(&ctx, "conv", shape[1], c_out, kernel, p, true, &mut init).unwrap();
        assert!(layer.uses_im2col(&shape));
        let dims = Conv2dDims::new("test", &shape, layer.weight.value.shape(), &p).unwrap();
        assert_eq!((dims.n * dims.oh * dims.ow) % 4, 0, "case {i}: N*P");
        let w = layer.weight.value.to_vec(&ctx).unwrap();
        let b = layer.bias.as_ref().map(|b| b.value.to_vec(&ctx).unwrap());
        let mut rng = SeededRng::new(970 + i as u64);
        let out_len: usize = dims.output_shape().iter().product();
        // An Inf in the first step's output gradient must not leak into the next steps.
        let mut g_inf = rng.vec(out_len, -1.0, 1.0);
        g_inf[out_len / 2] = f32::INFINITY;
        let _ = forward_backward(
            &ctx,
            &mut layer,
            &shape,
            &rng.vec(shape.iter().product(), -1.0, 1.0),
            &g_inf,
        );
        for step in 0..2 {
            let x = rng.vec(shape.iter().product(), -1.0, 1.0);
            let g = rng.vec(out_len, -1.0, 1.0);
            let (y, grad_x, grads) = forward_backward(&ctx, &mut layer, &shape, &x, &g);
            let what = |t: &str| format!("case {i} step {step}: {t}");
            close(
                &what("forward"),
                &y,
                &cpu::conv2d::conv2d(&x, &w, b.as_deref(), &dims, &p),
            );
            close(
                &what("grad_x"),
                &grad_x,
                &cpu::conv2d::conv2d_backward_input(&g, &w, &dims, &p),
            );
            close(
                &what("grad_w"),
                &grads[0],
                &cpu::conv2d::conv2d_backward_weight(&g, &x, &dims, &p),
            );
        }
    }
}
