//! GPU vs CPU for the elementwise kernels on purposeful lengths.

use hark::cpu;
use hark::kernels::elementwise::{self, BinaryOp};
use hark::testing::{assert_close, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Recorder, Tensor};

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
