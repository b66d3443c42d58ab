//! `hark demo`, the main job, as a user runs it: the default (generated data, stats-knn), another
//! system on a given dataset, and what it leaves behind (CSVs, plots, models) and prints (the
//! score, the stage times, the run's per-kernel GPU time, progress lines on a redirected stderr).

use std::path::Path;
use std::process::{Command, Output};

fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env("HARK_AUTOTUNE", "off");
    c
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{:?} failed:\n{}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn files_in(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_default_demo_generates_data_scores_plots_and_profiles() {
    if hark::testing::test_context().is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let output = run_ok(
        hark()
            .args(["demo", "--clips", "4", "--test-clips", "4", "--out"])
            .arg(&out),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("stats-knn: official score"), "{stdout}");
    assert!(stdout.contains("time total"), "{stdout}");
    // stderr is a pipe here: progress comes as plain lines.
    assert!(stderr.contains("demo: training stats-knn"), "{stderr}");
    assert!(stderr.contains("demo: scoring"), "{stderr}");
    let ctx = hark::testing::test_context().unwrap();
    if ctx.has_timestamps() {
        assert!(stdout.contains("GPU time per kernel"), "{stdout}");
        assert!(stdout.contains("mel_banded"), "{stdout}");
    }
    // Five machine types, one section each: both CSVs, both plots and a model per type.
    assert_eq!(files_in(&out.join("scores"), "_test.csv"), 10);
    assert_eq!(files_in(&out.join("plots"), ".png"), 10);
    assert_eq!(files_in(&out.join("models"), ".safetensors"), 5);
}

#[test]
fn the_demo_runs_another_system_on_a_given_dataset() {
    if hark::testing::test_context().is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_ok(
        hark()
            .args([
                "synth",
                "--machines",
                "valve",
                "--clips",
                "8",
                "--test-clips",
                "8",
            ])
            .args(["--sections", "1", "--seconds", "1", "--no-stems", "--out"])
            .arg(&data),
    );
    let out = work.path().join("energy");
    let output = run_ok(
        hark()
            .args(["demo", "--system", "energy", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("energy: official score"), "{stdout}");
    assert_eq!(files_in(&out.join("scores"), "_test.csv"), 2);
    // The given dataset is left alone.
    assert!(data.join("valve").join("train").is_dir());
}
