//! The MobileNetV2 baseline: network shapes and torchvision names, the global average pool, an
//! inverted residual block's gradients by finite differences through the `Layer` trait, a few
//! training steps on separable synthetic patches, the clip score against an f64 softmax, and the
//! system through the scoring contract (save, load, single-section refusal).

use hark::audio::dataset::{read_dataset, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::aggregate::Aggregation;
use hark::detect::contract::{run_system, AnomalyScorer};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::mobilenet::{
    clip_score, clip_scores, inverted_residual, log_odds_against, make_divisible, patch_logits,
    train, MobileNetConfig, MobileNetSystem, MobileNetV2, MobileNetV2Config, Patches,
};
use hark::nn::{GlobalAvgPool2d, Layer, Mode, Param, SeededInit};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn upload(ctx: &Context, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(ctx, shape, data).unwrap()
}

#[test]
fn make_divisible_matches_the_references_at_width_half() {
    // Keras / torchvision channel counts of MobileNetV2 x0.5: 32 -> 16, then 16, 24, 32, 64,
    // 96, 160, 320 -> 8, 16, 16, 32, 48, 80, 160.
    let got: Vec<usize> = [32, 16, 24, 32, 64, 96, 160, 320]
        .iter()
        .map(|&c| make_divisible(c as f64 * 0.5))
        .collect();
    assert_eq!(got, vec![16, 8, 16, 16, 32, 48, 80, 160]);
    // The 10 % rule: 0.9 * 20 = 18 > 16, so 20 rounds up to 24.
    assert_eq!(make_divisible(20.0), 24);
    assert_eq!(make_divisible(3.0), 8);
}

#[test]
fn network_has_torchvision_names_and_shapes_and_classifies_patches() {
    let Some(ctx) = test_context() else { return };
    let mut model = MobileNetV2::new(&ctx, MobileNetV2Config::dcase2022(3), 0).unwrap();
    let shapes: std::collections::HashMap<String, Vec<usize>> = model
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    // torchvision mobilenet_v2(width_mult=0.5, num_classes=3) with a 1-channel stem.
    for (name, shape) in [
        ("features.0.0.weight", vec![16, 1, 3, 3]),
        ("features.0.1.running_var", vec![16]),
        ("features.1.conv.0.0.weight", vec![16, 1, 3, 3]),
        ("features.1.conv.1.weight", vec![8, 16, 1, 1]),
        ("features.1.conv.2.weight", vec![8]),
        ("features.2.conv.0.0.weight", vec![48, 8, 1, 1]),
        ("features.2.conv.1.0.weight", vec![48, 1, 3, 3]),
        ("features.2.conv.2.weight", vec![16, 48, 1, 1]),
        ("features.2.conv.3.running_mean", vec![16]),
        ("features.17.conv.2.weight", vec![160, 480, 1, 1]),
        ("features.18.0.weight", vec![1280, 160, 1, 1]),
        ("features.18.1.bias", vec![1280]),
        ("classifier.1.weight", vec![3, 1280]),
        ("classifier.1.bias", vec![3]),
    ] {
        assert_eq!(shapes.get(name), Some(&shape), "{name}");
    }
    assert!(!shapes.contains_key("features.19.0.weight"));
    // 52 convs (stem, 17 blocks, last) with BatchNorms, no conv biases.
    let convs = shapes
        .keys()
        .filter(|n| n.ends_with(".weight") && shapes[*n].len() == 4)
        .count();
    assert_eq!(convs, 52);
    let mut rng = SeededRng::new(5);
    let x = upload(&ctx, &[2, 1, 64, 128], &rng.vec(2 * 64 * 128, -60.0, 0.0));
    let mut rec = Recorder::new(&ctx);
    let y = model.forward(&mut rec, &x, Mode::Eval).unwrap();
    rec.submit().unwrap();
    assert_eq!(y.shape(), &[2, 3]);
    assert!(y.to_vec(&ctx).unwrap().iter().all(|v| v.is_finite()));
    // Wrong channel count and a single class are refused.
    let bad = Tensor::zeros(&ctx, &[2, 3, 64, 128], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    assert!(model.forward(&mut rec, &bad, Mode::Eval).is_err());
    assert!(MobileNetV2::new(&ctx, MobileNetV2Config::dcase2022(1), 0).is_err());
}

#[test]
fn global_avg_pool_forward_and_backward_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(6);
    for (n, c, h, w) in [(1, 1, 1, 1), (2, 3, 5, 7), (3, 17, 2, 4)] {
        let x = rng.vec(n * c * h * w, -2.0, 2.0);
        let g = rng.vec(n * c, -1.0, 1.0);
        let mut pool = GlobalAvgPool2d::new(&ctx);
        let mut rec = Recorder::new(&ctx);
        let y = pool
            .forward(&mut rec, &upload(&ctx, &[n, c, h, w], &x), Mode::Train)
            .unwrap();
        let gx = pool.backward(&mut rec, &upload(&ctx, &[n, c], &g)).unwrap();
        rec.submit().unwrap();
        let plane = h * w;
        let want_y: Vec<f32> = x
            .chunks(plane)
            .map(|p| (p.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32)
            .collect();
        let want_gx: Vec<f32> = g
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v / plane as f32, plane))
            .collect();
        // A mean of at most 35 terms, and one division.
        assert_close(&y.to_vec(&ctx).unwrap(), &want_y, 1e-5, 1e-6);
        assert_close(&gx.to_vec(&ctx).unwrap(), &want_gx, 1e-6, 1e-7);
    }
}

/// `sum(g * layer(x))` for a training forward (BatchNorm on batch statistics), in f64.
fn objective(ctx: &Context, layer: &mut dyn Layer, shape: &[usize], x: &[f32], g: &[f32]) -> f64 {
    let mut rec = Recorder::new(ctx);
    let y = layer
        .forward(&mut rec, &upload(ctx, shape, x), Mode::Train)
        .unwrap();
    rec.submit().unwrap();
    let y = y.to_vec(ctx).unwrap();
    y.iter()
        .zip(g)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| (f64::from(a) - b).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    (diff / norm.max(1e-30)).sqrt()
}

fn param_values(ctx: &Context, p: &Param) -> Vec<f32> {
    p.value.to_vec(ctx).unwrap()
}

/// Central differences of the block's objective with respect to its input and to the first
/// parameter (the expand or depthwise conv weight), against its backward.
fn check_block(inputs: usize, outputs: usize, stride: usize, expansion: usize, seed: u64) {
    let Some(ctx) = test_context() else { return };
    let config = MobileNetV2Config {
        // The running statistics do not enter a training forward; any momentum.
        ..MobileNetV2Config::dcase2022(2)
    };
    let mut init = SeededInit::new(seed);
    let mut block = inverted_residual(
        &ctx, 1, inputs, outputs, stride, expansion, &config, &mut init,
    )
    .unwrap();
    let shape = [2, inputs, 5, 6];
    let mut rng = SeededRng::new(seed);
    let x = rng.vec(shape.iter().product(), -2.0, 2.0);
    let mut rec = Recorder::new(&ctx);
    let y = block
        .forward(&mut rec, &upload(&ctx, &shape, &x), Mode::Train)
        .unwrap();
    rec.submit().unwrap();
    let out_shape = y.shape().to_vec();
    let g = rng.vec(y.numel(), -1.0, 1.0);
    let mut rec = Recorder::new(&ctx);
    let grad_x = block
        .backward(&mut rec, &upload(&ctx, &out_shape, &g))
        .unwrap();
    rec.submit().unwrap();
    let grad_x = grad_x.to_vec(&ctx).unwrap();
    let first = &block.params()[0];
    let grad_w = first.grad.to_vec(&ctx).unwrap();
    let w0 = param_values(&ctx, first);
    let w_shape = first.value.shape().to_vec();
    let w_tensor = first.value.clone();

    // h = 2e-3: the f32 forward's rounding (~1e-6 of an objective of ~100 terms) is ~1e-3 of
    // a difference, while BatchNorm's curvature (batch statistics of 18 to 60 values) keeps the
    // O(h^2) truncation below that; a ReLU6 kink straddled by a step is rare and moves a few
    // entries only, hence the norm-wise tolerance.
    let h = 2e-3f32;
    let mut numeric_x = Vec::with_capacity(x.len());
    let mut probe = x.clone();
    for i in 0..x.len() {
        probe[i] = x[i] + h;
        let up = objective(&ctx, block.as_mut(), &shape, &probe, &g);
        probe[i] = x[i] - h;
        let down = objective(&ctx, block.as_mut(), &shape, &probe, &g);
        probe[i] = x[i];
        numeric_x.push((up - down) / (2.0 * f64::from(h)));
    }
    let err = relative_error(&grad_x, &numeric_x);
    assert!(err < 2e-2, "input gradient: relative error {err}");

    let mut numeric_w = Vec::with_capacity(w0.len());
    let mut w = w0.clone();
    for i in 0..w0.len() {
        w[i] = w0[i] + h;
        w_tensor.write(&ctx, &w).unwrap();
        let up = objective(&ctx, block.as_mut(), &shape, &x, &g);
        w[i] = w0[i] - h;
        w_tensor.write(&ctx, &w).unwrap();
        let down = objective(&ctx, block.as_mut(), &shape, &x, &g);
        w[i] = w0[i];
        numeric_w.push((up - down) / (2.0 * f64::from(h)));
    }
    w_tensor.write(&ctx, &w0).unwrap();
    let err = relative_error(&grad_w, &numeric_w);
    assert!(
        err < 2e-2,
        "weight {w_shape:?} gradient: relative error {err}"
    );
}

#[test]
fn inverted_residual_with_shortcut_matches_finite_differences() {
    // Stride 1, 4 -> 4 channels, expansion 2: expand, depthwise, project, plus the identity.
    check_block(4, 4, 1, 2, 71);
}

#[test]
fn strided_inverted_residual_without_expansion_matches_finite_differences() {
    // Stride 2, 3 -> 5 channels, expansion 1 (the first block's form): no expand, no shortcut.
    check_block(3, 5, 2, 1, 72);
}

/// `clips` spectrograms of `frames x mels`: class 0 a falling ramp over mels, class 1 a rising
/// one, both with noise.
fn separable_clips(rng: &mut SeededRng, clips: usize, frames: usize, mels: usize) -> Vec<Vec<f32>> {
    (0..clips)
        .map(|i| {
            let rising = i % 2 == 1;
            (0..frames * mels)
                .map(|k| {
                    let m = (k % mels) as f32 / mels as f32;
                    let ramp = if rising { m } else { 1.0 - m };
                    -40.0 + 30.0 * ramp + rng.uniform(-3.0, 3.0)
                })
                .collect()
        })
        .collect()
}

#[test]
fn training_lowers_the_loss_and_scores_follow_the_formula() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(8);
    let (frames, mels) = (40, 32);
    let clips = separable_clips(&mut rng, 8, frames, mels);
    let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
    let patches = Patches::new(clips, mels, 32, 8).unwrap();
    assert_eq!(patches.index.len(), 16);
    // 6 epochs of 2 steps (each step is ~400 dispatches, slow on a software adapter); fewer
    // steps or a larger rate leave the batch-8 loss too noisy to fall reliably.
    let config = MobileNetConfig {
        epochs: 6,
        batch_size: 8,
        lr: 1e-3,
        bn_momentum: 0.1,
        ..MobileNetConfig::default()
    };
    let net = MobileNetV2Config {
        bn_momentum: 0.1,
        ..MobileNetV2Config::dcase2022(2)
    };
    let mut model = MobileNetV2::new(&ctx, net, 3).unwrap();
    let mut epoch_losses = Vec::new();
    train(&ctx, &mut model, &patches, &labels, &config, |r| {
        if r.batch == r.batches {
            epoch_losses.push(r.loss.unwrap());
        }
    })
    .unwrap();
    assert_eq!(epoch_losses.len(), 6);
    let (first, last) = (epoch_losses[0], epoch_losses[5]);
    assert!(last < 0.7 * first, "loss did not fall: {epoch_losses:?}");

    // The scores from the GPU logits against an f64 softmax: log(1 - p) - log(p), averaged.
    let logits = patch_logits(&ctx, &mut model, &patches, 5).unwrap();
    assert_eq!(logits.len(), 16 * 2);
    let scores = clip_scores(&logits, &patches, 2, &labels, Aggregation::Mean).unwrap();
    for (clip, &score) in scores.iter().enumerate() {
        let rows: Vec<&[f32]> = logits.chunks(2).skip(2 * clip).take(2).collect();
        let naive: f64 = rows
            .iter()
            .map(|row| {
                let e: Vec<f64> = row.iter().map(|&z| f64::from(z).exp()).collect();
                let p = e[labels[clip]] / e.iter().sum::<f64>();
                (1.0 - p).ln() - p.ln()
            })
            .sum::<f64>()
            / 2.0;
        assert!(
            (score - naive).abs() <= 1e-9 * naive.abs().max(1.0),
            "{score} vs {naive}"
        );
    }
}

#[test]
fn log_odds_are_stable_where_p_rounds_to_0_or_1() {
    let mut rng = SeededRng::new(9);
    for _ in 0..50 {
        let z: Vec<f32> = rng.vec(4, -5.0, 5.0);
        for class in 0..4 {
            let e: Vec<f64> = z.iter().map(|&v| f64::from(v).exp()).collect();
            let p = e[class] / e.iter().sum::<f64>();
            let naive = (1.0 - p).ln() - p.ln();
            let got = log_odds_against(&z, class);
            assert!((got - naive).abs() < 1e-12 * naive.abs().max(1.0));
        }
    }
    // p = 1 - 1e-87 and p = e^-200: the naive forms give inf; the logit form stays exact.
    assert!((log_odds_against(&[200.0, 0.0], 0) - (-200.0)).abs() < 1e-9);
    assert!((log_odds_against(&[0.0, 200.0], 0) - 200.0).abs() < 1e-9);
    assert!(clip_score(&[1.0, 2.0, 3.0], 2, 0).is_err());
    assert!(clip_score(&[1.0, 2.0], 2, 2).is_err());
}

fn small_features() -> FeatureSpec {
    FeatureSpec {
        fft_path: FftPath::Global,
        ..FeatureSpec::dcase(FeatureKind::Logmel)
    }
}

#[test]
fn system_trains_saves_loads_and_scores_through_the_contract() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&SynthConfig {
        out: data.clone(),
        machines: vec![MachineType::Fan],
        sections: 2,
        train_clips: 2,
        test_clips: 4,
        clip_seconds: 1.0,
        stems: false,
        ..SynthConfig::default()
    })
    .unwrap();
    let dataset = read_dataset(&data).unwrap();
    // 1 s clips have 32 frames: 16-frame patches every 8 frames (3 per clip).
    let config = MobileNetConfig {
        epochs: 1,
        batch_size: 4,
        frames: 16,
        hop_frames: 8,
        bn_momentum: 0.1,
        features: small_features(),
        // Recorded in the checkpoint; scoring below reads it back.
        aggregation: Aggregation::Max,
        ..MobileNetConfig::default()
    };
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let mut system = MobileNetSystem::new(&ctx, config).unwrap();
    system.save_to = Some(models.clone());
    let out = dir.path().join("out");
    let reports = run_system(&mut system, &dataset, &out, 0.9).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(models.join("mobilenet_fan.safetensors").exists());
    let machine = &dataset.machines[0];
    let test: Vec<_> = machine.split(Split::Test).collect();
    let trained = system.score(&test).unwrap();
    assert!(trained.iter().all(|s| s.is_finite()));

    // The loader is told mean but follows the checkpoint's max.
    let follow = MobileNetConfig {
        aggregation: Aggregation::Mean,
        aggregation_from_checkpoint: true,
        ..config
    };
    let mut loaded = MobileNetSystem::new(&ctx, follow).unwrap();
    loaded.load_from = Some(models);
    loaded.train(machine, &[]).unwrap();
    assert_eq!(loaded.classifier().unwrap().sections, vec![0, 1]);
    assert_eq!(loaded.classifier().unwrap().aggregation, Aggregation::Max);
    let again = loaded.score(&test).unwrap();
    let as_f32 = |v: &[f64]| v.iter().map(|&s| s as f32).collect::<Vec<_>>();
    // Same weights and statistics, same kernels: equal up to the f32 logits' rounding.
    assert_close(&as_f32(&again), &as_f32(&trained), 1e-5, 1e-5);
}

#[test]
fn patch_scores_combine_by_mean_max_or_top_k() {
    // Two clips of 6 frames x 2 mels, 2-frame patches every 2 frames: 3 patches each.
    let clips = vec![vec![0.0f32; 12], vec![0.0f32; 12]];
    let patches = Patches::new(clips, 2, 2, 2).unwrap();
    assert_eq!(patches.index.len(), 6);
    // Two classes; clip 0 is class 0, clip 1 class 1; one patch of each clip stands out.
    let logits = [
        2.0f32, 0.0, 2.0, 0.0, -3.0, 1.0, // clip 0
        0.0, 1.0, 4.0, -1.0, 0.0, 1.0, // clip 1
    ];
    let classes = [0usize, 1];
    let per_patch = |clip: usize| -> Vec<f64> {
        (0..3)
            .map(|p| {
                let row = &logits[(clip * 3 + p) * 2..(clip * 3 + p + 1) * 2];
                log_odds_against(row, classes[clip])
            })
            .collect()
    };
    for how in [Aggregation::Mean, Aggregation::Max, Aggregation::TopK(2)] {
        let scores = clip_scores(&logits, &patches, 2, &classes, how).unwrap();
        for (clip, score) in scores.iter().enumerate() {
            let mut p = per_patch(clip);
            p.sort_by(|a, b| b.total_cmp(a));
            let expected = match how {
                Aggregation::Max => p[0],
                Aggregation::TopK(_) => (p[0] + p[1]) / 2.0,
                _ => p.iter().sum::<f64>() / 3.0,
            };
            assert!(
                (score - expected).abs() < 1e-9,
                "{how:?} clip {clip}: {score} vs {expected}"
            );
        }
    }
    // The outlying patch lifts max above the mean.
    let mean = clip_scores(&logits, &patches, 2, &classes, Aggregation::Mean).unwrap();
    let max = clip_scores(&logits, &patches, 2, &classes, Aggregation::Max).unwrap();
    assert!(max[0] > mean[0] + 1.0 && max[1] > mean[1] + 1.0);
}

#[test]
fn a_single_section_machine_type_is_refused_by_name() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    generate(&SynthConfig {
        out: dir.path().to_path_buf(),
        machines: vec![MachineType::Valve],
        sections: 1,
        train_clips: 2,
        test_clips: 4,
        clip_seconds: 1.0,
        stems: false,
        ..SynthConfig::default()
    })
    .unwrap();
    let dataset = read_dataset(dir.path()).unwrap();
    let machine = &dataset.machines[0];
    let train_clips: Vec<_> = machine.split(Split::Train).collect();
    let config = MobileNetConfig {
        frames: 16,
        features: small_features(),
        ..MobileNetConfig::default()
    };
    let mut system = MobileNetSystem::new(&ctx, config).unwrap();
    let err = system.train(machine, &train_clips).unwrap_err().to_string();
    assert!(err.contains("at least 2") && err.contains("valve"), "{err}");
}
