//! Checkpoints: a saved autoencoder loads back bit for bit under its PyTorch names, a mismatched
//! shape or a missing tensor is an error naming the tensor, and `hark train` / `hark score` work
//! through the binary.

use std::process::Command;

use hark::io::checkpoint::{load_checkpoint, save_checkpoint};
use hark::models::autoencoder::DenseAutoencoder;
use hark::nn::{Layer, Mode};
use hark::testing::{test_context, SeededRng};
use hark::{DType, Recorder, Tensor};

#[test]
fn a_saved_model_loads_back_and_bad_files_are_named() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ae.safetensors");
    let mut model = DenseAutoencoder::new(&ctx, 640, 7).unwrap();
    model.save(&ctx, &path).unwrap();
    let mut loaded = DenseAutoencoder::load(&ctx, &path, 640).unwrap();
    let x =
        Tensor::from_slice(&ctx, &[3, 640], &SeededRng::new(1).vec(3 * 640, -1.0, 1.0)).unwrap();
    let mut rec = Recorder::new(&ctx);
    let a = model.forward(&mut rec, &x, Mode::Eval).unwrap();
    let b = loaded.forward(&mut rec, &x, Mode::Eval).unwrap();
    rec.submit().unwrap();
    assert_eq!(a.to_vec(&ctx).unwrap(), b.to_vec(&ctx).unwrap());

    // A model for 320-dim inputs does not fit: the error names the first mismatched tensor.
    let err = DenseAutoencoder::load(&ctx, &path, 320)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("encoder.0.weight") && err.contains("[128, 640]"),
        "{err}"
    );

    let lonely = Tensor::zeros(&ctx, &[2], DType::F32).unwrap();
    let partial = dir.path().join("partial.safetensors");
    save_checkpoint(
        &ctx,
        &partial,
        &[("only".to_string(), &lonely)],
        Default::default(),
    )
    .unwrap();
    let err = load_checkpoint(&ctx, &partial, &[("missing.weight".to_string(), &lonely)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.weight is missing"), "{err}");
    std::fs::write(dir.path().join("junk.safetensors"), "not a checkpoint").unwrap();
    let err = load_checkpoint(&ctx, &dir.path().join("junk.safetensors"), &[]).unwrap_err();
    assert!(err.to_string().contains("not a safetensors file"), "{err}");
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn train_then_score_through_the_cli() {
    if test_context().is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (data, models, scores) = (
        work.path().join("data"),
        work.path().join("models"),
        work.path().join("scores"),
    );
    // Autotuning off: the same launches on every run (resumed trainings compare bit for bit).
    let hark = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
        c.env("HARK_AUTOTUNE", "off");
        c
    };
    run_ok(
        hark()
            .args([
                "synth",
                "--machines",
                "valve",
                "--clips",
                "6",
                "--test-clips",
                "8",
            ])
            .args(["--sections", "1", "--seconds", "1", "--no-stems", "--out"])
            .arg(&data),
    );
    run_ok(
        hark()
            .args([
                "train",
                "--system",
                "ae",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--data",
            ])
            .arg(&data)
            .arg("--models")
            .arg(&models),
    );
    assert!(models.join("ae_valve.safetensors").is_file());
    let report = run_ok(
        hark()
            .args(["score", "--system", "ae", "--data"])
            .arg(&data)
            .arg("--models")
            .arg(&models)
            .arg("--out")
            .arg(&scores),
    );
    assert!(report.contains("official score"), "{report}");
    assert!(scores
        .join("anomaly_score_valve_section_00_test.csv")
        .is_file());
    assert!(scores
        .join("decision_result_valve_section_00_test.csv")
        .is_file());
}
