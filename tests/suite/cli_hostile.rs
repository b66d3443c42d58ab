//! `hark` run as a careless user or a hostile folder would (issue 18, the CLI side): outputs that
//! overlap inputs, numbers that make no sense, flags of another system, silent training clips, a
//! rate the model was not trained at, folder links back up, an empty kNN database and a
//! constant ensemble member. Each case must end with a non-zero exit and a one-line error that
//! names the file or flag, and leave inputs and old outputs as they were.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hark::detect::ensemble::write_train_scores;
use hark::detect::outputs::write_section_outputs;

fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env("HARK_AUTOTUNE", "off");
    c
}

fn gpu_available() -> bool {
    hark::testing::test_context().is_some()
}

/// Runs `command`, asserts that it failed with an error line containing every one of `needles`,
/// and returns that line.
fn fails_naming(command: &mut Command, needles: &[&str]) -> String {
    let output: Output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{command:?} succeeded:\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| panic!("{command:?}: no error line in\n{stderr}"))
        .to_string();
    for needle in needles {
        assert!(
            line.contains(needle),
            "{command:?}: '{needle}' not in: {line}"
        );
    }
    line
}

fn write_wav(path: &Path, samples: impl Iterator<Item = i16>) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

fn noise(seed: usize) -> impl Iterator<Item = i16> {
    (0..16_000).map(move |i| (((i + seed) * 7919) % 2000) as i16 - 1000)
}

/// Every file under `dir` with its bytes, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if entry.file_type().unwrap().is_file() {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A one-second synthetic dataset (one machine type, one section).
fn synth(dir: &Path, machine: &str) -> PathBuf {
    let data = dir.join("data");
    let output = hark()
        .args([
            "synth",
            "--machines",
            machine,
            "--clips",
            "4",
            "--test-clips",
            "4",
        ])
        .args(["--sections", "1", "--seconds", "1", "--no-stems", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    data
}

#[test]
fn separate_refuses_to_write_over_its_inputs() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("clips");
    for i in 0..3 {
        write_wav(&input.join(format!("c{i}.wav")), noise(i));
    }
    let model = work.path().join("m.safetensors");
    std::fs::write(&model, b"not read: the paths are checked first").unwrap();
    let before = snapshot(work.path());
    for out in [input.clone(), input.join("sub"), work.path().to_path_buf()] {
        fails_naming(
            hark()
                .args(["separate", "--model"])
                .arg(&model)
                .arg("--out")
                .arg(&out)
                .arg(&input),
            &["--out", "input"],
        );
    }
    // The model is an input too.
    fails_naming(
        hark()
            .args(["separate", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&model)
            .arg(&input),
        &["--out", "--model"],
    );
    assert_eq!(snapshot(work.path()), before, "inputs unchanged");
}

#[test]
fn separate_refuses_a_rate_the_model_was_not_trained_at() {
    let work = tempfile::tempdir().unwrap();
    let clip = work.path().join("c.wav");
    write_wav(&clip, noise(0));
    fails_naming(
        hark()
            .args(["separate", "--sample-rate", "8000", "--model"])
            .arg(work.path().join("m.safetensors"))
            .arg("--out")
            .arg(work.path().join("out"))
            .arg(&clip),
        &["--sample-rate 8000", "16000", "resample"],
    );
}

#[test]
fn features_and_score_refuse_outputs_inside_their_inputs() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("clips");
    write_wav(&input.join("a.wav"), noise(0));
    let before = snapshot(work.path());
    fails_naming(
        hark()
            .arg("features")
            .arg(&input)
            .arg("--out")
            .arg(input.join("npy")),
        &["--out", "lies inside", "input"],
    );
    fails_naming(
        hark()
            .args(["score", "--system", "energy", "--data"])
            .arg(&input)
            .arg("--models")
            .arg(work.path().join("models"))
            .arg("--out")
            .arg(&input),
        &["--out", "--data"],
    );
    fails_naming(
        hark()
            .args(["train", "--system", "ae", "--data"])
            .arg(&input)
            .arg("--models")
            .arg(input.join("models")),
        &["--models", "--data"],
    );
    fails_naming(
        hark()
            .args(["knn", "--train"])
            .arg(input.join("a.wav"))
            .arg("--test")
            .arg(input.join("a.wav"))
            .arg("--out")
            .arg(input.join("a.wav")),
        &["--out", "--train"],
    );
    assert_eq!(snapshot(work.path()), before);
}

#[test]
fn numbers_that_make_no_sense_are_refused_while_parsing() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--epochs", "0"], "--epochs"),
        (&["train", "--batch-size", "0"], "--batch-size"),
        (&["train", "--lr", "nan"], "--lr"),
        (&["train", "--lr", "inf"], "--lr"),
        (&["train", "--lr=-1"], "--lr"),
        (&["train", "--lr", "0"], "--lr"),
        (&["train", "--oe-mixup", "1.5"], "--oe-mixup"),
        (&["train", "--triplet-weight=-1"], "--triplet-weight"),
        (&["score", "--percentile", "1"], "--percentile"),
        (&["score", "--percentile", "0"], "--percentile"),
        (&["score", "--percentile", "NaN"], "--percentile"),
        (&["ensemble", "--percentile", "1.5"], "--percentile"),
        (&["knn", "--k", "0"], "--k"),
        (&["features", "--n-fft", "0"], "--n-fft"),
        (&["features", "--fmin=-inf"], "--fmin"),
        (&["separate", "--sample-rate", "0"], "--sample-rate"),
        (&["synth", "--seconds", "nan"], "--seconds"),
    ];
    for (args, flag) in cases {
        let output = hark().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let line = stderr.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("error: invalid value") && line.contains(flag),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn flags_of_another_system_are_refused_naming_their_system() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["train", "--system", "ae", "--oe-mels", "7"],
            "--oe-mels",
            "oe",
        ),
        (
            &["train", "--system", "ae", "--sub-clusters", "4"],
            "--sub-clusters",
            "embed",
        ),
        (
            &["train", "--system", "oe", "--oe-flow-blocks", "2"],
            "--oe-flow-blocks",
            "oe-flow",
        ),
        (
            &["train", "--system", "stats-knn", "--epochs", "3"],
            "--epochs",
            "ae",
        ),
        (
            &["train", "--system", "flow", "--stats-k", "3"],
            "--stats-k",
            "stats-knn",
        ),
        (
            &["train", "--system", "embed", "--blocks", "2"],
            "--blocks",
            "flow",
        ),
        (
            &["score", "--system", "ae", "--score", "confidence"],
            "--score",
            "ssc",
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    for (args, flag, system) in cases {
        let mut command = hark();
        command
            .args(*args)
            .arg("--data")
            .arg(work.path())
            .arg("--models");
        command.arg(work.path().join("models"));
        if args[0] == "score" {
            command.arg("--out").arg(work.path().join("out"));
        }
        let line = fails_naming(&mut command, &[flag, system]);
        assert!(
            line.contains(&format!("not to --system {}", args[2])),
            "{line}"
        );
    }
    // Defaults of other systems' flags are no error.
    assert!(!work.path().join("models").exists());
}

#[test]
fn silent_training_clips_are_named() {
    let work = tempfile::tempdir().unwrap();
    let data = synth(work.path(), "fan");
    let train = data.join("fan/train");
    let mut silenced = Vec::new();
    for entry in std::fs::read_dir(&train).unwrap() {
        let path = entry.unwrap().path();
        write_wav(&path, std::iter::repeat_n(0i16, 16_000));
        silenced.push(path);
    }
    silenced.sort();
    let first = silenced[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    fails_naming(
        hark()
            .args(["train", "--system", "stats-knn", "--data"])
            .arg(&data)
            .arg("--models")
            .arg(work.path().join("models")),
        &["silent or constant", &first],
    );
    // `hark data score` (the energy baseline) would otherwise flag every test clip.
    let out = work.path().join("scores");
    fails_naming(
        hark()
            .args(["data", "score"])
            .arg(&data)
            .arg("--out")
            .arg(&out),
        &["training scores", "silent or constant", &first],
    );
    assert!(!out.exists(), "nothing written");
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);
}

#[test]
fn score_checks_every_model_before_scoring_and_keeps_old_outputs() {
    let work = tempfile::tempdir().unwrap();
    let data = synth(work.path(), "valve");
    let models = work.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let out = work.path().join("scores");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("anomaly_score_valve_section_00_test.csv"),
        "old,1\n",
    )
    .unwrap();
    let before = snapshot(&out);
    fails_naming(
        hark()
            .args(["score", "--system", "ae", "--data"])
            .arg(&data)
            .arg("--models")
            .arg(&models)
            .arg("--out")
            .arg(&out),
        &["missing", "ae_valve.safetensors"],
    );
    assert_eq!(snapshot(&out), before, "old outputs as they were");

    // A fresh ae training beside a finished model refuses to start (no state beside it).
    std::fs::write(models.join("ae_valve.safetensors"), b"an older model").unwrap();
    let models_before = snapshot(&models);
    fails_naming(
        hark()
            .args(["train", "--system", "ae", "--epochs", "1", "--data"])
            .arg(&data)
            .arg("--models")
            .arg(&models),
        &["ae_valve.safetensors", "--resume"],
    );
    assert_eq!(snapshot(&models), models_before);
}

#[test]
fn knn_on_an_empty_database_is_named() {
    let work = tempfile::tempdir().unwrap();
    let train = work.path().join("train.npy");
    let test = work.path().join("test.npy");
    hark::io::npy::write_npy(&train, &[0, 4], &[]).unwrap();
    hark::io::npy::write_npy(&test, &[2, 4], &[1.0; 8]).unwrap();
    let out = work.path().join("scores.npy");
    fails_naming(
        hark()
            .args(["knn", "--train"])
            .arg(&train)
            .arg("--test")
            .arg(&test)
            .arg("--out")
            .arg(&out),
        &["train.npy", "empty"],
    );
    assert!(!out.exists());
}

#[test]
fn an_ensemble_member_with_constant_training_scores_is_named() {
    let work = tempfile::tempdir().unwrap();
    let clips: Vec<(String, f64)> = (0..4).map(|i| (format!("c{i}.wav"), i as f64)).collect();
    let flat: Vec<(String, f64)> = clips.iter().map(|(n, _)| (n.clone(), 0.5)).collect();
    for (member, train) in [("good", &clips), ("flat", &flat)] {
        let dir = work.path().join(member);
        write_section_outputs(&dir, "fan", 0, &clips, 1.0).unwrap();
        write_train_scores(&dir, "fan", 0, train).unwrap();
    }
    let config = work.path().join("members.txt");
    std::fs::write(&config, "1 good\n1 flat\n").unwrap();
    let out = work.path().join("ensemble");
    fails_naming(
        hark()
            .args(["ensemble", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out),
        &["flat", "fan section 00", "--standardize test"],
    );
    assert!(!out.exists(), "nothing written");
    std::fs::write(&config, "0 good\n1 flat\n").unwrap();
    fails_naming(
        hark()
            .args(["ensemble", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out),
        &["line 1", "weight"],
    );
}

#[cfg(unix)]
#[test]
fn features_follow_no_folder_link_twice() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("clips");
    write_wav(&input.join("a.wav"), noise(0));
    write_wav(&input.join("sub/b.wav"), noise(1));
    std::os::unix::fs::symlink(".", input.join("self")).unwrap();
    std::os::unix::fs::symlink("..", input.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("loop", input.join("loop")).unwrap();
    // Without a GPU the walk still runs: its warnings come before the device is needed.
    let out = work.path().join("npy");
    let output = hark()
        .args(["features", "--kind", "logmel"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for link in ["self", "up", "loop"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: folder link") && l.contains(link)),
            "{link}: {stderr}"
        );
    }
    if !gpu_available() {
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let written = snapshot(&out);
    let names: Vec<_> = written
        .iter()
        .map(|(p, _)| p.strip_prefix(&out).unwrap().to_path_buf())
        .collect();
    assert_eq!(names, [PathBuf::from("a.npy"), PathBuf::from("sub/b.npy")]);
    // No staging folder is left beside the output.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 2);

    fails_naming(
        hark()
            .args(["features", "--n-fft", "3"])
            .arg(&input)
            .arg("--out")
            .arg(work.path().join("garbage")),
        &["--n-fft 3", "--n-mels"],
    );
}
