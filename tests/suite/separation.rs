//! The separation kernels: Conv-TasNet's masking (forward, backward against the CPU twin and
//! against finite differences) and frame padding/cropping, on purposeful shapes.

use hark::cpu;
use hark::kernels::separation::{mask_apply, mask_apply_backward, resize_frames};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

/// (batch, sources, features, frames): one of everything, primes, a non-multiple of the
/// workgroup, and a Conv-TasNet-like shape (N = 512, one second at stride 8).
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (2, 3, 5, 7),
    (3, 2, 17, 257),
    (2, 1, 512, 2001),
];

#[test]
fn mask_apply_matches_cpu_both_ways() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(3);
    for &(batch, sources, features, frames) in SHAPES {
        let inner = features * frames;
        let mask = rng.vec(batch * sources * inner, 0.0, 1.0);
        let feats = rng.vec(batch * inner, -2.0, 2.0);
        let grad = rng.vec(mask.len(), -1.0, 1.0);
        let tm = Tensor::from_slice(&ctx, &[batch, sources, features, frames], &mask).unwrap();
        let tf = Tensor::from_slice(&ctx, &[batch, features, frames], &feats).unwrap();
        let tg = Tensor::from_slice(&ctx, tm.shape(), &grad).unwrap();
        let out = Tensor::zeros(&ctx, tm.shape(), DType::F32).unwrap();
        let grad_mask = Tensor::zeros(&ctx, tm.shape(), DType::F32).unwrap();
        let grad_feats = Tensor::zeros(&ctx, tf.shape(), DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        mask_apply(&mut rec, &tm, &tf, &out).unwrap();
        mask_apply_backward(&mut rec, &tg, &tm, &tf, &grad_mask, &grad_feats).unwrap();
        rec.submit().unwrap();
        // One product each: exact.
        assert_close(
            &out.to_vec(&ctx).unwrap(),
            &cpu::separation::mask_apply(&mask, &feats, sources, inner),
            0.0,
            0.0,
        );
        let (gm, gf) = cpu::separation::mask_apply_backward(&grad, &mask, &feats, sources, inner);
        assert_close(&grad_mask.to_vec(&ctx).unwrap(), &gm, 0.0, 0.0);
        // A sum over the sources in the same order: within a few ulps.
        assert_close(&grad_feats.to_vec(&ctx).unwrap(), &gf, 1e-6, 1e-6);
    }
}

#[test]
fn mask_apply_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let (batch, sources, inner) = (2, 3, 5);
    let mut rng = SeededRng::new(4);
    let mask = rng.vec(batch * sources * inner, 0.0, 1.0);
    let feats = rng.vec(batch * inner, -2.0, 2.0);
    let w = rng.vec(mask.len(), -1.0, 1.0);
    // L = sum(w * out); dL/dout = w.
    let loss = |m: &[f32], f: &[f32]| -> f64 {
        cpu::separation::mask_apply(m, f, sources, inner)
            .iter()
            .zip(&w)
            .map(|(&o, &w)| f64::from(o) * f64::from(w))
            .sum()
    };
    let tm = Tensor::from_slice(&ctx, &[batch, sources, inner], &mask).unwrap();
    let tf = Tensor::from_slice(&ctx, &[batch, inner], &feats).unwrap();
    let tg = Tensor::from_slice(&ctx, tm.shape(), &w).unwrap();
    let grad_mask = Tensor::zeros(&ctx, tm.shape(), DType::F32).unwrap();
    let grad_feats = Tensor::zeros(&ctx, tf.shape(), DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    mask_apply_backward(&mut rec, &tg, &tm, &tf, &grad_mask, &grad_feats).unwrap();
    rec.submit().unwrap();
    let h = 1e-2f32;
    let numeric = |values: &[f32], i: usize, is_mask: bool| -> f32 {
        let mut plus = values.to_vec();
        let mut minus = values.to_vec();
        plus[i] += h;
        minus[i] -= h;
        let (lp, lm) = if is_mask {
            (loss(&plus, &feats), loss(&minus, &feats))
        } else {
            (loss(&mask, &plus), loss(&mask, &minus))
        };
        ((lp - lm) / (2.0 * f64::from(h))) as f32
    };
    let fd_mask: Vec<f32> = (0..mask.len()).map(|i| numeric(&mask, i, true)).collect();
    let fd_feats: Vec<f32> = (0..feats.len())
        .map(|i| numeric(&feats, i, false))
        .collect();
    // Bilinear: central differences are exact up to the f32 rounding of the perturbed inputs.
    assert_close(&grad_mask.to_vec(&ctx).unwrap(), &fd_mask, 1e-3, 1e-4);
    assert_close(&grad_feats.to_vec(&ctx).unwrap(), &fd_feats, 1e-3, 1e-4);
}

#[test]
fn resize_frames_pads_and_crops() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(5);
    for (rows, len_in, len_out) in [
        (1, 1, 1),
        (1, 1, 8),
        (3, 203, 208),
        (4, 208, 203),
        (2, 257, 256),
    ] {
        let x = rng.vec(rows * len_in, -1.0, 1.0);
        let tx = Tensor::from_slice(&ctx, &[rows, 1, len_in], &x).unwrap();
        let out = Tensor::zeros(&ctx, &[rows, 1, len_out], DType::F32).unwrap();
        // Fill with garbage first: padding must write zeros, not leave what was there.
        out.write(&ctx, &vec![7.0; rows * len_out]).unwrap();
        let mut rec = Recorder::new(&ctx);
        resize_frames(&mut rec, &tx, &out).unwrap();
        rec.submit().unwrap();
        assert_close(
            &out.to_vec(&ctx).unwrap(),
            &cpu::separation::resize_frames(&x, len_in, len_out),
            0.0,
            0.0,
        );
    }
    let tx = Tensor::zeros(&ctx, &[2, 5], DType::F32).unwrap();
    let bad = Tensor::zeros(&ctx, &[3, 5], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    assert!(resize_frames(&mut rec, &tx, &bad).is_err());
}

#[test]
fn mask_apply_rejects_mismatched_shapes() {
    let Some(ctx) = test_context() else { return };
    let mask = Tensor::zeros(&ctx, &[2, 3, 10], DType::F32).unwrap();
    let feats = Tensor::zeros(&ctx, &[2, 11], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[2, 3, 10], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = mask_apply(&mut rec, &mask, &feats, &out).unwrap_err();
    assert!(err.to_string().contains("one mask per source"), "{err}");
}
