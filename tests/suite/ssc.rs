//! The self-supervised classifier (paper 002): forward shapes for 10 s and 2 s clips, composite
//! backward passes (TgramNet, the TDNN trunk, the whole network with its split first layer and two
//! heads) against central differences, a few training steps lowering the loss on tiny synthetic
//! data, and the confidence score.

use hark::models::ssc::data::ClipInputs;
use hark::models::ssc::tgram::{tgram_frames, tgram_net};
use hark::models::ssc::train::{train, Labels, TrainSettings};
use hark::models::ssc::{
    confidence_score, LossWeights, SscInputs, SscNetwork, SscShape, TripletLabels,
};
use hark::nn::{Layer, Mode, SeededInit};
use hark::testing::{compare_kink_aware, test_context, SeededRng, Slopes};
use hark::{Context, Recorder, Tensor};

fn shape(samples: usize, channels: usize) -> SscShape {
    SscShape {
        samples,
        mel_bins: 128,
        tgram: true,
        extra_dims: 0,
        channels,
        pool_channels: channels + 1,
        embedding: 4,
        sections: 3,
        attributes: 5,
    }
}

#[test]
fn forward_shapes_for_10_s_and_2_s_clips() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(1);
    for (samples, frames) in [(160_000, 313), (32_000, 63)] {
        assert_eq!(tgram_frames(samples), frames);
        let mut s = shape(samples, 8);
        s.extra_dims = 3;
        let mut network = SscNetwork::new(&ctx, s, 0).unwrap();
        let n = 2;
        let wave = Tensor::from_slice(&ctx, &[n, 1, samples], &rng.vec(n * samples, -0.5, 0.5));
        let mel = Tensor::from_slice(
            &ctx,
            &[n, 128, frames],
            &rng.vec(n * 128 * frames, -1.0, 1.0),
        );
        let extra = Tensor::from_slice(&ctx, &[n, 3, frames], &rng.vec(n * 3 * frames, -1.0, 1.0));
        let (wave, mel, extra) = (wave.unwrap(), mel.unwrap(), extra.unwrap());
        let inputs = SscInputs {
            wave: &wave,
            mel: &mel,
            extra: Some(&extra),
        };
        let mut rec = Recorder::new(&ctx);
        let out = network.forward(&mut rec, &inputs, Mode::Eval).unwrap();
        let tgram = network.tgram.as_mut().unwrap();
        let features = tgram.forward(&mut rec, &wave, Mode::Eval).unwrap();
        rec.submit().unwrap();
        assert_eq!(features.shape(), [n, 128, frames]);
        assert_eq!(out.embedding.shape(), [n, 4]);
        assert_eq!(out.section_logits.shape(), [n, 3]);
        assert_eq!(out.attribute_logits.shape(), [n, 5]);
        assert!(out
            .embedding
            .to_vec(&ctx)
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
        // Without the extra features the network built for them refuses the batch.
        let missing = SscInputs {
            wave: &wave,
            mel: &mel,
            extra: None,
        };
        let mut rec = Recorder::new(&ctx);
        assert!(network.forward(&mut rec, &missing, Mode::Eval).is_err());
    }
    // Too short for the TDNN's 15 frames of context.
    assert!(SscNetwork::new(&ctx, shape(512 * 13, 8), 0).is_err());
}

/// At most `max` coordinates of `n`, spread evenly, first and last included.
fn coordinates(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|j| j * (n - 1) / (max - 1)).collect()
}

/// Finite differences on the GPU's f32 forward with the loss summed in f64. LeakyReLU and ReLU
/// are piecewise linear, the norms and the pooling smooth away from constant channels: at
/// h = 1e-3 the truncation error is negligible unless a step crosses a kink, where the central
/// difference averages two slopes; [`compare_kink_aware`] then accepts the one-sided slope on the
/// kink-free side (the LayerNorm / BatchNorm weights of these stacks move every normalised value
/// of a channel, so some of them cross a ReLU's kink within a step: up to 30 % off at h = 1e-2,
/// ~2 % at 1e-3, measured, while the same stack without ReLUs matches central differences,
/// tests/nn_layers.rs). f32 rounding of a few dozen outputs of size ~1 moves the loss by ~1e-6,
/// ~5e-4 after dividing by 2h; rel 2e-2 / abs 3e-3 separate that from a wiring error (off by the
/// size of a whole gradient term).
/// The steps: 1e-3, and 2.5e-4 where a kink sits within 1e-3 (rounding noise ~3e-3 at the
/// smaller step). The time-axis LayerNorm weights over 5 frames are noisier: a change of the
/// matmul's summation order (split K) moved tgram.1.weight[0]'s central differences from
/// -0.1534 / -0.1460 to -0.1583 / -0.1484 around an unchanged analytic -0.15416, which
/// `compare_kink_aware` accepts as bracketed by the two estimates.
const STEPS: [f32; 2] = [1e-3, 2.5e-4];
const REL: f32 = 2e-2;
const ABS: f32 = 3e-3;

fn numeric(
    values: &[f32],
    picked: &[usize],
    mut loss: impl FnMut(&[f32]) -> f64,
) -> Vec<Vec<Slopes>> {
    let at = loss(values);
    picked
        .iter()
        .map(|&i| {
            STEPS
                .iter()
                .map(|&h| {
                    let mut shifted = values.to_vec();
                    shifted[i] = values[i] + h;
                    let plus = loss(&shifted);
                    shifted[i] = values[i] - h;
                    let minus = loss(&shifted);
                    Slopes::new(minus, at, plus, f64::from(h))
                })
                .collect()
        })
        .collect()
}

fn dot(y: &[f32], w: &[f32]) -> f64 {
    y.iter()
        .zip(w)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Checks `layer`'s input and parameter gradients for `L = sum(w * y)` at `x`.
fn check_layer(ctx: &Context, layer: &mut dyn Layer, shape: &[usize], x: &[f32], per_param: usize) {
    let input = Tensor::from_slice(ctx, shape, x).unwrap();
    let mut rec = Recorder::new(ctx);
    let y = layer.forward(&mut rec, &input, Mode::Train).unwrap();
    let w = SeededRng::new(99).vec(y.numel(), -1.0, 1.0);
    let grad_out = Tensor::from_slice(ctx, y.shape(), &w).unwrap();
    let grad_x = layer.backward(&mut rec, &grad_out).unwrap();
    rec.submit().unwrap();
    let analytic_x = grad_x.to_vec(ctx).unwrap();
    let analytic: Vec<(String, Vec<f32>)> = layer
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.grad.to_vec(ctx).unwrap()))
        .collect();
    let scratch = Tensor::from_slice(ctx, shape, x).unwrap();
    let forward = |layer: &mut dyn Layer| -> f64 {
        let mut rec = Recorder::new(ctx);
        let y = layer.forward(&mut rec, &scratch, Mode::Train).unwrap();
        rec.submit().unwrap();
        dot(&y.to_vec(ctx).unwrap(), &w)
    };
    for (p, (name, grad)) in analytic.iter().enumerate() {
        let values = layer.params()[p].value.to_vec(ctx).unwrap();
        let picked = coordinates(values.len(), per_param);
        let num = numeric(&values, &picked, |v| {
            layer.params()[p].value.write(ctx, v).unwrap();
            forward(layer)
        });
        layer.params()[p].value.write(ctx, &values).unwrap();
        let got: Vec<f32> = picked.iter().map(|&i| grad[i]).collect();
        if let Err(report) = compare_kink_aware(&got, &num, REL, ABS) {
            panic!("{name} (coordinates {picked:?}): {report}");
        }
    }
    let picked = coordinates(x.len(), per_param);
    let num = numeric(x, &picked, |v| {
        scratch.write(ctx, v).unwrap();
        forward(layer)
    });
    let got: Vec<f32> = picked.iter().map(|&i| analytic_x[i]).collect();
    if let Err(report) = compare_kink_aware(&got, &num, REL, ABS) {
        panic!("input (coordinates {picked:?}): {report}");
    }
}

#[test]
fn tgram_net_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    // 4 hops: 5 frames for the time-axis LayerNorms.
    let samples = 512 * 4;
    let mut net = tgram_net(
        &ctx,
        "tgram",
        tgram_frames(samples),
        &mut SeededInit::new(3),
    )
    .unwrap();
    let x = SeededRng::new(4).vec(samples, -1.0, 1.0);
    check_layer(&ctx, &mut net, &[1, 1, samples], &x, 12);
}

#[test]
fn tdnn_trunk_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let network = SscNetwork::new(&ctx, shape(512 * 24, 6), 5).unwrap();
    let mut trunk = network.trunk;
    // After the first layer: 6 channels; 40 frames leave 30 after the trunk's own context, so
    // no pooled channel is all zeros after its ReLU (its std would sit at sqrt(eps), where the
    // pooling's curvature is far too high for a step of 1e-2).
    let dims = [3, 6, 40];
    let x = SeededRng::new(6).vec(720, -1.0, 1.0);
    check_layer(&ctx, &mut trunk, &dims, &x, 12);
}

#[test]
fn network_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(7);
    // 50 frames, 36 after the TDNN's context: no pooled channel is all zeros (see the trunk test).
    let samples = 512 * 49;
    let frames = tgram_frames(samples);
    let mut s = shape(samples, 5);
    s.extra_dims = 2;
    let mut network = SscNetwork::new(&ctx, s, 8).unwrap();
    let n = 3;
    let wave =
        Tensor::from_slice(&ctx, &[n, 1, samples], &rng.vec(n * samples, -1.0, 1.0)).unwrap();
    let mel = Tensor::from_slice(
        &ctx,
        &[n, 128, frames],
        &rng.vec(n * 128 * frames, -1.0, 1.0),
    )
    .unwrap();
    let extra =
        Tensor::from_slice(&ctx, &[n, 2, frames], &rng.vec(n * 2 * frames, -1.0, 1.0)).unwrap();
    let inputs = SscInputs {
        wave: &wave,
        mel: &mel,
        extra: Some(&extra),
    };
    // L = <gs, section logits> + <ga, attribute logits> + <ge, embedding>.
    let gs = rng.vec(n * 3, -1.0, 1.0);
    let ga = rng.vec(n * 5, -1.0, 1.0);
    let ge = rng.vec(n * 4, -1.0, 1.0);
    let t = |v: &[f32], cols: usize| Tensor::from_slice(&ctx, &[n, cols], v).unwrap();
    let (tgs, tga, tge) = (t(&gs, 3), t(&ga, 5), t(&ge, 4));
    let mut rec = Recorder::new(&ctx);
    network.forward(&mut rec, &inputs, Mode::Train).unwrap();
    network
        .backward(&mut rec, &inputs, &tgs, &tga, Some(&tge))
        .unwrap();
    rec.submit().unwrap();
    let wanted = [
        "tgram.0.weight",
        "tgram.7.weight",
        "tdnn.0.mel.weight",
        "tdnn.0.tgram.weight",
        "tdnn.0.extra.weight",
        "embedding.weight",
        "section_head.weight",
        "attribute_head.bias",
    ];
    for name in wanted {
        let p = network
            .params()
            .iter()
            .position(|p| p.name == name)
            .unwrap();
        let analytic = network.params()[p].grad.to_vec(&ctx).unwrap();
        let values = network.params()[p].value.to_vec(&ctx).unwrap();
        let picked = coordinates(values.len(), 6);
        let num = numeric(&values, &picked, |v| {
            network.params()[p].value.write(&ctx, v).unwrap();
            let mut rec = Recorder::new(&ctx);
            let out = network.forward(&mut rec, &inputs, Mode::Train).unwrap();
            rec.submit().unwrap();
            dot(&out.section_logits.to_vec(&ctx).unwrap(), &gs)
                + dot(&out.attribute_logits.to_vec(&ctx).unwrap(), &ga)
                + dot(&out.embedding.to_vec(&ctx).unwrap(), &ge)
        });
        network.params()[p].value.write(&ctx, &values).unwrap();
        let got: Vec<f32> = picked.iter().map(|&i| analytic[i]).collect();
        if let Err(report) = compare_kink_aware(&got, &num, REL, ABS) {
            panic!("{name} (coordinates {picked:?}): {report}");
        }
    }
}

#[test]
fn training_steps_lower_the_loss_on_tiny_synthetic_data() {
    let Some(ctx) = test_context() else { return };
    let samples = 512 * 19;
    let frames = tgram_frames(samples);
    let mut s = shape(samples, 8);
    s.sections = 2;
    s.attributes = 4;
    let mut rng = SeededRng::new(9);
    // 8 clips: the section sets the tone's frequency and the log-mel band that is raised, the
    // attribute its loudness; noise on top.
    let count = 8;
    let mut data = ClipInputs {
        count,
        ..Default::default()
    };
    let mut labels = Labels {
        sections: Vec::new(),
        attributes: Vec::new(),
    };
    for i in 0..count {
        let (section, attribute) = (i % 2, i % 4);
        let freq = if section == 0 { 0.05 } else { 0.21 };
        let gain = 0.2 + 0.1 * attribute as f32;
        data.waves.extend(
            (0..samples).map(|t| gain * (freq * t as f32).sin() + rng.uniform(-0.05, 0.05)),
        );
        for b in 0..128 {
            let raised = (b / 32) % 2 == section;
            let level = if raised { 1.0 + gain } else { -1.0 };
            data.mels
                .extend((0..frames).map(|_| level + rng.uniform(-0.3, 0.3)));
        }
        labels.sections.push(section);
        labels.attributes.push(attribute);
    }
    let mut network = SscNetwork::new(&ctx, s, 10).unwrap();
    let settings = TrainSettings {
        epochs: 8,
        batch_size: 8,
        lr: 1e-2,
        seed: 11,
        weights: LossWeights::default(),
        triplet_labels: TripletLabels::Section,
    };
    let mut losses = Vec::new();
    train(&ctx, &mut network, &data, &labels, &settings, |r| {
        losses.push(r.loss)
    })
    .unwrap();
    assert_eq!(losses.len(), 8);
    assert!(losses.iter().all(|l| l.is_finite()));
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(
        last < 0.75 * first,
        "the loss should fall on separable data: {losses:?}"
    );
}

#[test]
fn confidence_score_is_the_log_odds_of_the_section() {
    let logits = [1.0f32, -0.5, 2.0];
    let z: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
    let sum: f64 = z.iter().map(|v| v.exp()).sum();
    for (c, zc) in z.iter().enumerate() {
        let p = zc.exp() / sum;
        let expected = ((1.0 - p) / p).ln();
        assert!((confidence_score(&logits, c) - expected).abs() < 1e-12);
    }
    // Large logits stay finite in log space.
    assert!(confidence_score(&[200.0, -200.0], 0).is_finite());
    // One class: p = 1 for every clip, so the score is constant.
    assert_eq!(confidence_score(&[3.0], 0), 0.0);
}
