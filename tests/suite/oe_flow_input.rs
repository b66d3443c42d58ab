//! OE-Flow's input standardisation (`InputStandardizer`): statistics and transform against a
//! CPU reference, running moments of the clean rows, the gradient the flow loss sends to the
//! embeddings against central differences, and the failure it exists to prevent (a flow near
//! its initial identity ranking rows by their distance from the origin).

use hark::detect::metrics::auc;
use hark::kernels::optim::AdamConfig;
use hark::models::flow::{FlowConfig, FlowNll, Subnet};
use hark::models::oe::flow_input::{MIN_FIRST_ROWS, MIN_STD, MOMENTUM};
use hark::models::oe::{EmbeddingLoss, FlowEmbeddingLoss, InputStandardizer};
use hark::nn::{Adam, Mode, Param};
use hark::runtime::Recorder;
use hark::tensor::Tensor;
use hark::testing::{assert_close, test_context, SeededRng};
use hark::Context;

/// Per-channel mean and (population) standard deviation, in f64.
fn reference_stats(values: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = values.len() / dim;
    let mut mean = vec![0.0; dim];
    for row in values.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v) / rows as f64;
        }
    }
    let mut var = vec![0.0; dim];
    for row in values.chunks(dim) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2) / rows as f64;
        }
    }
    let std = var.iter().map(|v: &f64| v.sqrt().max(MIN_STD)).collect();
    (mean, std)
}

fn run_forward(ctx: &Context, norm: &mut InputStandardizer, x: &[f32], dim: usize) -> Vec<f32> {
    let rows = x.len() / dim;
    let x = Tensor::from_slice(ctx, &[rows, dim], x).unwrap();
    let out = Tensor::from_slice(ctx, &[rows, dim], &vec![0.0; rows * dim]).unwrap();
    let mut rec = Recorder::new(ctx);
    norm.forward(&mut rec, &x, &out).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

#[test]
fn standardizer_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(21);
    // 1 row (zero spread: every std floored), primes, a non-multiple of the workgroup, the
    // OE embedding size.
    for (rows, dim) in [(1, 1), (7, 3), (37, 64), (300, 257)] {
        let values: Vec<f32> = (0..rows * dim)
            .map(|i| 5.0 * ((i % dim) as f32 - 1.0) + rng.uniform(-2.0, 2.0))
            .collect();
        let mut norm = InputStandardizer::new(&ctx, dim).unwrap();
        assert!(!norm.is_fitted());
        // Unfitted, it is the identity.
        assert_eq!(run_forward(&ctx, &mut norm, &values, dim), values);
        norm.fit(&ctx, &values).unwrap();
        let (mean, std) = norm.mean_std().unwrap();
        let (ref_mean, ref_std) = reference_stats(&values, dim);
        for c in 0..dim {
            assert!((mean[c] - ref_mean[c]).abs() < 1e-9 * (1.0 + ref_mean[c].abs()));
            assert!(
                (std[c] - ref_std[c]).abs() < 1e-6 * (1.0 + ref_std[c]),
                "{c}"
            );
        }
        let expected: Vec<f32> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((f64::from(v) - ref_mean[i % dim]) / ref_std[i % dim]) as f32)
            .collect();
        let y = run_forward(&ctx, &mut norm, &values, dim);
        assert_close(&y, &expected, 1e-5, 1e-4);
        // Backward: grad_x = grad_y / std.
        let grad_y = rng.vec(rows * dim, -1.0, 1.0);
        let g = Tensor::from_slice(&ctx, &[rows, dim], &grad_y).unwrap();
        let gx = Tensor::from_slice(&ctx, &[rows, dim], &vec![0.0; rows * dim]).unwrap();
        let mut rec = Recorder::new(&ctx);
        norm.backward(&mut rec, &g, &gx).unwrap();
        rec.submit().unwrap();
        let expected: Vec<f32> = grad_y
            .iter()
            .enumerate()
            .map(|(i, &v)| (f64::from(v) / ref_std[i % dim]) as f32)
            .collect();
        assert_close(&gx.to_vec(&ctx).unwrap(), &expected, 1e-5, 1e-6);
        let log_det: f64 = -ref_std.iter().map(|s| s.ln()).sum::<f64>();
        assert!((norm.log_det() - log_det).abs() < 1e-6 * (1.0 + log_det.abs()));
    }
}

#[test]
fn running_moments_follow_only_the_clean_rows() {
    let Some(ctx) = test_context() else { return };
    let dim = 3;
    let mut norm = InputStandardizer::new(&ctx, dim).unwrap();
    // Rows 0-1 clean, row 2 (a pseudo-anomaly, huge) not. Two clean rows are too few for the
    // first statistics: the batches are pooled until MIN_FIRST_ROWS clean rows have been seen.
    let first = [1.0, 2.0, 4.0, 3.0, 2.0, 8.0, 1e6, -1e6, 1e6];
    assert_eq!(MIN_FIRST_ROWS % 2, 0);
    for seen in (2..=MIN_FIRST_ROWS).step_by(2) {
        assert!(!norm.is_fitted(), "fitted after {} clean rows", seen - 2);
        norm.update(&ctx, &first, &[true, true, false]).unwrap();
    }
    assert!(norm.is_fitted());
    let (mean, std) = norm.mean_std().unwrap();
    assert_eq!(mean, vec![2.0, 2.0, 6.0]);
    // Channel 1 never varies: floored, not zero.
    assert_eq!(std, vec![1.0, MIN_STD, 2.0]);
    // A batch without clean rows changes nothing.
    norm.update(&ctx, &first, &[false, false, false]).unwrap();
    assert_eq!(norm.mean_std().unwrap().0, vec![2.0, 2.0, 6.0]);
    // The next batch is blended into the first and second moments.
    let second = [10.0, 2.0, 6.0];
    norm.update(&ctx, &second, &[true]).unwrap();
    let (mean, std) = norm.mean_std().unwrap();
    let blend = |old: f64, new: f64| (1.0 - MOMENTUM) * old + MOMENTUM * new;
    let m0 = blend(2.0, 10.0);
    let q0 = blend((1.0 + 9.0) / 2.0, 100.0);
    assert!((mean[0] - m0).abs() < 1e-12);
    assert!((std[0] - (q0 - m0 * m0).sqrt()).abs() < 1e-9);
    // The device copy follows: y = (x - mean) / std.
    let y = run_forward(&ctx, &mut norm, &second, dim);
    assert!((f64::from(y[0]) - (10.0 - m0) / std[0]).abs() < 1e-5);
    // Non-finite embeddings and ragged rows are refused.
    assert!(norm.update(&ctx, &[f32::NAN, 0.0, 0.0], &[true]).is_err());
    assert!(norm.fit(&ctx, &[1.0, 2.0]).is_err());
    assert!(norm.fit(&ctx, &[]).is_err());
}

fn flow_config(dim: usize, seed: u64) -> FlowConfig {
    FlowConfig {
        channels: dim,
        blocks: 2,
        subnet: Subnet::Dense { hidden: 8 },
        seed,
    }
}

/// One recorded training step of `loss` on `x` with an Adam step on its parameters; the
/// gradient to the embeddings comes back.
fn step(
    ctx: &Context,
    loss: &mut FlowEmbeddingLoss,
    adam: Option<&mut Adam>,
    x: &Tensor,
    clean: &[bool],
) -> Vec<f32> {
    let mut rec = Recorder::new(ctx);
    let g = loss.record(&mut rec, x, clean).unwrap();
    if let Some(adam) = adam {
        adam.step(&mut rec, &EmbeddingLoss::params(loss)).unwrap();
    }
    rec.submit().unwrap();
    let g = g.to_vec(ctx).unwrap();
    loss.after_step(ctx).unwrap();
    g
}

/// Mean NLL over the clean rows of the standardised `x`.
fn clean_mean_nll(
    ctx: &Context,
    loss: &mut FlowEmbeddingLoss,
    x: &[f32],
    dim: usize,
    clean: &[bool],
) -> f64 {
    let rows = x.len() / dim;
    let t = Tensor::from_slice(ctx, &[rows, dim], x).unwrap();
    let mut nll = FlowNll::new(ctx, None);
    let mut rec = Recorder::new(ctx);
    let (z, logdet) = loss.latents(&mut rec, &t, Mode::Eval).unwrap();
    let (values, _) = nll.forward(&mut rec, &z, &logdet).unwrap();
    rec.submit().unwrap();
    let values = values.to_vec(ctx).unwrap();
    let picked: Vec<f64> = values
        .iter()
        .zip(clean)
        .filter(|(_, &c)| c)
        .map(|(&v, _)| f64::from(v))
        .collect();
    picked.iter().sum::<f64>() / picked.len() as f64
}

#[test]
fn flow_loss_gradient_through_the_standardisation_matches_central_differences() {
    let Some(ctx) = test_context() else { return };
    let (rows, dim) = (6, 5);
    let mut rng = SeededRng::new(8);
    // Uncentred, unequal spreads per channel.
    let x: Vec<f32> = (0..rows * dim)
        .map(|i| 3.0 + (i % dim) as f32 + (1.0 + (i % dim) as f32 * 0.5) * rng.uniform(-1.0, 1.0))
        .collect();
    let clean = [true, false, true, true, false, true];
    let mut loss = FlowEmbeddingLoss::new(&ctx, flow_config(dim, 2), None).unwrap();
    loss.backbone_weight = 1.0;
    // Move the flow away from its near-identity start.
    let params: Vec<&Param> = EmbeddingLoss::params(&loss);
    let mut adam = Adam::new(&ctx, &params, AdamConfig::adam(3e-2)).unwrap();
    drop(params);
    let t = Tensor::from_slice(&ctx, &[rows, dim], &x).unwrap();
    // The first step has no statistics yet (6 clean rows, fewer than MIN_FIRST_ROWS): no flow,
    // zero gradient.
    let first = step(&ctx, &mut loss, Some(&mut adam), &t, &[true; 6]);
    assert!(first.iter().all(|&g| g == 0.0));
    assert!(!loss.input.is_fitted());
    for _ in 0..30 {
        let noisy: Vec<f32> = x.iter().map(|&v| v + rng.uniform(-0.3, 0.3)).collect();
        let n = Tensor::from_slice(&ctx, &[rows, dim], &noisy).unwrap();
        step(&ctx, &mut loss, Some(&mut adam), &n, &[true; 6]);
    }
    assert!(loss.input.is_fitted());
    // Freeze the statistics at exact ones (a gradient step would move the running ones).
    loss.fit_input(&x).unwrap();
    let analytic = step(&ctx, &mut loss, None, &t, &clean);
    loss.fit_input(&x).unwrap();
    let h = 1e-2f32;
    for (i, &a) in analytic.iter().enumerate() {
        let mut plus = x.clone();
        plus[i] += h;
        let mut minus = x.clone();
        minus[i] -= h;
        let numeric = (clean_mean_nll(&ctx, &mut loss, &plus, dim, &clean)
            - clean_mean_nll(&ctx, &mut loss, &minus, dim, &clean))
            / (2.0 * f64::from(h));
        if !clean[i / dim] {
            assert_eq!(a, 0.0, "masked row {} got a gradient", i / dim);
            continue;
        }
        assert!(
            (f64::from(a) - numeric).abs() < 2e-2 * (1.0 + numeric.abs()),
            "x[{i}]: analytic {a}, central difference {numeric}"
        );
    }
}

#[test]
fn standardised_flow_ranks_far_rows_above_held_out_normals_where_a_raw_one_inverts() {
    let Some(ctx) = test_context() else { return };
    let dim = 16;
    let mut rng = SeededRng::new(3);
    // Normal embeddings around (3, ..., 3) (norm 12); "anomalies" at 0.6 of that (norm ~7):
    // far from the data, but closer to the origin.
    let cluster = |rng: &mut SeededRng, centre: f32, n: usize| -> Vec<f32> {
        (0..n * dim)
            .map(|_| centre + 0.4 * rng.uniform(-1.0, 1.0))
            .collect()
    };
    let train = cluster(&mut rng, 3.0, 32);
    let held_out = cluster(&mut rng, 3.0, 12);
    let anomalies = cluster(&mut rng, 1.8, 12);
    let mut loss = FlowEmbeddingLoss::new(&ctx, flow_config(dim, 4), None).unwrap();
    let params: Vec<&Param> = EmbeddingLoss::params(&loss);
    let mut adam = Adam::new(&ctx, &params, AdamConfig::adam(1e-3)).unwrap();
    drop(params);
    // 20 steps, as a flow gets in the 10-epoch study: too few to learn the offset itself.
    for s in 0..20 {
        let rows = &train[(s % 2) * 16 * dim..((s % 2) + 1) * 16 * dim];
        let t = Tensor::from_slice(&ctx, &[16, dim], rows).unwrap();
        step(&ctx, &mut loss, Some(&mut adam), &t, &[true; 16]);
    }
    loss.fit_input(&train).unwrap();
    let test: Vec<f32> = held_out.iter().chain(&anomalies).copied().collect();
    let labels: Vec<bool> = (0..24).map(|r| r >= 12).collect();
    let per_row = |loss: &mut FlowEmbeddingLoss, standardise: bool| -> Vec<f64> {
        let t = Tensor::from_slice(&ctx, &[24, dim], &test).unwrap();
        let mut nll = FlowNll::new(&ctx, None);
        let mut rec = Recorder::new(&ctx);
        let (z, logdet) = if standardise {
            loss.latents(&mut rec, &t, Mode::Eval).unwrap()
        } else {
            loss.flow.forward(&mut rec, &t, Mode::Eval).unwrap()
        };
        let (values, _) = nll.forward(&mut rec, &z, &logdet).unwrap();
        rec.submit().unwrap();
        values
            .to_vec(&ctx)
            .unwrap()
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    };
    let standardised = auc(&labels, &per_row(&mut loss, true)).unwrap();
    // The same flow on the raw rows (what OE-Flow did before the standardisation) ranks by
    // distance from the origin.
    let raw = auc(&labels, &per_row(&mut loss, false)).unwrap();
    eprintln!("AUC standardised {standardised:.3}, raw {raw:.3}");
    assert!(standardised > 0.99, "standardised AUC {standardised}");
    assert!(raw < 0.1, "raw AUC {raw}");
}

#[test]
fn a_flow_saved_without_input_statistics_is_refused_with_a_hint() {
    let Some(ctx) = test_context() else { return };
    let config = flow_config(4, 1);
    let path = std::env::temp_dir().join(format!(
        "hark_oe_flow_no_input_{}.safetensors",
        std::process::id()
    ));
    hark::models::flow::Flow::new(&ctx, config)
        .unwrap()
        .save(&path)
        .unwrap();
    let error = FlowEmbeddingLoss::load(&ctx, &path, config, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert!(
        error.contains("input_norm.shift") && error.contains("train it again"),
        "{error}"
    );
}
