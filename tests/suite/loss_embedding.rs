//! GPU vs CPU for the embedding losses, sub-cluster AdaCos (with its adaptive scale) and the
//! batch-hard triplet loss (Euclidean and cosine), forward and backward; finite-difference
//! checks of every gradient against the f64 CPU forward; errors and NaN propagation.

use hark::cpu;
use hark::kernels::loss::{self, ScAdaCosWorkspace, TripletMetric, TRIPLET_ANCHOR_WORDS};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn max_abs(v: &[f64]) -> f32 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs())) as f32
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

// ---------------------------------------------------------------------------------------------
// Sub-cluster AdaCos

/// One AdaCos problem: embeddings, Glorot-uniform centres and mixup labels as the reference
/// builds them (label = elementwise max(lambda y1, (1 - lambda) y2); every fourth row one-hot).
struct AdaCosCase {
    batch: usize,
    dim: usize,
    classes: usize,
    sub: usize,
    x: Vec<f32>,
    centres: Vec<f32>,
    labels: Vec<f32>,
}

impl AdaCosCase {
    fn new(rng: &mut SeededRng, batch: usize, dim: usize, classes: usize, sub: usize) -> Self {
        let logits = classes * sub;
        let x = rng.vec(batch * dim, -1.0, 1.0);
        let limit = (6.0 / (dim + logits) as f32).sqrt();
        let centres = rng.vec(logits * dim, -limit, limit);
        let mut labels = vec![0.0; batch * classes];
        for i in 0..batch {
            let c1 = (rng.next_u64() % classes as u64) as usize;
            let c2 = (rng.next_u64() % classes as u64) as usize;
            let lambda = if i % 4 == 0 {
                1.0
            } else {
                rng.uniform(0.0, 1.0)
            };
            let row = &mut labels[i * classes..(i + 1) * classes];
            row[c1] = lambda;
            row[c2] = row[c2].max(1.0 - lambda);
        }
        Self {
            batch,
            dim,
            classes,
            sub,
            x,
            centres,
            labels,
        }
    }

    fn logits(&self) -> usize {
        self.classes * self.sub
    }
}

/// What the GPU produced for one case.
struct AdaCosGpu {
    cosines: Vec<f32>,
    scales: Vec<f32>,
    rows: Vec<f32>,
    loss: f32,
    grad_x: Vec<f32>,
    grad_centres: Vec<f32>,
}

/// `steps` forwards (each updating the scale when `update`), the last followed by the backward.
fn adacos_gpu(
    ctx: &Context,
    case: &AdaCosCase,
    scale: f32,
    update: bool,
    steps: usize,
    upstream: f32,
) -> AdaCosGpu {
    let x = Tensor::from_slice(ctx, &[case.batch, case.dim], &case.x).unwrap();
    let w = Tensor::from_slice(ctx, &[case.logits(), case.dim], &case.centres).unwrap();
    let y = Tensor::from_slice(ctx, &[case.batch, case.classes], &case.labels).unwrap();
    let s = Tensor::from_slice(ctx, &[1], &[scale]).unwrap();
    let work = ScAdaCosWorkspace::new(ctx, case.batch, case.logits()).unwrap();
    let value = Tensor::zeros(ctx, &[1], DType::F32).unwrap();
    let grad_x = Tensor::zeros(ctx, &[case.batch, case.dim], DType::F32).unwrap();
    let grad_w = Tensor::zeros(ctx, &[case.logits(), case.dim], DType::F32).unwrap();
    let mut scales = Vec::new();
    for step in 0..steps {
        let mut rec = Recorder::new(ctx);
        loss::sc_adacos(&mut rec, &x, &w, &y, &s, update, &work, &value).unwrap();
        if step + 1 == steps {
            loss::sc_adacos_backward(
                &mut rec,
                &x,
                &w,
                &y,
                &s,
                &work,
                upstream,
                &grad_x,
                Some(&grad_w),
            )
            .unwrap();
        }
        rec.submit().unwrap();
        scales.push(s.to_vec(ctx).unwrap()[0]);
    }
    AdaCosGpu {
        cosines: work.cosines.to_vec(ctx).unwrap(),
        scales,
        rows: work.row_values.to_vec(ctx).unwrap(),
        loss: value.to_vec(ctx).unwrap()[0],
        grad_x: grad_x.to_vec(ctx).unwrap(),
        grad_centres: grad_w.to_vec(ctx).unwrap(),
    }
}

#[test]
fn sc_adacos_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(81);
    // (batch, dim, classes, sub): batch 1; primes; dim past the workgroup; one sub-cluster per
    // class with more classes than a workgroup has threads; the real shape (64 x 256, 18
    // classes x 16 sub-clusters = 288 logits).
    let cases = [
        (1, 7, 3, 2),
        (5, 31, 7, 3),
        (13, 257, 2, 16),
        (4, 33, 300, 1),
        (64, 256, 18, 16),
    ];
    for (batch, dim, classes, sub) in cases {
        let case = AdaCosCase::new(&mut rng, batch, dim, classes, sub);
        let s0 = loss::sc_adacos_initial_scale(classes, sub);
        let upstream = 0.7;
        // Two training steps on the same batch: the second update starts from the first's
        // scale, read from the GPU state.
        let gpu = adacos_gpu(&ctx, &case, s0, true, 2, upstream);
        let (x, w, y) = (to_f64(&case.x), to_f64(&case.centres), to_f64(&case.labels));
        let first = cpu::loss::sc_adacos(&x, &w, &y, dim, classes, f64::from(s0), true).unwrap();
        let second = cpu::loss::sc_adacos(&x, &w, &y, dim, classes, first.scale, true).unwrap();
        let (gx, gw) =
            cpu::loss::sc_adacos_backward(&x, &w, &y, dim, classes, second.scale, 0.7).unwrap();
        let label = format!("{batch}x{dim}, {classes} classes x {sub}");
        // Cosines: f32 dot products of up to 257 terms of unit-normalised vectors: ~1e-6.
        assert_close(&gpu.cosines, &to_f32(&second.cosines), 0.0, 1e-5);
        // The scale: a max, a log of a sum of up to 18432 exps, and a median of angle sums
        // (each of up to 288 acos): 1e-5 relative covers the f32 sums.
        let want = [first.scale as f32, second.scale as f32];
        assert_close(&gpu.scales, &want, 1e-5, 1e-5);
        // Row losses ~ ln(logits) from log-sum-exps at s ~ 10: 1e-5 relative per term.
        assert_close(&gpu.rows, &to_f32(&second.rows), 1e-4, 1e-5);
        assert_close(&[gpu.loss], &[second.loss as f32], 1e-4, 1e-5);
        // Gradients: sums over up to 288 logits (or 64 rows) of products of the above; entries
        // that cancel get a floor at 1e-4 of the largest.
        let (tx, tw) = (1e-4 * max_abs(&gx), 1e-4 * max_abs(&gw));
        eprintln!("{label}: scale {:?}, loss {}", gpu.scales, gpu.loss);
        assert_close(&gpu.grad_x, &to_f32(&gx), 1e-3, tx);
        assert_close(&gpu.grad_centres, &to_f32(&gw), 1e-3, tw);
    }
}

#[test]
fn sc_adacos_scale_follows_the_reference_formula() {
    // A hand-checkable case: batch 3, one sub-cluster, one-hot labels. The target angles are
    // the angles to the label's centre (times nnz = 1), their median the middle one.
    let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let centres = [1.0, 0.0, 0.0, 1.0];
    let labels = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let s = 2.0f64;
    let out = cpu::loss::sc_adacos(&x, &centres, &labels, 2, 2, s, true).unwrap();
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let cos = [1.0, 0.0, 0.0, 1.0, r, r];
    let m = cos.iter().map(|c| s * c).fold(f64::MIN, f64::max);
    let b_avg = cos.iter().map(|c| (s * c - m).exp()).sum::<f64>() / 3.0;
    // Angles: acos(1 - 1e-7) (clipped), pi / 2, pi / 4: the median is pi / 4.
    let want = (m + b_avg.ln()) / std::f64::consts::FRAC_PI_4.cos() + 1e-7;
    assert!((out.scale - want).abs() < 1e-9, "{} vs {want}", out.scale);
    assert!((cpu::loss::sc_adacos_initial_scale(18, 16) - 2f64.sqrt() * 287f64.ln()).abs() < 1e-12);
}

#[test]
fn sc_adacos_scale_uses_the_median_target_angle() {
    // One sub-cluster per class, one-hot labels and embeddings near their class centre: the
    // target angles are below pi / 4, so the median itself sets the scale. Batches 6 and 8 put
    // (batch - 1) / 2 at 2.5 and 3.5, which tf.round takes to 2 and 4 (half to even).
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(84);
    for batch in [6, 8] {
        let (dim, classes) = (9, 4);
        let mut case = AdaCosCase::new(&mut rng, batch, dim, classes, 1);
        case.labels.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..batch {
            let c = i % classes;
            case.labels[i * classes + c] = 1.0;
            for d in 0..dim {
                case.x[i * dim + d] = case.centres[c * dim + d] + rng.uniform(-0.05, 0.05);
            }
        }
        let s0 = loss::sc_adacos_initial_scale(classes, 1);
        let gpu = adacos_gpu(&ctx, &case, s0, true, 1, 1.0);
        let (x, w, y) = (to_f64(&case.x), to_f64(&case.centres), to_f64(&case.labels));
        let out = cpu::loss::sc_adacos(&x, &w, &y, dim, classes, f64::from(s0), true).unwrap();
        // The formula spelled out from the cosines, with the median index written down.
        let s = f64::from(s0);
        let m = out.cosines.iter().map(|c| s * c).fold(f64::MIN, f64::max);
        let b_avg = out.cosines.iter().map(|c| (s * c - m).exp()).sum::<f64>() / batch as f64;
        let mut theta: Vec<f64> = (0..batch)
            .map(|i| {
                out.cosines[i * classes + i % classes]
                    .clamp(-1.0 + 1e-7, 1.0 - 1e-7)
                    .acos()
            })
            .collect();
        theta.sort_by(f64::total_cmp);
        let median = theta[if batch == 6 { 2 } else { 4 }];
        assert!(median < std::f64::consts::FRAC_PI_4, "{theta:?}");
        let want = (m + b_avg.ln()) / median.cos() + 1e-7;
        assert!(
            (out.scale - want).abs() < 1e-9 * want,
            "{} vs {want}",
            out.scale
        );
        // f32 cosines near 1 give angles to ~1e-4 absolute (acos' slope grows as the angle
        // shrinks; these are ~0.1): 1e-4 relative on the scale.
        assert_close(&gpu.scales, &[want as f32], 1e-4, 0.0);
    }
}

#[test]
fn sc_adacos_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(82);
    for (batch, dim, classes, sub) in [(3, 5, 3, 2), (4, 6, 2, 3), (1, 4, 2, 2)] {
        let case = AdaCosCase::new(&mut rng, batch, dim, classes, sub);
        // A fixed scale (no update): the loss is then a smooth function of x and W.
        let s = 5.0f32;
        let upstream = 1.5;
        let gpu = adacos_gpu(&ctx, &case, s, false, 1, upstream);
        let (x, w, y) = (to_f64(&case.x), to_f64(&case.centres), to_f64(&case.labels));
        let f = |x: &[f64], w: &[f64]| {
            let out = cpu::loss::sc_adacos(x, w, &y, dim, classes, f64::from(s), false).unwrap();
            f64::from(upstream) * out.loss
        };
        let nx = numeric_gradient(&x, 1e-5, |q| f(q, &w));
        let nw = numeric_gradient(&w, 1e-5, |q| f(&x, q));
        let (cx, cw) =
            cpu::loss::sc_adacos_backward(&x, &w, &y, dim, classes, f64::from(s), 1.5).unwrap();
        // f64 central differences with h = 1e-5 are exact to O(h^2) (the loss is smooth, with
        // curvature O(s^2)) plus rounding ~1e-16 / h: 1e-7 covers both for the CPU backward.
        assert_close(&to_f32(&cx), &to_f32(&nx), 1e-6, 1e-7);
        assert_close(&to_f32(&cw), &to_f32(&nw), 1e-6, 1e-7);
        // The GPU's f32 statistics: 1e-3 relative, floored at 1e-3 of the largest entry.
        assert_close(&gpu.grad_x, &to_f32(&nx), 1e-3, 1e-3 * max_abs(&nx));
        assert_close(&gpu.grad_centres, &to_f32(&nw), 1e-3, 1e-3 * max_abs(&nw));
    }
}

#[test]
fn sc_adacos_rejects_bad_shapes_and_values() {
    let Some(ctx) = test_context() else { return };
    let z = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let (x, w, y, s, value) = (z(&[4, 8]), z(&[6, 8]), z(&[4, 3]), z(&[1]), z(&[1]));
    let work = ScAdaCosWorkspace::new(&ctx, 4, 6).unwrap();
    let mut rec = Recorder::new(&ctx);
    let mut fails = |x: &Tensor, w: &Tensor, y: &Tensor, s: &Tensor, needle: &str| {
        let err = loss::sc_adacos(&mut rec, x, w, y, s, true, &work, &value).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    fails(&x, &z(&[6, 7]), &y, &s, "centres");
    fails(&x, &z(&[7, 8]), &y, &s, "sub-clusters");
    fails(&x, &w, &z(&[5, 3]), &s, "labels");
    fails(&x, &w, &y, &z(&[2]), "scale");
    fails(&z(&[4, 8, 1]), &w, &y, &s, "x");
    fails(&z(&[5, 8]), &w, &z(&[5, 3]), &s, "workspace");
    let mut rec = Recorder::new(&ctx);
    let err =
        loss::sc_adacos_backward(&mut rec, &x, &w, &y, &s, &work, f32::NAN, &x, None).unwrap_err();
    assert!(err.to_string().contains("upstream"), "{err}");
    let err = loss::sc_adacos_backward(&mut rec, &x, &w, &y, &s, &work, 1.0, &w, None).unwrap_err();
    assert!(err.to_string().contains("grad_x"), "{err}");

    // The CPU reference refuses negative or NaN labels and NaN embeddings...
    let (xc, wc) = (vec![0.5; 8], vec![0.25; 12]);
    for bad in [-0.5, f64::NAN] {
        let err = cpu::loss::sc_adacos(&xc, &wc, &[1.0, bad, 0.0], 4, 3, 2.0, true).unwrap_err();
        assert!(err.to_string().contains("labels"), "{err}");
    }
    let mut xn = xc.clone();
    xn[3] = f64::NAN;
    assert!(cpu::loss::sc_adacos(&xn, &wc, &[1.0, 0.0, 0.0], 4, 3, 2.0, true).is_err());
    assert!(cpu::loss::sc_adacos(&xc, &wc, &[1.0, 0.0], 4, 3, 2.0, true).is_err());

    // ...and on the GPU they poison the loss: a bad label its row, a NaN embedding the scale.
    let mut rng = SeededRng::new(83);
    let mut case = AdaCosCase::new(&mut rng, 3, 8, 3, 2);
    case.labels[4] = -1.0;
    let s0 = loss::sc_adacos_initial_scale(3, 2);
    let out = adacos_gpu(&ctx, &case, s0, false, 1, 1.0);
    assert!(out.rows[1].is_nan() && out.rows[0].is_finite() && out.loss.is_nan());
    case.labels[4] = f32::NAN;
    let out = adacos_gpu(&ctx, &case, s0, false, 1, 1.0);
    assert!(out.rows[1].is_nan() && out.rows[0].is_finite() && out.loss.is_nan());
    case.labels[4] = 0.0;
    case.x[5] = f32::NAN;
    let out = adacos_gpu(&ctx, &case, s0, true, 1, 1.0);
    assert!(
        out.scales[0].is_nan() && out.loss.is_nan(),
        "{:?}",
        out.scales
    );
}

// ---------------------------------------------------------------------------------------------
// Batch-hard triplet

/// Embeddings on a circle of radius 2 in a random plane of R^dim (radii varied for the cosine
/// metric, which ignores them), at angles 0.9 pi ((j + 0.2) / batch)^1.5 for a shuffled j.
/// Distances grow strictly with the angle difference, and by the strict convexity of t^1.5 no
/// two points lie at the same angle difference from a third: hardest pairs are unique with
/// gaps far above f32 rounding, by construction.
fn circle(rng: &mut SeededRng, batch: usize, dim: usize, metric: TripletMetric) -> Vec<f32> {
    let mut u: Vec<f64> = (0..dim)
        .map(|_| f64::from(rng.uniform(-1.0, 1.0)))
        .collect();
    let mut v: Vec<f64> = (0..dim)
        .map(|_| f64::from(rng.uniform(-1.0, 1.0)))
        .collect();
    if dim == 1 {
        v[0] = 0.0;
    }
    let norm = |a: &[f64]| a.iter().map(|t| t * t).sum::<f64>().sqrt().max(1e-300);
    let nu = norm(&u);
    u.iter_mut().for_each(|t| *t /= nu);
    let dot: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
    v.iter_mut().zip(&u).for_each(|(b, a)| *b -= dot * a);
    let nv = norm(&v);
    v.iter_mut().for_each(|t| *t /= nv);
    let mut order: Vec<usize> = (0..batch).collect();
    for i in (1..batch).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut e = Vec::with_capacity(batch * dim);
    for &j in &order {
        let phi = 0.9 * std::f64::consts::PI * ((j as f64 + 0.2) / batch as f64).powf(1.5);
        let r = match metric {
            TripletMetric::Euclidean => 2.0,
            TripletMetric::Cosine => f64::from(rng.uniform(0.5, 3.0)),
        };
        e.extend((0..dim).map(|d| (r * (phi.cos() * u[d] + phi.sin() * v[d])) as f32));
    }
    e
}

/// A margin halfway between two consecutive sorted values of d(a, n) - d(a, p), so that about
/// half the anchors are active and none is within a quarter of that gap of the hinge's kink.
fn margin_between(anchors: &[cpu::loss::TripletAnchor]) -> f32 {
    let mut gaps: Vec<f64> = anchors
        .iter()
        .filter(|r| r.positive.is_some())
        .map(|r| r.d_negative - r.d_positive)
        .collect();
    if gaps.len() < 2 {
        return 0.3;
    }
    gaps.sort_by(f64::total_cmp);
    let k = gaps.len() / 2;
    (0.5 * (gaps[k - 1] + gaps[k])) as f32
}

/// The GPU's anchor records, loss and gradient.
fn triplet_gpu(
    ctx: &Context,
    e: &[f32],
    labels: &[f32],
    dim: usize,
    margin: f32,
    metric: TripletMetric,
    upstream: f32,
) -> (Vec<f32>, f32, Vec<f32>) {
    let batch = labels.len();
    let et = Tensor::from_slice(ctx, &[batch, dim], e).unwrap();
    let lt = Tensor::from_slice(ctx, &[batch], labels).unwrap();
    let anchors = Tensor::zeros(ctx, &[batch, TRIPLET_ANCHOR_WORDS], DType::F32).unwrap();
    let value = Tensor::zeros(ctx, &[1], DType::F32).unwrap();
    let grad = Tensor::zeros(ctx, &[batch, dim], DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    loss::batch_hard_triplet(&mut rec, &et, &lt, margin, metric, &anchors, &value).unwrap();
    loss::batch_hard_triplet_backward(&mut rec, &et, &lt, metric, &anchors, upstream, &grad)
        .unwrap();
    rec.submit().unwrap();
    (
        anchors.to_vec(ctx).unwrap(),
        value.to_vec(ctx).unwrap()[0],
        grad.to_vec(ctx).unwrap(),
    )
}

fn class_labels(rng: &mut SeededRng, batch: usize, classes: usize) -> Vec<f32> {
    (0..batch)
        .map(|_| (rng.next_u64() % classes as u64) as f32)
        .collect()
}

#[test]
fn batch_hard_triplet_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(91);
    // (batch, dim, classes): batch 1 (no pair: loss 0); one class (no negatives: loss 0);
    // primes; dim past the workgroup; more anchors than a workgroup has threads; the real
    // shape 64 x 256 with 16 sections.
    let cases = [
        (1, 5, 1),
        (6, 3, 1),
        (7, 31, 3),
        (13, 257, 4),
        (97, 65, 5),
        (64, 256, 16),
    ];
    for metric in [TripletMetric::Euclidean, TripletMetric::Cosine] {
        for (batch, dim, classes) in cases {
            let e = circle(&mut rng, batch, dim, metric);
            let labels = class_labels(&mut rng, batch, classes);
            let (e64, l64) = (to_f64(&e), to_f64(&labels));
            let first = cpu::loss::batch_hard_triplet_anchors(&e64, &l64, dim, 0.0, metric);
            let margin = margin_between(&first.unwrap());
            let (anchors, loss_cpu) =
                cpu::loss::batch_hard_triplet(&e64, &l64, dim, f64::from(margin), metric).unwrap();
            let grad_cpu = cpu::loss::batch_hard_triplet_backward(
                &e64,
                &l64,
                dim,
                f64::from(margin),
                metric,
                0.7,
            )
            .unwrap();
            let (records, value, grad) = triplet_gpu(&ctx, &e, &labels, dim, margin, metric, 0.7);
            let label = format!("{metric:?} {batch}x{dim}, {classes} classes");
            let index = |i: Option<usize>| i.map_or(-1.0, |v| v as f32);
            for (a, (r, want)) in records
                .chunks(TRIPLET_ANCHOR_WORDS)
                .zip(&anchors)
                .enumerate()
            {
                // The selection is exact by construction (unique hardest pairs).
                assert_eq!(
                    (r[0], r[1]),
                    (index(want.positive), index(want.negative)),
                    "{label}: anchor {a}"
                );
                if want.positive.is_some() {
                    // Distances up to 4 from f32 sums of 257 terms: 1e-5 absolute.
                    assert_close(
                        &[r[2], r[3], r[5]],
                        &to_f32(&[want.d_positive, want.d_negative, want.loss]),
                        1e-5,
                        1e-5,
                    );
                }
            }
            assert_close(&[value], &[loss_cpu as f32], 1e-5, 1e-5);
            // Gradient entries: at most `batch` pair terms of O(1) / valid; f32 differences of
            // nearby points over their distance: 1e-4 relative, floored at 1e-4 of the largest.
            assert_close(
                &grad,
                &to_f32(&grad_cpu),
                1e-4,
                1e-4 * max_abs(&grad_cpu).max(1e-6),
            );
            if batch <= 6 {
                assert_eq!(
                    value, 0.0,
                    "{label}: no anchor has a positive and a negative"
                );
                assert!(grad.iter().all(|g| *g == 0.0), "{label}");
            }
        }
    }
}

#[test]
fn batch_hard_triplet_loss_on_random_embeddings_matches_cpu() {
    // Unstructured data may hold near-ties the f32 distances order differently; the loss is
    // continuous across them, so only it is compared.
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(92);
    for metric in [TripletMetric::Euclidean, TripletMetric::Cosine] {
        let (batch, dim) = (64, 256);
        let e = rng.vec(batch * dim, -1.0, 1.0);
        let labels = class_labels(&mut rng, batch, 16);
        let (_, want) =
            cpu::loss::batch_hard_triplet(&to_f64(&e), &to_f64(&labels), dim, 0.3, metric).unwrap();
        let (_, value, _) = triplet_gpu(&ctx, &e, &labels, dim, 0.3, metric, 1.0);
        assert_close(&[value], &[want as f32], 1e-5, 1e-5);
    }
}

#[test]
fn batch_hard_triplet_gradients_match_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(93);
    for metric in [TripletMetric::Euclidean, TripletMetric::Cosine] {
        for (batch, dim, classes) in [(6, 5, 2), (9, 4, 3)] {
            let e = circle(&mut rng, batch, dim, metric);
            // Every class present twice at least, so that most anchors have a positive.
            let labels: Vec<f32> = (0..batch).map(|i| (i % classes) as f32).collect();
            let (e64, l64) = (to_f64(&e), to_f64(&labels));
            let first = cpu::loss::batch_hard_triplet_anchors(&e64, &l64, dim, 0.0, metric);
            let margin = margin_between(&first.unwrap());
            let upstream = 1.5;
            let (_, _, grad) = triplet_gpu(&ctx, &e, &labels, dim, margin, metric, upstream);
            let f = |q: &[f64]| {
                let (_, l) =
                    cpu::loss::batch_hard_triplet(q, &l64, dim, f64::from(margin), metric).unwrap();
                f64::from(upstream) * l
            };
            // h = 1e-6 moves distances by ~1e-6, far less than the gaps between candidate
            // distances and the hinge's distance from its kink (both ~1e-2 by construction),
            // so the differences see one smooth piece: O(h^2) exact, plus rounding 1e-16 / h.
            let numeric = numeric_gradient(&e64, 1e-6, f);
            let cpu_grad = cpu::loss::batch_hard_triplet_backward(
                &e64,
                &l64,
                dim,
                f64::from(margin),
                metric,
                1.5,
            )
            .unwrap();
            assert_close(&to_f32(&cpu_grad), &to_f32(&numeric), 1e-6, 1e-7);
            assert!(max_abs(&numeric) > 0.0, "{metric:?}: no active anchor");
            // The GPU's f32 distances and differences: 1e-3 relative, floored at 1e-3 of the
            // largest entry.
            assert_close(&grad, &to_f32(&numeric), 1e-3, 1e-3 * max_abs(&numeric));
        }
    }
}

#[test]
fn batch_hard_triplet_rejects_bad_shapes_and_values() {
    let Some(ctx) = test_context() else { return };
    let z = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let (e, l, anchors, value) = (z(&[5, 3]), z(&[5]), z(&[5, TRIPLET_ANCHOR_WORDS]), z(&[1]));
    let euclid = TripletMetric::Euclidean;
    let mut rec = Recorder::new(&ctx);
    let mut fails = |e: &Tensor, l: &Tensor, a: &Tensor, margin: f32, needle: &str| {
        let err = loss::batch_hard_triplet(&mut rec, e, l, margin, euclid, a, &value).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    fails(&z(&[15]), &l, &anchors, 0.3, "embeddings");
    fails(&e, &z(&[4]), &anchors, 0.3, "labels");
    fails(&e, &l, &z(&[5, 5]), 0.3, "anchors");
    fails(&e, &l, &anchors, f32::NAN, "margin");
    let mut rec = Recorder::new(&ctx);
    let err =
        loss::batch_hard_triplet_backward(&mut rec, &e, &l, euclid, &anchors, 1.0, &l).unwrap_err();
    assert!(err.to_string().contains("grad"), "{err}");

    // The CPU reference refuses labels that are not whole numbers in [0, 2^24) and NaN data...
    let e64 = [0.0, 1.0, 2.0, 3.0];
    for bad in [1.5, -1.0, f64::NAN, 2f64.powi(24)] {
        let err =
            cpu::loss::batch_hard_triplet(&e64, &[0.0, 1.0, bad, 0.0], 1, 0.3, euclid).unwrap_err();
        assert!(err.to_string().contains("label"), "{err}");
    }
    let err = cpu::loss::batch_hard_triplet(&[0.0, f64::NAN], &[0.0, 1.0], 1, 0.3, euclid);
    assert!(err.is_err());

    // ...which make the GPU's loss and gradient NaN.
    let e = [0.0, 1.0, 2.0, 3.0];
    let (_, value, grad) = triplet_gpu(&ctx, &e, &[0.0, 1.0, 1.5, 0.0], 1, 0.3, euclid, 1.0);
    assert!(
        value.is_nan() && grad.iter().all(|g| g.is_nan()),
        "{value} {grad:?}"
    );
    let (_, value, _) = triplet_gpu(
        &ctx,
        &[0.0, f32::NAN, 2.0, 3.0],
        &[0.0, 1.0, 1.0, 0.0],
        1,
        0.3,
        euclid,
        1.0,
    );
    assert!(value.is_nan());
}
