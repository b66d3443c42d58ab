//! The CPU reference of the whole Conv-TasNet forward (`hark::models::conv_tasnet::cpu_reference`): its SGEMM
//! and channel-loop pieces against the plain CPU twins, the whole forward against torchaudio's
//! committed output, and the GPU model of the default configuration against it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use hark::cpu::conv1d::{conv1d, conv_transpose1d, Conv1dDims, ConvTranspose1dDims};
use hark::cpu::elementwise::prelu;
use hark::cpu::norm::group_norm;
use hark::kernels::conv1d::Conv1dParams;
use hark::models::conv_tasnet::cpu_reference::{
    conv_tasnet_forward, decoder, depthwise_conv1d, encoder, global_layer_norm,
};
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig, MaskActivation};
use hark::nn::{Layer, Mode};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Recorder, Tensor};

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

#[test]
fn encoder_and_decoder_match_the_conv_twins() {
    let mut rng = SeededRng::new(3);
    // L = 16, stride 8 (the model's), and an odd kernel L = 5, stride 2.
    for (kernel, feats, len) in [(16, 12, 8 * 37), (5, 7, 2 * 41 + 1)] {
        let stride = kernel / 2;
        let p = Conv1dParams {
            stride,
            padding: stride,
            ..Conv1dParams::default()
        };
        let x = rng.vec(len, -1.0, 1.0);
        let w = rng.vec(feats * kernel, -1.0, 1.0);
        let dims = Conv1dDims {
            batch: 1,
            c_in: 1,
            l_in: len,
            c_out: feats,
            kernel,
        };
        let frames = dims.l_out(&p);
        let expected = conv1d(&x, &w, None, &dims, &p);
        let got = encoder(&x, &w, feats, kernel, stride, frames);
        // f32 SGEMM vs f64 sums of `kernel` products of values in [-1, 1].
        assert_close(&got, &expected, 1e-5, 1e-5);

        let y = rng.vec(feats * frames, -1.0, 1.0);
        let tdims = ConvTranspose1dDims {
            batch: 1,
            c_in: feats,
            l_in: frames,
            c_out: 1,
            kernel,
            output_padding: 0,
        };
        let expected = conv_transpose1d(&y, &w, None, &tdims, &p);
        let got = decoder(&y, &w, feats, kernel, stride, frames);
        // Sums of about 2 * feats products of values in [-1, 1].
        assert_close(&got, &expected, 1e-5, 1e-5);
    }
}

#[test]
fn depthwise_conv1d_matches_the_conv_twin_at_every_dilation() {
    let mut rng = SeededRng::new(4);
    let (channels, frames) = (5, 37);
    // Dilations past the length (only the centre tap lands) included; kernels 3 and 5.
    for (kernel, dilation) in [(3, 1), (3, 2), (3, 16), (3, 64), (5, 3), (1, 1)] {
        let p = Conv1dParams {
            stride: 1,
            padding: dilation * (kernel - 1) / 2,
            dilation,
            groups: channels,
        };
        let x = rng.vec(channels * frames, -1.0, 1.0);
        let w = rng.vec(channels * kernel, -1.0, 1.0);
        let b = rng.vec(channels, -1.0, 1.0);
        let dims = Conv1dDims {
            batch: 1,
            c_in: channels,
            l_in: frames,
            c_out: channels,
            kernel,
        };
        let expected = conv1d(&x, &w, Some(&b), &dims, &p);
        let mut got = vec![0.0; channels * frames];
        depthwise_conv1d(&x, &w, &b, channels, frames, kernel, dilation, &mut got);
        assert_close(&got, &expected, 1e-6, 1e-6);
    }
}

#[test]
fn global_layer_norm_matches_prelu_then_the_group_norm_twin() {
    let mut rng = SeededRng::new(5);
    let (channels, frames) = (9, 53);
    // An offset mean, as the features entering a gLN have.
    let x = rng.vec(channels * frames, -1.0, 3.0);
    let weight = rng.vec(channels, 0.5, 1.5);
    let bias = rng.vec(channels, -0.5, 0.5);
    let slope = 0.3;
    let activated = prelu(&x, &[1, channels, frames], &[slope]);
    let f64s = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let (expected, _, _) = group_norm(
        &f64s(&activated),
        (1, channels, frames),
        1,
        1e-8,
        &f64s(&weight),
        &f64s(&bias),
    );
    let expected: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
    let mut got = x.clone();
    global_layer_norm(&mut got, channels, frames, Some(slope), &weight, &bias);
    // f32 rounding of the normalised values (of order 1) and of the fused scale and shift.
    assert_close(&got, &expected, 1e-5, 1e-5);
}

#[test]
fn matches_torchaudio_small_sigmoid_fixture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conv_tasnet/small_sigmoid.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str| {
        let view = file.tensor(name).unwrap();
        (
            view.shape().to_vec(),
            bytemuck::pod_collect_to_vec::<u8, f32>(view.data()),
        )
    };
    // The fixture's configuration (make_torchaudio_fixture.py).
    let config = ConvTasNetConfig {
        sources: 2,
        enc_kernel: 16,
        enc_feats: 32,
        msk_kernel: 3,
        msk_feats: 16,
        msk_hidden: 32,
        msk_layers: 3,
        msk_stacks: 2,
        mask: MaskActivation::Sigmoid,
    };
    let weights: HashMap<String, Vec<f32>> = file
        .names()
        .into_iter()
        .filter(|n| !n.starts_with("grad.") && !["input", "output", "target"].contains(n))
        .map(|n| (n.to_string(), read(n).1))
        .collect();
    assert_eq!(weights.len(), config.state_dict_len());
    let (shape, input) = read("input");
    let (out_shape, expected) = read("output");
    let (batch, len) = (shape[0], shape[2]);
    let got = conv_tasnet_forward(&config, &weights, &input, batch, len);
    assert_eq!(got.len(), out_shape.iter().product::<usize>());
    // The same bound as the GPU model's check against this fixture (tests/conv_tasnet.rs):
    // f32 sums in another order through 6 blocks with two gLNs each.
    assert_close(&got, &expected, 1e-3, 1e-4);
}

#[test]
fn gpu_default_model_matches_the_cpu_reference() {
    let Some(ctx) = test_context() else { return };
    let config = ConvTasNetConfig::default();
    let mut model = ConvTasNet::new(&ctx, config, 7).unwrap();
    let weights: HashMap<String, Vec<f32>> = model
        .state_dict()
        .into_iter()
        .map(|(name, t)| (name, t.to_vec(&ctx).unwrap()))
        .collect();
    // Half a second at 16 kHz (1001 encoder frames), a noisy tone of audio-like amplitude. The
    // issue asks for 1 s, but on the 2-core lavapipe machine the GPU side of 1 s took 74 s
    // (CPU reference 0.9 s); 0.5 s keeps every dilation (up to 128) well inside the length.
    let len = 8_000;
    let mut rng = SeededRng::new(11);
    let input: Vec<f32> = (0..len)
        .map(|i| 0.3 * (i as f32 * 0.07).sin() + rng.uniform(-0.1, 0.1))
        .collect();
    let x = Tensor::from_slice(&ctx, &[1, 1, len], &input).unwrap();

    let start = Instant::now();
    let mut rec = Recorder::new(&ctx);
    let y = model.forward(&mut rec, &x, Mode::Eval).unwrap();
    rec.submit().unwrap();
    let gpu = y.to_vec(&ctx).unwrap();
    let gpu_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let cpu = conv_tasnet_forward(&config, &weights, &input, 1, len);
    let cpu_s = start.elapsed().as_secs_f64();
    eprintln!("default Conv-TasNet on {len} samples: GPU forward {gpu_s:.2} s, CPU reference {cpu_s:.2} s");

    assert_eq!(gpu.len(), len);
    let scale = max_abs(&cpu);
    assert!(scale > 0.0 && gpu.iter().all(|v| v.is_finite()));
    // Both sides are f32 with sums in other orders (tiled GPU matmuls vs SGEMM panels, gLN
    // statistics summed in f32 trees on the GPU vs f64 here) through 24 blocks of two 1x1
    // convs of depth 128/512 and two gLNs each; the gLNs renormalise after every conv, so the
    // error stays near the f32 rounding of sums of ~512 products (~1e-6 relative) times the
    // depth rather than growing layer on layer. 1e-4 of the output's largest value is about
    // 60x the largest difference measured on lavapipe (1.7e-6 of a scale of 1.1 at 1 s).
    let tol = 1e-4 * scale;
    let max_diff = gpu
        .iter()
        .zip(&cpu)
        .fold(0.0f32, |m, (g, c)| m.max((g - c).abs()));
    eprintln!("largest |gpu - cpu| {max_diff:e} of output scale {scale:e}");
    assert_close(&gpu, &cpu, 1e-3, tol);
}
