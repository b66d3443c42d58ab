//! GPU vs CPU for the reductions along one axis: purposeful lengths, every axis of real model
//! shapes, short axes (one thread per output) and long ones (one workgroup per output), a grid past
//! 65535 workgroups, variance on data with a large mean, and the typed errors.

use hark::cpu;
use hark::kernels::reduce::{self, AxisView, ReduceOp};
use hark::testing::{assert_close, compare, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Context, DType, HarkError, Recorder, Tensor};

const OPS: [ReduceOp; 3] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max];

/// (rel, abs) tolerance of GPU vs CPU twin.
fn tolerance(op: ReduceOp) -> (f32, f32) {
    match op {
        // max is exact: it picks one of the inputs.
        ReduceOp::Max => (0.0, 0.0),
        // The twin adds in the shader's order (strided partials, then the same tree), so sums
        // agree to the bit unless a driver reassociates; the mean's division may be off by the
        // 2.5 ulp WGSL allows (1e-6 relative is ~8 ulp). The abs term covers sums that cancel
        // to near zero, where a reassociating driver's ~1e-7 * sum|x| error is large relative.
        ReduceOp::Sum | ReduceOp::Mean => (1e-6, 1e-5),
    }
}

fn run_reduce(ctx: &Context, op: ReduceOp, shape: &[usize], x: &[f32], axis: usize) -> Vec<f32> {
    let tx = Tensor::from_slice(ctx, shape, x).unwrap();
    let mut out_shape = shape.to_vec();
    out_shape.remove(axis);
    let out = Tensor::zeros(ctx, &out_shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    reduce::reduce_axis(&mut rec, op, &tx, axis, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// Checks every op along `axis` of `shape` against the CPU twin.
fn check_reduce(
    ctx: &Context,
    rng: &mut SeededRng,
    shape: &[usize],
    axis: usize,
    ops: &[ReduceOp],
) {
    let n: usize = shape.iter().product();
    let x = rng.vec(n, -1.0, 1.0);
    let view = AxisView::new("test", shape, axis).unwrap();
    for &op in ops {
        let (rel, abs) = tolerance(op);
        let gpu = run_reduce(ctx, op, shape, &x, axis);
        let expected = cpu::reduce::reduce_axis(op, &x, view);
        if let Err(report) = compare(&gpu, &expected, rel, abs) {
            panic!("{op:?} of {shape:?} along axis {axis}: {report}");
        }
    }
}

#[test]
fn reduce_matches_cpu_on_purposeful_lengths() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(21);
    // 1-D: lengths up to 64 take the one-thread-per-output path, longer ones the workgroup path
    // (97, 255, 256, 257, 4099 leave threads with unequal shares).
    for &n in PURPOSEFUL_LENGTHS {
        check_reduce(&ctx, &mut rng, &[n], 0, &OPS);
    }
}

#[test]
fn reduce_matches_cpu_along_every_axis() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(22);
    let cases: &[&[usize]] = &[
        &[1, 1],
        &[3, 7, 5],
        &[5, 1, 3],
        &[2, 3, 7, 11],
        &[64, 1000],
        &[97, 65],
        &[65, 97],
    ];
    for &shape in cases {
        for axis in 0..shape.len() {
            check_reduce(&ctx, &mut rng, shape, axis, &OPS);
        }
    }
}

#[test]
fn reduce_matches_cpu_on_model_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(23);
    // [batch 32, channels 128, frames 640]: over the batch (short axis, inner 81920), over the
    // channels (long axis, strided by 640) and over time (contiguous).
    for axis in 0..3 {
        check_reduce(&ctx, &mut rng, &[32, 128, 640], axis, &[ReduceOp::Mean]);
    }
    // Max over 313 frames of a [4, 64, 313] feature map (temporal max pooling).
    check_reduce(
        &ctx,
        &mut rng,
        &[4, 64, 313],
        2,
        &[ReduceOp::Max, ReduceOp::Sum],
    );
}

#[test]
fn reduce_covers_grids_past_65535_workgroups() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(24);
    // 70000 rows of 3: one thread per row (274 workgroups).
    check_reduce(&ctx, &mut rng, &[70000, 3], 1, &OPS);
    // 70000 rows of 65, just past the serial limit: one workgroup per row, so the grid is folded
    // into 2-D by grid_1d and rows past 65535 come from wid.y. One op keeps lavapipe under ~1 s.
    check_reduce(&ctx, &mut rng, &[70000, 65], 1, &[ReduceOp::Sum]);
}

#[test]
fn reduce_keeps_or_drops_the_axis_and_wrappers_match() {
    let Some(ctx) = test_context() else { return };
    let shape = [3usize, 300];
    let x = SeededRng::new(25).vec(900, -1.0, 1.0);
    let tx = Tensor::from_slice(&ctx, &shape, &x).unwrap();
    // Kept as 1 or removed: only the element count matters.
    let kept = Tensor::zeros(&ctx, &[3, 1], DType::F32).unwrap();
    let dropped = Tensor::zeros(&ctx, &[3], DType::F32).unwrap();
    let maxed = Tensor::zeros(&ctx, &[3], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    reduce::sum(&mut rec, &tx, 1, &kept).unwrap();
    reduce::mean(&mut rec, &tx, 1, &dropped).unwrap();
    reduce::max(&mut rec, &tx, 1, &maxed).unwrap();
    rec.submit().unwrap();
    let view = AxisView::new("test", &shape, 1).unwrap();
    for (op, out) in [
        (ReduceOp::Sum, &kept),
        (ReduceOp::Mean, &dropped),
        (ReduceOp::Max, &maxed),
    ] {
        let (rel, abs) = tolerance(op);
        assert_close(
            &out.to_vec(&ctx).unwrap(),
            &cpu::reduce::reduce_axis(op, &x, view),
            rel,
            abs,
        );
    }
}

#[test]
fn cpu_reduce_matches_f64_sums() {
    // The twin is the spec, so it is itself held to f64 arithmetic. Pairwise-ish f32 summation of
    // 4099 values in [-1, 1]: error below ~12 * 6e-8 * sum|x| ~ 3e-3 at worst, ~1e-5 typically.
    let x = SeededRng::new(26).vec(4099, -1.0, 1.0);
    let view = AxisView::new("test", &[4099], 0).unwrap();
    let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
    let max = x.iter().copied().fold(f32::MIN, f32::max);
    assert_close(
        &cpu::reduce::reduce_axis(ReduceOp::Sum, &x, view),
        &[exact as f32],
        0.0,
        1e-4,
    );
    assert_close(
        &cpu::reduce::reduce_axis(ReduceOp::Mean, &x, view),
        &[(exact / 4099.0) as f32],
        0.0,
        1e-7,
    );
    assert_eq!(cpu::reduce::reduce_axis(ReduceOp::Max, &x, view), vec![max]);
}

#[test]
fn reduce_max_handles_all_negative_rows() {
    let Some(ctx) = test_context() else { return };
    // A zero start would win here: max starts from the row's own first element.
    for len in [3usize, 300] {
        let x: Vec<f32> = (0..len).map(|i| -1000.0 - i as f32).collect();
        assert_eq!(
            run_reduce(&ctx, ReduceOp::Max, &[len], &x, 0),
            vec![-1000.0]
        );
    }
}

fn run_mean_var(ctx: &Context, shape: &[usize], x: &[f32], axis: usize) -> (Vec<f32>, Vec<f32>) {
    let tx = Tensor::from_slice(ctx, shape, x).unwrap();
    let mut out_shape = shape.to_vec();
    out_shape[axis] = 1;
    let mean = Tensor::zeros(ctx, &out_shape, DType::F32).unwrap();
    let var = Tensor::zeros(ctx, &out_shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    reduce::mean_var(&mut rec, &tx, axis, &mean, &var).unwrap();
    rec.submit().unwrap();
    (mean.to_vec(ctx).unwrap(), var.to_vec(ctx).unwrap())
}

#[test]
fn mean_var_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(27);
    let mut cases: Vec<(Vec<usize>, usize)> =
        PURPOSEFUL_LENGTHS.iter().map(|&n| (vec![n], 0)).collect();
    cases.extend([
        (vec![3, 7, 5], 0),
        (vec![3, 7, 5], 1),
        (vec![3, 7, 5], 2),
        (vec![64, 1000], 1),
        // BatchNorm1d-style statistics per channel over a batch: [batch 32, channels 128, 640]
        // along the batch axis, and LayerNorm-style over 640 features.
        (vec![32, 128, 640], 0),
        (vec![32, 128, 640], 2),
    ]);
    for (shape, axis) in cases {
        let n: usize = shape.iter().product();
        let x = rng.vec(n, -3.0, 5.0);
        let (mean, var) = run_mean_var(&ctx, &shape, &x, axis);
        let (cpu_mean, cpu_var) =
            cpu::reduce::mean_var(&x, AxisView::new("test", &shape, axis).unwrap());
        // Same order of additions as the twin; a driver may fuse d * d + acc into an FMA (one
        // rounding fewer per term) and divide within 2.5 ulp: 1e-5 relative covers that sum of
        // per-term differences. abs 1e-6 for means that land near zero.
        for (what, got, want) in [("mean", &mean, &cpu_mean), ("var", &var, &cpu_var)] {
            if let Err(report) = compare(got, want, 1e-5, 1e-6) {
                panic!("{what} of {shape:?} along {axis}: {report}");
            }
        }
    }
}

#[test]
fn mean_var_is_accurate_for_a_large_mean() {
    let Some(ctx) = test_context() else { return };
    // 1000 + noise in [-0.01, 0.01]: variance ~3.3e-5, eight orders below E[x^2] = 1e6, so the
    // one-pass E[x^2] - E[x]^2 in f32 (ulp of 1e6 = 0.0625) keeps no correct digit.
    let mut rng = SeededRng::new(28);
    for (shape, axis) in [
        (vec![4099usize], 0usize),
        (vec![8, 313], 1),
        (vec![313, 8], 0),
    ] {
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n).map(|_| 1000.0 + rng.uniform(-0.01, 0.01)).collect();
        let view = AxisView::new("test", &shape, axis).unwrap();
        let (mean, var) = run_mean_var(&ctx, &shape, &x, axis);
        let (exact_mean, exact_var) = f64_mean_var(&x, view);
        // The mean is within an ulp or two of 1000 (ulp 6e-5): shifted sums are nearly exact.
        assert_close(&mean, &exact_mean, 2e-7, 0.0);
        // The variance of the f32 inputs to 1e-4 relative: the deviations are exact differences of
        // nearby floats; what is left is the f32 rounding of d^2 and of their sum.
        assert_close(&var, &exact_var, 1e-4, 0.0);
        if axis == 0 && shape.len() == 1 {
            // The test data does defeat the naive formula (so the check above means something).
            let naive = {
                let m = x.iter().sum::<f32>() / n as f32;
                x.iter().map(|v| v * v).sum::<f32>() / n as f32 - m * m
            };
            assert!(
                compare(&[naive], &exact_var, 0.5, 0.0).is_err(),
                "naive gave {naive}"
            );
        }
    }
}

/// Mean and biased variance in f64, two-pass, as the ground truth.
fn f64_mean_var(x: &[f32], view: AxisView) -> (Vec<f32>, Vec<f32>) {
    let (mut means, mut vars) = (Vec::new(), Vec::new());
    for row in 0..view.rows() {
        let (o, i) = (row / view.inner, row % view.inner);
        let vals: Vec<f64> = (0..view.axis_len)
            .map(|k| f64::from(x[(o * view.axis_len + k) * view.inner + i]))
            .collect();
        let n = vals.len() as f64;
        let m = vals.iter().sum::<f64>() / n;
        means.push(m as f32);
        vars.push((vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n) as f32);
    }
    (means, vars)
}

#[test]
fn reductions_reject_bad_axes_and_outputs() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[4, 5], DType::F32).unwrap();
    let out4 = Tensor::zeros(&ctx, &[4], DType::F32).unwrap();
    let out5 = Tensor::zeros(&ctx, &[5], DType::F32).unwrap();
    let empty_axis = Tensor::zeros(&ctx, &[4, 0], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);

    let err = reduce::sum(&mut rec, &x, 2, &out4).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = reduce::sum(&mut rec, &empty_axis, 1, &out4).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    // Reducing axis 1 leaves 4 values, not 5.
    let err = reduce::max(&mut rec, &x, 1, &out5).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");

    let err = reduce::mean_var(&mut rec, &x, 7, &out4, &out4).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
    let err = reduce::mean_var(&mut rec, &x, 1, &out4, &out5).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    let err = reduce::mean_var(&mut rec, &x, 0, &out4, &out5).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). One row of
/// 17,000,000 values: one workgroup per row strode 66,407 steps per thread and dropped the
/// tail (here it holds the maximum and much of the sum). Long axes are reduced in chunks by
/// many workgroups, then over the chunks; also along a strided axis ([70,000, 2] over axis 0).
#[test]
fn reduce_over_a_long_axis_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(25);
    let n = 17_000_000usize;
    let mut x = rng.vec(n, -1.0, 1.0);
    for v in &mut x[n - 500_000..] {
        *v += 2.0;
    }
    let view = AxisView::new("test", &[n], 0).unwrap();
    for op in OPS {
        let gpu = run_reduce(&ctx, op, &[n], &x, 0);
        let expected = cpu::reduce::reduce_axis(op, &x, view);
        // Chunk partials summed in another order than the twin's: ~1e-6 relative of a sum
        // of 17 M values of size ~1 (~1e6 in all), so 1e-5 relative plus 1e-1 absolute.
        let (rel, abs) = if op == ReduceOp::Max {
            (0.0, 0.0)
        } else {
            (1e-5, 1e-1)
        };
        if let Err(report) = compare(&gpu, &expected, rel, abs) {
            panic!("{op:?} of {n} values: {report}");
        }
    }
    let shape = [70_000usize, 2];
    let x = rng.vec(shape[0] * shape[1], -1.0, 1.0);
    let view = AxisView::new("test", &shape, 0).unwrap();
    for op in OPS {
        let gpu = run_reduce(&ctx, op, &shape, &x, 0);
        let expected = cpu::reduce::reduce_axis(op, &x, view);
        let (rel, abs) = if op == ReduceOp::Max {
            (0.0, 0.0)
        } else {
            (1e-5, 1e-4)
        };
        if let Err(report) = compare(&gpu, &expected, rel, abs) {
            panic!("{op:?} of {shape:?} along axis 0: {report}");
        }
    }
}
