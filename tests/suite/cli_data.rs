//! The data workflow as a user runs it from a clean checkout: `hark synth`, `hark data summary`,
//! `hark data score` (the energy baseline), then `hark evaluate --plot`.

use std::process::Command;

fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env("HARK_AUTOTUNE", "off");
    c
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{:?} failed:\n{}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn synth_summary_score_evaluate_and_plot() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let scores = work.path().join("scores");
    run_ok(
        hark()
            .args([
                "synth",
                "--machines",
                "fan,valve",
                "--clips",
                "12",
                "--test-clips",
                "12",
            ])
            .args(["--sections", "1", "--seconds", "1", "--seed", "3", "--out"])
            .arg(&data),
    );
    let summary = run_ok(hark().args(["data", "summary"]).arg(&data));
    assert!(
        summary.contains("fan") && summary.contains("valve"),
        "{summary}"
    );
    assert!(summary.contains("0 problem"), "{summary}");
    run_ok(
        hark()
            .args(["data", "score"])
            .arg(&data)
            .arg("--out")
            .arg(&scores),
    );
    for machine in ["fan", "valve"] {
        for kind in ["anomaly_score", "decision_result"] {
            let csv = scores.join(format!("{kind}_{machine}_section_00_test.csv"));
            assert!(csv.is_file(), "missing {}", csv.display());
        }
    }
    let report = run_ok(
        hark()
            .args(["evaluate", "--plot", "--scores"])
            .arg(&scores)
            .arg("--data")
            .arg(&data),
    );
    let official = report
        .lines()
        .find(|l| l.starts_with("official score"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    assert!((0.0..=1.0).contains(&official), "{report}");
    for machine in ["fan", "valve"] {
        for kind in ["roc", "hist"] {
            let png = scores
                .join("plots")
                .join(format!("{kind}_{machine}_section_00.png"));
            let bytes = std::fs::read(&png).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 2000,
                "{}",
                png.display()
            );
        }
    }
}
