//! conv2d forward and its three gradients: GPU vs the CPU references on purposeful shapes
//! (Wilkinghoff's 7x7 stride-2 stem, 3x3 and 1x1 stride-2 shortcut convs, depthwise and grouped,
//! odd sizes, 1x1 images), and every gradient against central differences of the f64 forward.

use hark::cpu;
use hark::kernels::conv2d::{self, Conv2dDims, Conv2dParams};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// One case: input shape, weight shape, params, with bias.
struct Case {
    input: [usize; 4],
    weight: [usize; 4],
    params: Conv2dParams,
    bias: bool,
}

fn case(input: [usize; 4], weight: [usize; 4], params: Conv2dParams, bias: bool) -> Case {
    Case {
        input,
        weight,
        params,
        bias,
    }
}

fn p(stride: (usize, usize), padding: (usize, usize), groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride,
        padding,
        groups,
    }
}

/// The purposeful shapes of the brief and the ResNet of REFERENCE-SPECS §4.
fn cases() -> Vec<Case> {
    vec![
        // 3x3 pad 1 at stride 1 and 2 on an odd-sized image (1768 outputs: several workgroups).
        case([2, 3, 13, 17], [4, 3, 3, 3], p((1, 1), (1, 1), 1), true),
        case([2, 3, 13, 17], [5, 3, 3, 3], p((2, 2), (1, 1), 1), false),
        // The stem: 7x7 stride 2 pad 3, 1 -> 16 channels, no bias.
        case([1, 1, 31, 41], [16, 1, 7, 7], p((2, 2), (3, 3), 1), false),
        // 1x1 stride-2 shortcut, 16 -> 32 channels.
        case([2, 16, 9, 11], [32, 16, 1, 1], p((2, 2), (0, 0), 1), false),
        // Depthwise 3x3 and a general grouped conv with unequal strides and paddings.
        case([2, 5, 7, 9], [5, 1, 3, 3], p((1, 1), (1, 1), 5), true),
        case([1, 4, 6, 5], [6, 2, 3, 2], p((2, 1), (1, 0), 2), true),
        // 1x1 images: a 1x1 kernel, and a 3x3 kernel that sees only its centre.
        case([3, 2, 1, 1], [3, 2, 1, 1], p((1, 1), (0, 0), 1), true),
        case([1, 2, 1, 1], [3, 2, 3, 3], p((2, 2), (1, 1), 1), false),
        // Pointwise convs (the matmul path): MobileNetV2-0.5's 16 -> 96 expand and 96 -> 24
        // project on an odd plane, with and without bias.
        case([2, 16, 9, 13], [96, 16, 1, 1], p((1, 1), (0, 0), 1), true),
        case([2, 96, 9, 13], [24, 96, 1, 1], p((1, 1), (0, 0), 1), false),
    ]
}

struct Data {
    dims: Conv2dDims,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// Upstream gradient of the output.
    g: Vec<f32>,
}

fn data(c: &Case, seed: u64) -> Data {
    let dims = Conv2dDims::new("test", &c.input, &c.weight, &c.params).unwrap();
    let mut rng = SeededRng::new(seed);
    let numel = |s: [usize; 4]| s.iter().product::<usize>();
    Data {
        dims,
        x: rng.vec(numel(c.input), -1.0, 1.0),
        w: rng.vec(numel(c.weight), -1.0, 1.0),
        bias: c.bias.then(|| rng.vec(c.weight[0], -1.0, 1.0)),
        g: rng.vec(numel(dims.output_shape()), -1.0, 1.0),
    }
}

/// GPU forward and the three gradients (grad_bias only with a bias).
fn gpu(ctx: &Context, c: &Case, d: &Data) -> (Vec<f32>, Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let x = Tensor::from_slice(ctx, &c.input, &d.x).unwrap();
    let w = Tensor::from_slice(ctx, &c.weight, &d.w).unwrap();
    let bias = d
        .bias
        .as_ref()
        .map(|b| Tensor::from_slice(ctx, &[b.len()], b).unwrap());
    let out_shape = d.dims.output_shape();
    let g = Tensor::from_slice(ctx, &out_shape, &d.g).unwrap();
    let out = Tensor::zeros(ctx, &out_shape, DType::F32).unwrap();
    let gx = Tensor::zeros(ctx, &c.input, DType::F32).unwrap();
    let gw = Tensor::zeros(ctx, &c.weight, DType::F32).unwrap();
    let gb = Tensor::zeros(ctx, &[c.weight[0]], DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    conv2d::conv2d(&mut rec, &x, &w, bias.as_ref(), &out, &c.params).unwrap();
    conv2d::conv2d_backward_input(&mut rec, &g, &w, &gx, &c.params).unwrap();
    conv2d::conv2d_backward_weight(&mut rec, &g, &x, &gw, &c.params).unwrap();
    if bias.is_some() {
        conv2d::conv2d_backward_bias(&mut rec, &g, &gb).unwrap();
    }
    rec.submit().unwrap();
    (
        out.to_vec(ctx).unwrap(),
        gx.to_vec(ctx).unwrap(),
        gw.to_vec(ctx).unwrap(),
        bias.map(|_| gb.to_vec(ctx).unwrap()),
    )
}

#[test]
fn conv2d_forward_and_backward_match_cpu() {
    let Some(ctx) = test_context() else { return };
    for (i, c) in cases().iter().enumerate() {
        let d = data(c, 100 + i as u64);
        let (out, gx, gw, gb) = gpu(&ctx, c, &d);
        let dims = &d.dims;
        let want = cpu::conv2d::conv2d(&d.x, &d.w, d.bias.as_deref(), dims, &c.params);
        // f32 sums of at most 96 * 1 * 1 or 1 * 7 * 7 products of values in [-1, 1] against the
        // f64 reference: rounding stays near 3e-6, 1e-5 leaves room.
        assert_close(&out, &want, 1e-5, 1e-5);
        let want = cpu::conv2d::conv2d_backward_input(&d.g, &d.w, dims, &c.params);
        // Same size of sums as the forward (C_out/groups * KH * KW terms).
        assert_close(&gx, &want, 1e-5, 1e-5);
        let want = cpu::conv2d::conv2d_backward_weight(&d.g, &d.x, dims, &c.params);
        // Up to N * OH * OW = 442 terms summed as strided partials and a tree: f32 error grows
        // like sqrt(terms) * 6e-8 * |terms|, about 1e-5 at worst here.
        assert_close(&gw, &want, 1e-5, 3e-5);
        if let Some(gb) = gb {
            let plane = dims.oh * dims.ow;
            let want = cpu::conv2d::conv2d_backward_bias(&d.g, dims.n, dims.c_out, plane);
            // Same reduction as the weight gradient, terms in [-1, 1].
            assert_close(&gb, &want, 1e-5, 3e-5);
        }
    }
}

/// L(x, w, b) = sum(conv2d(x, w, b) * g) in f64.
fn loss(d: &Data, x: &[f64], w: &[f64], b: Option<&[f64]>, params: &Conv2dParams) -> f64 {
    let out = cpu::conv2d::conv2d_f64(x, w, b, &d.dims, params);
    out.iter().zip(&d.g).map(|(o, &g)| o * f64::from(g)).sum()
}

/// Central differences of `f` at every element of `v`.
fn numeric_grad(v: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f32> {
    let mut v = v.to_vec();
    (0..v.len())
        .map(|i| {
            let keep = v[i];
            v[i] = keep + h;
            let up = f(&v);
            v[i] = keep - h;
            let down = f(&v);
            v[i] = keep;
            ((up - down) / (2.0 * h)) as f32
        })
        .collect()
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let small = [
        // A small stem (7x7 stride 2 pad 3) with a bias, grouped, depthwise, and a 1x1 shortcut.
        case([2, 1, 9, 11], [4, 1, 7, 7], p((2, 2), (3, 3), 1), true),
        case([1, 4, 6, 5], [6, 2, 3, 2], p((2, 1), (1, 0), 2), true),
        case([2, 3, 5, 4], [3, 1, 3, 3], p((1, 1), (1, 1), 3), false),
        case([2, 4, 5, 7], [3, 4, 1, 1], p((2, 2), (0, 0), 1), false),
        // Pointwise (the matmul path).
        case([2, 4, 5, 7], [3, 4, 1, 1], p((1, 1), (0, 0), 1), true),
    ];
    let wide = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let h = 1e-3;
    for (i, c) in small.iter().enumerate() {
        let d = data(c, 200 + i as u64);
        let (_, gx, gw, gb) = gpu(&ctx, c, &d);
        let (x, w) = (wide(&d.x), wide(&d.w));
        let b = d.bias.as_deref().map(wide);
        let num_x = numeric_grad(&x, h, |x| loss(&d, x, &w, b.as_deref(), &c.params));
        let num_w = numeric_grad(&w, h, |w| loss(&d, &x, w, b.as_deref(), &c.params));
        // L is linear in each argument, so central differences in f64 are exact up to ~1e-12;
        // what remains is the GPU's f32 rounding (see the CPU comparison), hence 1e-4.
        assert_close(&gx, &num_x, 1e-4, 1e-4);
        assert_close(&gw, &num_w, 1e-4, 1e-4);
        if let (Some(gb), Some(b)) = (gb, &b) {
            let num_b = numeric_grad(b, h, |b| loss(&d, &x, &w, Some(b), &c.params));
            assert_close(&gb, &num_b, 1e-4, 1e-4);
        }
    }
}

#[test]
fn conv2d_rejects_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let t = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let x = t(&[1, 4, 5, 5]);
    // Weight channels do not match C_in / groups.
    let err = conv2d::conv2d(
        &mut rec,
        &x,
        &t(&[2, 3, 3, 3]),
        None,
        &t(&[1, 2, 3, 3]),
        &p((1, 1), (0, 0), 1),
    );
    assert!(err.is_err());
    // groups must divide C_out.
    let err = conv2d::conv2d(
        &mut rec,
        &x,
        &t(&[3, 2, 3, 3]),
        None,
        &t(&[1, 3, 3, 3]),
        &p((1, 1), (0, 0), 2),
    );
    assert!(err.is_err());
    // Wrong output size, wrong bias length, kernel larger than the padded input.
    let w = t(&[2, 4, 3, 3]);
    assert!(conv2d::conv2d(
        &mut rec,
        &x,
        &w,
        None,
        &t(&[1, 2, 5, 5]),
        &Conv2dParams::default()
    )
    .is_err());
    assert!(conv2d::conv2d(
        &mut rec,
        &x,
        &w,
        Some(&t(&[3])),
        &t(&[1, 2, 3, 3]),
        &Conv2dParams::default()
    )
    .is_err());
    assert!(conv2d::conv2d(
        &mut rec,
        &t(&[1, 4, 2, 2]),
        &w,
        None,
        &t(&[1, 2, 1, 1]),
        &Conv2dParams::default()
    )
    .is_err());
    assert!(conv2d::conv2d_backward_bias(&mut rec, &t(&[1, 2, 3, 3]), &t(&[3])).is_err());
    assert_eq!(rec.dispatch_count(), 0);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). One 4200 x 4200
/// output plane: the old bias gradient strode one workgroup over its 17.6 M values (68,907
/// steps per thread) and dropped the tail (which carries most of the sum here). The direct
/// weight gradient reduces one weight element in one workgroup: past the budget (2100 x 2100
/// positions here) it must refuse instead of risking a wrong sum.
#[test]
fn long_planes_cross_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let side = 4200usize;
    let mut rng = SeededRng::new(92);
    let mut g = rng.vec(side * side, -1.0, 1.0);
    for v in &mut g[side * side - 200_000..] {
        *v += 1.0;
    }
    let tg = Tensor::from_slice(&ctx, &[1, 1, side, side], &g).unwrap();
    let gb = Tensor::zeros(&ctx, &[1], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    conv2d::conv2d_backward_bias(&mut rec, &tg, &gb).unwrap();
    rec.submit().unwrap();
    let want = cpu::conv2d::conv2d_backward_bias(&g, 1, 1, side * side);
    // A sum of 17.6 M values in f32 (strided by 256 threads, then trees): ~1e-5 relative of
    // the ~2e5 total.
    assert_close(&gb.to_vec(&ctx).unwrap(), &want, 1e-4, 1e-1);

    let half = side / 2;
    let x = Tensor::from_slice(&ctx, &[1, 1, half, half], &g[..half * half]).unwrap();
    let gy = Tensor::from_slice(&ctx, &[1, 1, half, half], &g[..half * half]).unwrap();
    let gw = Tensor::zeros(&ctx, &[1, 1, 1, 1], DType::F32).unwrap();
    let params = p((1, 1), (0, 0), 1);
    let err = conv2d::conv2d_backward_weight(&mut Recorder::new(&ctx), &gy, &x, &gw, &params)
        .unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
}
