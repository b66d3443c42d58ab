//! The plain layout of a user's own recordings: the reader (any file names, the labels CSV and
//! its errors, empty folders, bad files, subfolders) and `hark train` / `hark score` with
//! `--train-dir` / `--score-dir` on synthetic clips renamed to arbitrary names.

use std::path::{Path, PathBuf};
use std::process::Command;

use hark::audio::dataset::{read_plain_dataset, Domain, Label, PlainLayout, Split};
use hark::audio::wav::write_wav_f32;
use hark::HarkError;

/// A 0.25 s clip at `rate` Hz: a quiet tone, distinct per `seed`.
fn write_clip(path: &Path, rate: u32, seed: u32) {
    let n = rate as usize / 4;
    let f = 200.0 + 50.0 * seed as f32;
    let samples: Vec<f32> = (0..n)
        .map(|i| 0.1 * (std::f32::consts::TAU * f * i as f32 / rate as f32).sin())
        .collect();
    write_wav_f32(path, &samples, rate).unwrap();
}

/// `<root>/normal` with `train` clips and `<root>/incoming` with `test` clips, at 16 kHz.
fn folders(root: &Path, train: &[&str], test: &[&str]) -> (PathBuf, PathBuf) {
    let (normal, incoming) = (root.join("normal"), root.join("incoming"));
    for (dir, names) in [(&normal, train), (&incoming, test)] {
        std::fs::create_dir_all(dir).unwrap();
        for (i, name) in names.iter().enumerate() {
            write_clip(&dir.join(name), 16_000, i as u32);
        }
    }
    (normal, incoming)
}

fn layout(train_dir: &Path, score_dir: Option<&Path>, labels: Option<&Path>) -> PlainLayout {
    PlainLayout {
        machine: "machine".to_string(),
        train_dir: train_dir.to_path_buf(),
        score_dir: score_dir.map(Path::to_path_buf),
        labels: labels.map(Path::to_path_buf),
    }
}

/// The problems of `layout`, one string each.
fn problems(layout: &PlainLayout) -> Vec<String> {
    let dataset = read_plain_dataset(layout).unwrap();
    dataset.problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn arbitrary_names_become_one_machine_type_and_section() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(
        work.path(),
        &["Morning run 1.wav", "b, with comma.WAV", "z.wav"],
        &["pump-2024-05-01 (2).wav", "x.wav"],
    );
    // Ignored as the DCASE reader ignores them: other files and subfolders without clips.
    std::fs::write(normal.join("notes.txt"), "not a clip").unwrap();
    std::fs::create_dir(normal.join("empty")).unwrap();
    let dataset = read_plain_dataset(&layout(&normal, Some(&incoming), None)).unwrap();
    assert!(dataset.problems.is_empty(), "{:?}", dataset.problems);
    assert_eq!(dataset.machines.len(), 1);
    let machine = &dataset.machines[0];
    assert_eq!(machine.machine, "machine");
    assert_eq!(machine.sections(), vec![0]);
    let names =
        |split| -> Vec<&str> { machine.split(split).map(|c| c.file_name.as_str()).collect() };
    assert_eq!(
        names(Split::Train),
        ["Morning run 1.wav", "b, with comma.WAV", "z.wav"]
    );
    assert_eq!(names(Split::Test), ["pump-2024-05-01 (2).wav", "x.wav"]);
    for clip in &machine.clips {
        assert_eq!(clip.name.domain, Some(Domain::Source));
        assert!(clip.path.is_file(), "{}", clip.path.display());
        let expected = match clip.split {
            Some(Split::Train) => Label::Normal,
            _ => Label::Unknown,
        };
        assert_eq!(clip.name.label, expected, "{}", clip.file_name);
    }
    // Training only: no test clips.
    let dataset = read_plain_dataset(&layout(&normal, None, None)).unwrap();
    assert_eq!(dataset.machines[0].split(Split::Test).count(), 0);
}

#[test]
fn labels_csv_labels_the_clips_to_score() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(work.path(), &["n.wav"], &["a,b.wav", "c.wav", "d.wav"]);
    let labels = work.path().join("labels.csv");
    // Header optional, the label is the last field (commas in names), a folder prefix is
    // dropped, labels in any case and as 0/1, blank lines skipped.
    std::fs::write(
        &labels,
        "file_name,label\na,b.wav,Anomaly\n\nincoming/c.wav,0\n d.wav , normal\n",
    )
    .unwrap();
    let dataset = read_plain_dataset(&layout(&normal, Some(&incoming), Some(&labels))).unwrap();
    assert!(dataset.problems.is_empty(), "{:?}", dataset.problems);
    let labelled: Vec<(&str, Label)> = dataset.machines[0]
        .split(Split::Test)
        .map(|c| (c.file_name.as_str(), c.name.label))
        .collect();
    assert_eq!(
        labelled,
        [
            ("a,b.wav", Label::Anomaly),
            ("c.wav", Label::Normal),
            ("d.wav", Label::Normal)
        ]
    );
    std::fs::write(&labels, "a,b.wav,1\nc.wav,normal\nd.wav,0\n").unwrap();
    let dataset = read_plain_dataset(&layout(&normal, Some(&incoming), Some(&labels))).unwrap();
    assert!(dataset.problems.is_empty(), "{:?}", dataset.problems);
}

#[test]
fn labels_csv_errors_name_the_line() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(work.path(), &["n.wav"], &["a.wav", "b.wav", "c.wav"]);
    let labels = work.path().join("labels.csv");
    std::fs::write(
        &labels,
        "file_name,label\na.wav,anomaly\nmissing.wav,normal\na.wav,normal\nb.wav,broken\nno comma\n",
    )
    .unwrap();
    let found = problems(&layout(&normal, Some(&incoming), Some(&labels)));
    let expect = [
        "line 3: 'missing.wav' is not a .wav file of",
        "line 4: 'a.wav' is labelled twice (first on line 2)",
        "line 5: label 'broken' is not normal, anomaly, 0 or 1",
        "line 6: expected 'file_name,label', got 'no comma'",
        "no label for 2 of the 3 clips to score (b.wav, c.wav)",
    ];
    for want in expect {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "no problem says '{want}': {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    assert!(found
        .iter()
        .all(|p| p.starts_with(&labels.display().to_string())));
    // One error lists them all.
    let error = read_plain_dataset(&layout(&normal, Some(&incoming), Some(&labels)))
        .unwrap()
        .require_no_problems()
        .unwrap_err();
    assert!(matches!(error, HarkError::Dataset { .. }), "{error}");
    assert!(error.to_string().contains("5 problem(s)"), "{error}");

    // AUC needs both labels.
    std::fs::write(&labels, "a.wav,normal\nb.wav,normal\nc.wav,0\n").unwrap();
    let found = problems(&layout(&normal, Some(&incoming), Some(&labels)));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("every clip is labelled normal"),
        "{found:#?}"
    );

    // A missing labels file is an I/O error naming it; labels without clips to score are refused.
    let absent = work.path().join("absent.csv");
    match read_plain_dataset(&layout(&normal, Some(&incoming), Some(&absent))) {
        Err(HarkError::Io { path, .. }) => assert!(path.contains("absent.csv"), "{path}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(matches!(
        read_plain_dataset(&layout(&normal, None, Some(&labels))),
        Err(HarkError::InvalidArgument { .. })
    ));
}

#[test]
fn empty_or_missing_folders_are_errors_naming_them() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(work.path(), &["n.wav"], &[]);
    std::fs::write(incoming.join("readme.txt"), "no clips here").unwrap();
    for (train, score, named) in [
        (&normal, Some(incoming.as_path()), "incoming"),
        (&incoming, None, "incoming"),
    ] {
        match read_plain_dataset(&layout(train, score, None)) {
            Err(HarkError::Dataset { path, detail }) => {
                assert!(path.ends_with(named), "{path}");
                assert!(detail.contains("no .wav files"), "{detail}");
            }
            other => panic!("expected a dataset error, got {other:?}"),
        }
    }
    let absent = work.path().join("absent");
    match read_plain_dataset(&layout(&absent, None, None)) {
        Err(HarkError::Dataset { path, detail }) => {
            assert!(path.ends_with("absent"), "{path}");
            assert_eq!(detail, "not a folder");
        }
        other => panic!("expected a dataset error, got {other:?}"),
    }
    let bad_machine = PlainLayout {
        machine: "a/b".to_string(),
        ..layout(&normal, None, None)
    };
    assert!(matches!(
        read_plain_dataset(&bad_machine),
        Err(HarkError::InvalidArgument { .. })
    ));
}

#[test]
fn bad_files_and_nested_clips_are_problems_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(work.path(), &["good.wav"], &["ok.wav"]);
    write_clip(&normal.join("cd rate.wav"), 44_100, 0);
    std::fs::write(normal.join("text.wav"), "not a wav").unwrap();
    let stereo = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(incoming.join("stereo.wav"), stereo).unwrap();
    for _ in 0..3200 {
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    let nested = incoming.join("day 2");
    std::fs::create_dir_all(&nested).unwrap();
    write_clip(&nested.join("later.wav"), 16_000, 1);
    let found = problems(&layout(&normal, Some(&incoming), None));
    let expect = [
        ("cd rate.wav", "sample rate is 44100 Hz, expected 16000 Hz"),
        ("text.wav", "not a readable WAV file"),
        ("stereo.wav", "has 2 channels, expected mono"),
        ("day 2", "a subfolder holding 1 .wav file(s)"),
    ];
    for (file, why) in expect {
        assert!(
            found.iter().any(|p| p.contains(file) && p.contains(why)),
            "no problem names {file} with '{why}': {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    // A folder whose only clips are bad reports them rather than "no .wav files".
    let only_bad = work.path().join("only_bad");
    std::fs::create_dir(&only_bad).unwrap();
    std::fs::write(only_bad.join("bad.wav"), "").unwrap();
    let found = problems(&layout(&only_bad, None, None));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("bad.wav"), "{found:#?}");
}

fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env("HARK_AUTOTUNE", "off");
    c
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run_ok(command: &mut Command) -> String {
    let (ok, stdout, stderr) = run(command);
    assert!(ok, "{command:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The `.wav` files of `dir`, sorted.
fn wavs(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    found.sort();
    found
}

#[test]
fn flags_are_checked_before_any_work() {
    let work = tempfile::tempdir().unwrap();
    let (normal, incoming) = folders(work.path(), &["n.wav"], &["t.wav"]);
    write_clip(&incoming.join("loud 48k.wav"), 48_000, 2);
    let models = work.path().join("models");
    // --data and the plain layout exclude each other; --score-dir needs --train-dir.
    let (ok, _, stderr) = run(hark()
        .args(["train", "--system", "stats-knn", "--data"])
        .arg(work.path())
        .arg("--train-dir")
        .arg(&normal)
        .arg("--models")
        .arg(&models));
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
    let (ok, _, stderr) = run(hark()
        .args(["score", "--system", "stats-knn", "--score-dir"])
        .arg(&incoming)
        .arg("--models")
        .arg(&models)
        .arg("--out")
        .arg(work.path().join("s.csv")));
    assert!(!ok && stderr.contains("--train-dir"), "{stderr}");
    // --data alone still parses (the plain flags' defaults do not count as given).
    for command in ["train", "score"] {
        let mut line = hark();
        line.args([command, "--system", "stats-knn", "--data"])
            .arg(work.path().join("absent"))
            .arg("--models")
            .arg(&models);
        if command == "score" {
            line.arg("--out").arg(work.path().join("out"));
        }
        let (ok, _, stderr) = run(&mut line);
        assert!(
            !ok && stderr.contains("not a folder"),
            "{command}: {stderr}"
        );
    }
    // A bad clip to score stops `hark score` before any model is loaded, naming the file.
    let (ok, _, stderr) = run(hark()
        .args(["score", "--system", "stats-knn", "--train-dir"])
        .arg(&normal)
        .arg("--score-dir")
        .arg(&incoming)
        .arg("--models")
        .arg(&models)
        .arg("--out")
        .arg(work.path().join("s.csv")));
    assert!(
        !ok && stderr.contains("loud 48k.wav") && stderr.contains("48000 Hz"),
        "{stderr}"
    );
    assert!(!work.path().join("s.csv").exists());
}

#[test]
fn a_folder_of_arbitrary_wavs_is_trained_on_and_scored() {
    if hark::testing::test_context().is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("synth");
    run_ok(
        hark()
            .args([
                "synth",
                "--machines",
                "fan",
                "--clips",
                "16",
                "--test-clips",
                "16",
            ])
            .args([
                "--sections",
                "1",
                "--seconds",
                "1",
                "--seed",
                "5",
                "--no-stems",
            ])
            .arg("--out")
            .arg(&data),
    );
    // The synthetic clips under names that follow no convention, and a labels CSV.
    let normal = work.path().join("my normal recordings");
    let incoming = work.path().join("to check");
    std::fs::create_dir_all(&normal).unwrap();
    std::fs::create_dir_all(&incoming).unwrap();
    for (i, clip) in wavs(&data.join("fan/train")).iter().enumerate() {
        std::fs::copy(clip, normal.join(format!("take {i:02}, shift A.wav"))).unwrap();
    }
    let mut labels = String::from("file_name,label\n");
    let mut expected = Vec::new();
    let mut is_anomaly = std::collections::BTreeMap::new();
    for (i, clip) in wavs(&data.join("fan/test")).iter().enumerate() {
        let name = format!("rec-{}.wav", 1000 - 7 * i);
        std::fs::copy(clip, incoming.join(&name)).unwrap();
        let original = clip.file_name().unwrap().to_string_lossy();
        let label = if original.contains("_anomaly_") {
            "anomaly"
        } else {
            "normal"
        };
        labels += &format!("{name},{label}\n");
        is_anomaly.insert(name.clone(), label == "anomaly");
        expected.push(name);
    }
    expected.sort();
    let labels_csv = work.path().join("labels.csv");
    std::fs::write(&labels_csv, labels).unwrap();
    let models = work.path().join("models");
    let trained = run_ok(
        hark()
            .args(["train", "--system", "stats-knn", "--train-dir"])
            .arg(&normal)
            .arg("--models")
            .arg(&models),
    );
    assert!(trained.contains("machine: 16 training clips"), "{trained}");
    assert!(models.join("stats-knn_machine.safetensors").is_file());

    let out = work.path().join("results").join("scores.csv");
    let score = |labels: Option<&Path>| {
        let mut command = hark();
        command
            .args(["score", "--system", "stats-knn", "--models"])
            .arg(&models)
            .arg("--train-dir")
            .arg(&normal)
            .arg("--score-dir")
            .arg(&incoming)
            .arg("--out")
            .arg(&out);
        if let Some(labels) = labels {
            command.arg("--labels").arg(labels);
        }
        run_ok(&mut command)
    };
    let report = score(Some(&labels_csv));
    assert!(report.contains("16 clips scored"), "{report}");
    let metric = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{report}"))
    };
    for name in ["AUC ", "pAUC "] {
        assert!((0.0..=1.0).contains(&metric(name)), "{report}");
    }

    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("file_name,anomaly_score"));
    let mut rows: Vec<(String, f64)> = lines
        .map(|l| {
            let (name, score) = l.rsplit_once(',').unwrap();
            (name.to_string(), score.parse::<f64>().unwrap())
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&String> = rows.iter().map(|(n, _)| n).collect();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    assert!(rows.iter().all(|(_, s)| s.is_finite()), "{text}");
    // The printed AUC is that of the CSV's scores against the labels (4 decimals printed).
    let labels: Vec<bool> = rows.iter().map(|(n, _)| is_anomaly[n]).collect();
    let scores: Vec<f64> = rows.iter().map(|(_, s)| *s).collect();
    let auc = hark::detect::metrics::auc(&labels, &scores).unwrap();
    assert!((auc - metric("AUC ")).abs() <= 5e-5, "{auc} vs\n{report}");
    // Only the CSV is left beside it (the challenge files went to a removed temporary folder).
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["scores.csv"]);

    // Without labels: the same scores, no metrics.
    let report = score(None);
    assert!(!report.contains("AUC"), "{report}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}
