//! The layer graph: Linear and BatchNorm1d layers composed in a Sequential, their backward
//! against finite differences of the loss computed on the GPU, and the DCASE autoencoder's
//! training lowering its loss.

use hark::kernels::batchnorm::BatchNormConfig;
use hark::kernels::loss::{mse_backward, mse_rows};
use hark::models::autoencoder::{
    train, train_resumable, AutoencoderConfig, DenseAutoencoder, TrainState,
};
use hark::nn::{BatchNorm1d, Layer, Linear, Mode, SeededInit, Sequential};
use hark::testing::{test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// Mean MSE of `model(x)` against `target`, forward in training mode (batch statistics).
fn loss(ctx: &Context, model: &mut Sequential, x: &Tensor, target: &Tensor) -> f64 {
    let rows = x.shape()[0];
    let errors = Tensor::zeros(ctx, &[rows], DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    let y = model.forward(&mut rec, x, Mode::Train).unwrap();
    mse_rows(&mut rec, &y, target, &errors).unwrap();
    rec.submit().unwrap();
    let e = errors.to_vec(ctx).unwrap();
    e.iter().map(|&v| f64::from(v)).sum::<f64>() / e.len() as f64
}

#[test]
fn sequential_backward_matches_finite_differences() {
    let Some(ctx) = test_context() else { return };
    let mut init = SeededInit::new(3);
    let bn = BatchNormConfig {
        eps: 1e-3,
        momentum: 0.1,
        relu: true,
    };
    let mut model = Sequential::new(vec![
        Box::new(Linear::new(&ctx, "0", 7, 5, true, &mut init).unwrap()),
        Box::new(BatchNorm1d::new(&ctx, "1", 5, bn).unwrap()),
        Box::new(Linear::new(&ctx, "3", 5, 4, true, &mut init).unwrap()),
    ]);
    let mut rng = SeededRng::new(4);
    let (batch, dims_in, dims_out) = (9, 7, 4);
    let x = Tensor::from_slice(
        &ctx,
        &[batch, dims_in],
        &rng.vec(batch * dims_in, -1.0, 1.0),
    )
    .unwrap();
    let target = Tensor::from_slice(
        &ctx,
        &[batch, dims_out],
        &rng.vec(batch * dims_out, -1.0, 1.0),
    )
    .unwrap();
    let grad = Tensor::zeros(&ctx, &[batch, dims_out], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let y = model.forward(&mut rec, &x, Mode::Train).unwrap();
    mse_backward(&mut rec, &y, &target, 1.0, &grad).unwrap();
    let grad_x = model.backward(&mut rec, &grad).unwrap();
    rec.submit().unwrap();
    let analytic_x = grad_x.to_vec(&ctx).unwrap();
    let analytic: Vec<(String, Vec<f32>)> = model
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.grad.to_vec(&ctx).unwrap()))
        .collect();

    // Central differences of the GPU loss in f32: h = 1e-2 keeps rounding (~1e-7 / h) small
    // against the curvature error (~h^2); a tolerance of 2e-2 relative (1e-3 absolute) checks
    // that every gradient is wired right (transposes, order, the ReLU mask, BN's batch terms).
    let h = 1e-2f32;
    let check = |name: &str, analytic: &[f32], numeric: &[f32]| {
        if let Err(report) = hark::testing::compare(analytic, numeric, 2e-2, 1e-3) {
            panic!("{name}: {report}");
        }
    };
    for (p, (name, analytic_grad)) in analytic.iter().enumerate() {
        let values = model.params()[p].value.to_vec(&ctx).unwrap();
        let mut numeric = Vec::new();
        for i in 0..values.len() {
            let mut shifted = values.clone();
            shifted[i] += h;
            model.params()[p].value.write(&ctx, &shifted).unwrap();
            let plus = loss(&ctx, &mut model, &x, &target);
            shifted[i] -= 2.0 * h;
            model.params()[p].value.write(&ctx, &shifted).unwrap();
            let minus = loss(&ctx, &mut model, &x, &target);
            model.params()[p].value.write(&ctx, &values).unwrap();
            numeric.push(((plus - minus) / (2.0 * f64::from(h))) as f32);
        }
        check(name, analytic_grad, &numeric);
    }
    let xs = x.to_vec(&ctx).unwrap();
    let mut numeric = Vec::new();
    for i in 0..xs.len() {
        let mut shifted = xs.clone();
        shifted[i] += h;
        let xp = Tensor::from_slice(&ctx, &[batch, dims_in], &shifted).unwrap();
        let plus = loss(&ctx, &mut model, &xp, &target);
        shifted[i] -= 2.0 * h;
        let xm = Tensor::from_slice(&ctx, &[batch, dims_in], &shifted).unwrap();
        let minus = loss(&ctx, &mut model, &xm, &target);
        numeric.push(((plus - minus) / (2.0 * f64::from(h))) as f32);
    }
    check("input", &analytic_x, &numeric);
}

#[test]
fn autoencoder_has_the_pytorch_names_and_learns() {
    let Some(ctx) = test_context() else { return };
    let mut model = DenseAutoencoder::new(&ctx, 640, 0).unwrap();
    let names: Vec<String> = model.params().iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        names.len(),
        2 * 10 + 2 * 9,
        "10 Linear + 9 BatchNorm1d layers"
    );
    assert_eq!(names[0], "encoder.0.weight");
    assert_eq!(names[3], "encoder.1.bias");
    assert!(
        names.contains(&"encoder.12.weight".to_string()),
        "{names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("decoder.12.bias"));
    let buffers: Vec<String> = model.buffers().iter().map(|(n, _)| n.clone()).collect();
    assert!(
        buffers.contains(&"decoder.10.running_var".to_string()),
        "{buffers:?}"
    );

    // Vectors on a 4-dim subspace of R^640 plus a little noise: an 8-dim bottleneck can learn
    // them, so a few epochs must cut the loss well below where it starts.
    let mut rng = SeededRng::new(8);
    let basis: Vec<f32> = rng.vec(4 * 640, -1.0, 1.0);
    let n = 1024;
    let mut vectors = Vec::with_capacity(n * 640);
    for _ in 0..n {
        let c = rng.vec(4, -1.0, 1.0);
        for j in 0..640 {
            let v: f32 = (0..4).map(|k| c[k] * basis[k * 640 + j]).sum();
            vectors.push(v + rng.uniform(-0.05, 0.05));
        }
    }
    let config = AutoencoderConfig {
        epochs: 6,
        batch_size: 128,
        ..AutoencoderConfig::default()
    };
    let mut losses = Vec::new();
    train(&ctx, &mut model, &vectors, &config, |report| {
        losses.push(report.loss)
    })
    .unwrap();
    assert_eq!(losses.len(), 6);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses[5] < 0.5 * losses[0], "loss did not fall: {losses:?}");
}

fn model_values(ctx: &hark::Context, model: &DenseAutoencoder) -> Vec<Vec<f32>> {
    model
        .state_dict()
        .iter()
        .map(|(_, t)| t.to_vec(ctx).unwrap())
        .collect()
}

#[test]
fn resumed_training_equals_an_uninterrupted_run() {
    let Some(ctx) = test_context() else { return };
    let dims = 40;
    let vectors = SeededRng::new(5).vec(97 * dims, -1.0, 1.0);
    let config = AutoencoderConfig {
        epochs: 3,
        batch_size: 16,
        ..AutoencoderConfig::default()
    };
    let mut straight = DenseAutoencoder::new(&ctx, dims, 3).unwrap();
    train(&ctx, &mut straight, &vectors, &config, |_| {}).unwrap();

    // One epoch, "killed", then a fresh process-like start that resumes to epoch 3.
    let dir = tempfile::tempdir().unwrap();
    let state = TrainState {
        path: dir.path().join("ae.train.safetensors"),
        resume: true,
    };
    let mut first = DenseAutoencoder::new(&ctx, dims, 3).unwrap();
    let one = AutoencoderConfig {
        epochs: 1,
        ..config
    };
    train_resumable(&ctx, &mut first, &vectors, &one, Some(&state), |_| {}).unwrap();
    let mut resumed = DenseAutoencoder::new(&ctx, dims, 3).unwrap();
    let mut epochs = Vec::new();
    train_resumable(&ctx, &mut resumed, &vectors, &config, Some(&state), |r| {
        epochs.push(r.epoch)
    })
    .unwrap();
    assert_eq!(epochs, [2, 3], "resumed after the saved epoch");
    // Same batches, same moments, same kernels: bit-identical parameters and statistics.
    assert_eq!(model_values(&ctx, &straight), model_values(&ctx, &resumed));

    // A state from another run is refused, naming what differs.
    let other = AutoencoderConfig { seed: 9, ..config };
    let mut model = DenseAutoencoder::new(&ctx, dims, 3).unwrap();
    let err = train_resumable(&ctx, &mut model, &vectors, &other, Some(&state), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("train.seed"), "{err}");
    let lr = AutoencoderConfig { lr: 5e-4, ..config };
    let err = train_resumable(&ctx, &mut model, &vectors, &lr, Some(&state), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("optimizer.lr"), "{err}");
}
