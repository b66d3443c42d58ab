//! Conv-TasNet against torchaudio: the committed fixtures (made by
//! tests/fixtures/conv_tasnet/make_torchaudio_fixture.py) hold torchaudio's weights, an input,
//! its output and its L1-loss gradients; hark loads the state dict by torchaudio's names and
//! must reproduce the output and every gradient.

use std::path::{Path, PathBuf};

use hark::kernels::loss::l1_loss_backward;
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig, MaskActivation};
use hark::nn::{Layer, Mode};
use hark::testing::{assert_close, test_context};
use hark::{DType, Recorder, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conv_tasnet")
        .join(format!("{name}.safetensors"))
}

/// A fixture tensor as (shape, values).
fn tensor(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f32>) {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let view = file.tensor(name).unwrap();
    (
        view.shape().to_vec(),
        bytemuck::pod_collect_to_vec(view.data()),
    )
}

fn small(sources: usize, mask: MaskActivation) -> ConvTasNetConfig {
    ConvTasNetConfig {
        sources,
        enc_kernel: 16,
        enc_feats: 32,
        msk_kernel: 3,
        msk_feats: 16,
        msk_hidden: 32,
        msk_layers: 3,
        msk_stacks: 2,
        mask,
    }
}

/// Loads a fixture, runs forward (and backward of torch's `l1_loss(output, target)`), and
/// compares with torchaudio.
fn check_fixture(name: &str, config: ConvTasNetConfig, gradients: bool) {
    let Some(ctx) = test_context() else { return };
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap();
    let mut model = ConvTasNet::load(&ctx, &path, config).unwrap();
    assert_eq!(model.state_dict().len(), config.state_dict_len());
    let (shape, input) = tensor(&bytes, "input");
    let (out_shape, expected) = tensor(&bytes, "output");
    let x = Tensor::from_slice(&ctx, &shape, &input).unwrap();
    let mut rec = Recorder::new(&ctx);
    let y = model.forward(&mut rec, &x, Mode::Train).unwrap();
    assert_eq!(y.shape(), out_shape.as_slice());
    if !gradients {
        rec.submit().unwrap();
        // Eval is the same computation (no BatchNorm or dropout in Conv-TasNet).
        let mut rec = Recorder::new(&ctx);
        let y_eval = model.forward(&mut rec, &x, Mode::Eval).unwrap();
        rec.submit().unwrap();
        let got = y_eval.to_vec(&ctx).unwrap();
        // f32 sums in another order through ~20 layers with two gLNs per block: 1e-4 of the
        // output scale.
        assert_close(&got, &expected, 1e-3, 1e-4);
        return;
    }
    let (_, target) = tensor(&bytes, "target");
    let t = Tensor::from_slice(&ctx, &out_shape, &target).unwrap();
    let grad_y = Tensor::zeros(&ctx, &out_shape, DType::F32).unwrap();
    l1_loss_backward(&mut rec, &y, &t, 1.0, &grad_y).unwrap();
    let grad_x = model.backward(&mut rec, &grad_y).unwrap();
    rec.submit().unwrap();
    assert_close(&y.to_vec(&ctx).unwrap(), &expected, 1e-3, 1e-4);
    let (_, expected_gx) = tensor(&bytes, "grad.input");
    let gx = grad_x.to_vec(&ctx).unwrap();
    let scale = expected_gx.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert_close(&gx, &expected_gx, 1e-3, 1e-3 * scale);
    for p in hark::nn::Layer::params(&model) {
        let (shape, expected) = tensor(&bytes, &format!("grad.{}", p.name));
        assert_eq!(p.grad.shape(), shape.as_slice(), "{}", p.name);
        let got = p.grad.to_vec(&ctx).unwrap();
        let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // Gradients sum over every frame and batch item: relative to the tensor's largest.
        for (i, (&g, &e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                (g - e).abs() <= 1e-3 * scale + 1e-3 * e.abs(),
                "{}[{i}]: hark {g}, torch {e} (largest {scale})",
                p.name
            );
        }
    }
}

#[test]
fn matches_torchaudio_forward_and_gradients() {
    check_fixture("small_sigmoid", small(2, MaskActivation::Sigmoid), true);
}

#[test]
fn matches_torchaudio_relu_mask_in_eval() {
    check_fixture("small_relu", small(1, MaskActivation::Relu), false);
}

#[test]
fn default_configuration_has_torchaudios_343_tensors() {
    let Some(ctx) = test_context() else { return };
    let config = ConvTasNetConfig::default();
    let model = ConvTasNet::new(&ctx, config, 0).unwrap();
    let dict = model.state_dict();
    assert_eq!(dict.len(), 343);
    let shape = |name: &str| {
        dict.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shape().to_vec())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(shape("encoder.weight"), [512, 1, 16]);
    assert_eq!(shape("decoder.weight"), [512, 1, 16]);
    assert_eq!(shape("mask_generator.input_norm.weight"), [512]);
    assert_eq!(shape("mask_generator.input_conv.weight"), [128, 512, 1]);
    assert_eq!(
        shape("mask_generator.conv_layers.0.conv_layers.3.weight"),
        [512, 1, 3]
    );
    assert_eq!(
        shape("mask_generator.conv_layers.0.conv_layers.1.weight"),
        [1]
    );
    assert_eq!(
        shape("mask_generator.conv_layers.22.res_out.weight"),
        [128, 512, 1]
    );
    assert!(!dict
        .iter()
        .any(|(n, _)| n.starts_with("mask_generator.conv_layers.23.res_out")));
    assert_eq!(shape("mask_generator.output_conv.weight"), [512, 128, 1]);
}

#[test]
fn saves_and_loads_back_with_its_configuration() {
    let Some(ctx) = test_context() else { return };
    let config = small(2, MaskActivation::Relu);
    let model = ConvTasNet::load(&ctx, &fixture("small_sigmoid"), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sep.safetensors");
    model.save(&path).unwrap();
    let loaded = ConvTasNet::load_saved(&ctx, &path).unwrap();
    assert_eq!(*loaded.config(), config);
    for ((na, a), (nb, b)) in model.state_dict().iter().zip(loaded.state_dict()) {
        assert_eq!(na, &nb);
        assert_eq!(a.to_vec(&ctx).unwrap(), b.to_vec(&ctx).unwrap(), "{na}");
    }
    // Another configuration does not fit: the error names the tensor.
    let err = ConvTasNet::load(
        &ctx,
        &path,
        ConvTasNetConfig {
            msk_hidden: 48,
            ..config
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("mask_generator.conv_layers.0.conv_layers.0.weight"),
        "{err}"
    );
}

#[test]
fn rejects_bad_inputs_and_configurations() {
    let Some(ctx) = test_context() else { return };
    let mut model = ConvTasNet::new(&ctx, small(1, MaskActivation::Sigmoid), 1).unwrap();
    let x = Tensor::zeros(&ctx, &[2, 3, 100], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    assert!(model.forward(&mut rec, &x, Mode::Eval).is_err());
    let g = Tensor::zeros(&ctx, &[1, 1, 100], DType::F32).unwrap();
    assert!(
        model.backward(&mut rec, &g).is_err(),
        "backward without forward"
    );
    for bad in [
        ConvTasNetConfig {
            msk_kernel: 4,
            ..ConvTasNetConfig::default()
        },
        ConvTasNetConfig {
            sources: 0,
            ..ConvTasNetConfig::default()
        },
        ConvTasNetConfig {
            enc_kernel: 1,
            ..ConvTasNetConfig::default()
        },
    ] {
        assert!(ConvTasNet::new(&ctx, bad, 0).is_err(), "{bad:?}");
    }
}

#[test]
fn too_long_inputs_are_refused_before_allocating_with_the_length_that_fits() {
    let Some(ctx) = test_context() else { return };
    let model = ConvTasNet::new(&ctx, ConvTasNetConfig::default(), 0).unwrap();
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let max = model.max_len(2);
    assert!(model.largest_activation(2, max) <= limit);
    assert!(model.largest_activation(2, max + 64) > limit);
    assert!(model.check_fits(2, max).is_ok());
    let err = model.check_fits(2, max + 64).unwrap_err().to_string();
    assert!(err.contains(&format!("at most {max} samples")), "{err}");
}
