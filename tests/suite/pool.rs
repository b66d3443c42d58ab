//! Max pooling 1-D and 2-D: forward values and argmax indices against the CPU reference (exact),
//! the gather backward against the CPU scatter, and against central differences of the forward.

use hark::cpu;
use hark::kernels::pool::{self, Pool1dParams, PoolParams};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// Distinct values spaced 0.01 apart in a seeded random order, so that every window has one
/// maximum and a 1e-3 perturbation never changes it.
fn distinct(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 3.0).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// GPU max_pool2d forward and backward on `[N, C, H, W]`: (out, indices, grad_input).
fn gpu2d(
    ctx: &Context,
    shape: [usize; 4],
    x: &[f32],
    g: &[f32],
    p: &PoolParams,
) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
    let [n, c, h, w] = shape;
    let (oh, ow) = p.output_size(h, w).unwrap();
    let xt = Tensor::from_slice(ctx, &shape, x).unwrap();
    let gt = Tensor::from_slice(ctx, &[n, c, oh, ow], g).unwrap();
    let out = Tensor::zeros(ctx, &[n, c, oh, ow], DType::F32).unwrap();
    let idx = Tensor::zeros(ctx, &[n, c, oh, ow], DType::F32).unwrap();
    let gx = Tensor::zeros(ctx, &shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    pool::max_pool2d(&mut rec, &xt, &out, &idx, p).unwrap();
    pool::max_pool2d_backward(&mut rec, &gt, &idx, &gx, p).unwrap();
    rec.submit().unwrap();
    let indices = idx
        .to_vec(ctx)
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    (out.to_vec(ctx).unwrap(), indices, gx.to_vec(ctx).unwrap())
}

fn cases_2d() -> Vec<([usize; 4], PoolParams)> {
    let rect = PoolParams {
        kernel: (2, 3),
        stride: (1, 2),
        padding: (1, 1),
    };
    vec![
        // The ResNet stem's pool (3x3 stride 2 pad 1) on an odd image and on the stem's output.
        ([2, 3, 13, 17], PoolParams::new(3, 2, 1)),
        ([1, 16, 16, 21], PoolParams::new(3, 2, 1)),
        // The shortcut's 2x2 stride 2 (odd sizes drop the last row and column, as torch).
        ([2, 3, 13, 17], PoolParams::new(2, 2, 0)),
        // Overlapping stride-1 windows: one input can win several windows.
        ([1, 2, 7, 9], PoolParams::new(3, 1, 1)),
        ([2, 1, 6, 7], rect),
        // 1x1 images.
        ([3, 2, 1, 1], PoolParams::new(1, 1, 0)),
        ([1, 1, 1, 1], PoolParams::new(3, 2, 1)),
    ]
}

#[test]
fn max_pool2d_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    for (i, (shape, p)) in cases_2d().into_iter().enumerate() {
        let [n, c, h, w] = shape;
        let (oh, ow) = p.output_size(h, w).unwrap();
        let mut rng = SeededRng::new(300 + i as u64);
        // Distinct values, then values from {0, 1, 2}: ties must go to the first in scan order.
        let tied: Vec<f32> = (0..n * c * h * w)
            .map(|_| (rng.next_u64() % 3) as f32)
            .collect();
        for x in [distinct(n * c * h * w, 400 + i as u64), tied] {
            let g = rng.vec(n * c * oh * ow, -1.0, 1.0);
            let (out, idx, gx) = gpu2d(&ctx, shape, &x, &g, &p);
            let (want, want_idx) = cpu::pool::max_pool2d(&x, n * c, (h, w), &p);
            // A max selects an input: exact.
            assert_close(&out, &want, 0.0, 0.0);
            assert_eq!(idx, want_idx, "{shape:?} {p:?}");
            let want = cpu::pool::max_pool2d_backward(&g, &want_idx, n * c, (h, w), oh * ow);
            // At most 9 overlapping windows add into one input, in another order than the CPU's
            // f64 scatter: a few f32 roundings of values in [-1, 1].
            assert_close(&gx, &want, 1e-6, 1e-6);
        }
    }
}

#[test]
fn max_pool1d_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let cases = [
        ([2, 3, 31], Pool1dParams::new(3, 2, 1)),
        ([2, 3, 31], Pool1dParams::new(2, 2, 0)),
        ([1, 2, 300], Pool1dParams::new(4, 1, 2)),
        ([1, 1, 1], Pool1dParams::new(1, 1, 0)),
    ];
    for (i, (shape, p)) in cases.into_iter().enumerate() {
        let [n, c, l] = shape;
        let ol = p.output_len(l).unwrap();
        let x = distinct(n * c * l, 500 + i as u64);
        let g = SeededRng::new(600 + i as u64).vec(n * c * ol, -1.0, 1.0);
        let xt = Tensor::from_slice(&ctx, &shape, &x).unwrap();
        let gt = Tensor::from_slice(&ctx, &[n, c, ol], &g).unwrap();
        let out = Tensor::zeros(&ctx, &[n, c, ol], DType::F32).unwrap();
        let idx = Tensor::zeros(&ctx, &[n, c, ol], DType::F32).unwrap();
        let gx = Tensor::zeros(&ctx, &shape, DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        pool::max_pool1d(&mut rec, &xt, &out, &idx, &p).unwrap();
        pool::max_pool1d_backward(&mut rec, &gt, &idx, &gx, &p).unwrap();
        rec.submit().unwrap();
        // The CPU reference of 1-D pooling is the 2-D one over [.., 1, L] (as the launcher).
        let (want, want_idx) = cpu::pool::max_pool2d(&x, n * c, (1, l), &p.as_2d());
        assert_close(&out.to_vec(&ctx).unwrap(), &want, 0.0, 0.0);
        let got_idx: Vec<u32> = idx
            .to_vec(&ctx)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        // Indices are positions l in the row, as torch's max_pool1d returns them.
        assert_eq!(got_idx, want_idx);
        let want = cpu::pool::max_pool2d_backward(&g, &want_idx, n * c, (1, l), ol);
        // Up to 4 overlapping windows per input: a few f32 roundings.
        assert_close(&gx.to_vec(&ctx).unwrap(), &want, 1e-6, 1e-6);
    }
}

#[test]
fn max_pool_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut cases = cases_2d();
    // 1-D pooling as the launchers run it: [N, C, 1, L].
    cases.push(([2, 2, 1, 23], Pool1dParams::new(3, 2, 1).as_2d()));
    for (i, (shape, p)) in cases.into_iter().enumerate() {
        let [n, c, h, w] = shape;
        let (oh, ow) = p.output_size(h, w).unwrap();
        let x = distinct(n * c * h * w, 700 + i as u64);
        let g = SeededRng::new(800 + i as u64).vec(n * c * oh * ow, -1.0, 1.0);
        let (_, _, gx) = gpu2d(&ctx, shape, &x, &g, &p);
        let loss = |x: &[f64]| -> f64 {
            let out = cpu::pool::max_pool2d_f64(x, n * c, (h, w), &p);
            out.iter().zip(&g).map(|(o, &g)| o * f64::from(g)).sum()
        };
        let mut xv: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let h_step = 1e-3;
        let numeric: Vec<f32> = (0..xv.len())
            .map(|k| {
                let keep = xv[k];
                xv[k] = keep + h_step;
                let up = loss(&xv);
                xv[k] = keep - h_step;
                let down = loss(&xv);
                xv[k] = keep;
                ((up - down) / (2.0 * h_step)) as f32
            })
            .collect();
        // Values are 0.01 apart, so +-1e-3 never changes a window's argmax and L is linear on
        // that range: the differences are exact to ~1e-12. The rest is the GPU's f32 sums.
        assert_close(&gx, &numeric, 1e-5, 1e-5);
    }
}

#[test]
fn max_pool_rejects_bad_shapes() {
    let Some(ctx) = test_context() else { return };
    let t = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let x = t(&[1, 2, 5, 5]);
    // Padding over half the window (torch refuses it too).
    assert!(pool::max_pool2d(
        &mut rec,
        &x,
        &t(&[1, 2, 7, 7]),
        &t(&[1, 2, 7, 7]),
        &PoolParams::new(3, 1, 2)
    )
    .is_err());
    // Wrong output or index shape.
    let p = PoolParams::new(2, 2, 0);
    assert!(pool::max_pool2d(&mut rec, &x, &t(&[1, 2, 3, 3]), &t(&[1, 2, 2, 2]), &p).is_err());
    assert!(pool::max_pool2d(&mut rec, &x, &t(&[1, 2, 2, 2]), &t(&[1, 2, 3, 2]), &p).is_err());
    assert!(pool::max_pool1d(
        &mut rec,
        &x,
        &t(&[1, 2, 2]),
        &t(&[1, 2, 2]),
        &Pool1dParams::new(2, 2, 0)
    )
    .is_err());
    assert_eq!(rec.dispatch_count(), 0);
}
