//! Score-level ensembles: member scores standardised by their per-section training scores,
//! weighted and summed; mismatched members refused.

use std::path::{Path, PathBuf};

use hark::detect::ensemble::{
    read_ensemble_config, run_ensemble, train_score_file_name, write_train_scores, EnsembleMember,
    Standardize,
};
use hark::detect::outputs::{
    anomaly_score_file_name, decision_result_file_name, read_anomaly_scores, write_section_outputs,
};

fn temp_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("hark_ensemble_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A member folder for machine `fan`, section 00: test clips t0..t3 and training clips r0..r4,
/// every score `a * base + b`.
fn member(dir: &Path, a: f64, b: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let test: Vec<(String, f64)> = [0.5, 2.0, -1.0, 4.0]
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("t{i}.wav"), a * s + b))
        .collect();
    let train: Vec<(String, f64)> = [0.0, 1.0, 2.0, 3.0, 4.0]
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("r{i}.wav"), a * s + b))
        .collect();
    write_section_outputs(dir, "fan", 0, &test, 0.0).unwrap();
    write_train_scores(dir, "fan", 0, &train).unwrap();
}

#[test]
fn affine_rescaled_members_standardise_to_the_same_scores() {
    let root = temp_root("affine");
    member(&root.join("a"), 1.0, 0.0);
    member(&root.join("b"), 10.0, 3.0);
    std::fs::write(root.join("members.txt"), "1.0 a\n0.5 b  # rescaled copy\n").unwrap();
    let members = read_ensemble_config(&root.join("members.txt")).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let sections = run_ensemble(&members, &out, 0.9, Standardize::Train).unwrap();
    assert_eq!(sections.len(), 1);
    // Training base scores 0..4: mean 2, population std sqrt(2); each member standardises to
    // z = (base - 2) / sqrt(2), and the ensemble is (1.0 + 0.5) z.
    let z = |s: f64| 1.5 * (s - 2.0) / 2f64.sqrt();
    let scores = read_anomaly_scores(&out.join(anomaly_score_file_name("fan", 0))).unwrap();
    let expected = [
        ("t0.wav", z(0.5)),
        ("t1.wav", z(2.0)),
        ("t2.wav", z(-1.0)),
        ("t3.wav", z(4.0)),
    ];
    assert_eq!(scores.len(), 4);
    for ((name, score), (e_name, e_score)) in scores.iter().zip(expected) {
        assert_eq!(name, e_name);
        assert!(
            (score - e_score).abs() < 1e-9,
            "{name}: {score} vs {e_score}"
        );
    }
    // Threshold: the 0.9 quantile of the combined training scores z(0..4) = z(3.6).
    assert!((sections[0].threshold - z(3.6)).abs() < 1e-9);
    let decisions = std::fs::read_to_string(out.join(decision_result_file_name("fan", 0))).unwrap();
    assert_eq!(decisions, "t0.wav,0\nt1.wav,0\nt2.wav,0\nt3.wav,1\n");
    // The ensemble folder is itself a member (it wrote training scores).
    assert!(out.join(train_score_file_name("fan", 0)).exists());
    let nested = vec![EnsembleMember {
        weight: 1.0,
        dir: out.clone(),
    }];
    let nested_out = root.join("nested");
    std::fs::create_dir_all(&nested_out).unwrap();
    run_ensemble(&nested, &nested_out, 0.9, Standardize::Train).unwrap();
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn mismatched_members_are_refused() {
    let root = temp_root("mismatch");
    member(&root.join("a"), 1.0, 0.0);
    member(&root.join("b"), 1.0, 0.0);
    // b loses its training scores.
    std::fs::remove_file(root.join("b").join(train_score_file_name("fan", 0))).unwrap();
    let pair = |b: &str| {
        vec![
            EnsembleMember {
                weight: 1.0,
                dir: root.join("a"),
            },
            EnsembleMember {
                weight: 1.0,
                dir: root.join(b),
            },
        ]
    };
    assert!(run_ensemble(&pair("b"), &root, 0.9, Standardize::Train).is_err());
    // c scores another section.
    let c = root.join("c");
    std::fs::create_dir_all(&c).unwrap();
    write_section_outputs(&c, "fan", 1, &[("t0.wav".into(), 1.0)], 0.0).unwrap();
    write_train_scores(&c, "fan", 1, &[("r0.wav".into(), 1.0)]).unwrap();
    assert!(run_ensemble(&pair("c"), &root, 0.9, Standardize::Train).is_err());
    // d scores other clips.
    let d = root.join("d");
    member(&d, 1.0, 0.0);
    write_section_outputs(&d, "fan", 0, &[("x.wav".into(), 1.0)], 0.0).unwrap();
    assert!(run_ensemble(&pair("d"), &root, 0.9, Standardize::Train).is_err());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn test_standardisation_uses_each_members_test_scores() {
    let root = temp_root("test-stats");
    member(&root.join("a"), 1.0, 0.0);
    member(&root.join("b"), 10.0, 3.0);
    // b's training scores collapse (a back end whose centres are its training clips): by its
    // training statistics it would swamp a; by its test statistics it weighs as a does.
    write_train_scores(
        &root.join("b"),
        "fan",
        0,
        &[("r0.wav".into(), 1e-9), ("r1.wav".into(), 0.0)],
    )
    .unwrap();
    write_train_scores(
        &root.join("a"),
        "fan",
        0,
        &[("r0.wav".into(), 0.0), ("r1.wav".into(), 1.0)],
    )
    .unwrap();
    let members = vec![
        EnsembleMember {
            weight: 1.0,
            dir: root.join("a"),
        },
        EnsembleMember {
            weight: 1.0,
            dir: root.join("b"),
        },
    ];
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    run_ensemble(&members, &out, 0.9, Standardize::Test).unwrap();
    let base = [0.5, 2.0, -1.0, 4.0];
    let mean = base.iter().sum::<f64>() / 4.0;
    let std = (base.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    let scores = read_anomaly_scores(&out.join(anomaly_score_file_name("fan", 0))).unwrap();
    assert_eq!(scores.len(), 4);
    for ((name, score), s) in scores.iter().zip(base) {
        let expected = 2.0 * (s - mean) / std;
        assert!(
            (score - expected).abs() < 1e-9,
            "{name}: {score} vs {expected}"
        );
    }
    // By training statistics b's collapsed spread dominates: the scores are ~1e9 in size.
    let train_out = root.join("train-out");
    std::fs::create_dir_all(&train_out).unwrap();
    run_ensemble(&members, &train_out, 0.9, Standardize::Train).unwrap();
    let swamped = read_anomaly_scores(&train_out.join(anomaly_score_file_name("fan", 0))).unwrap();
    assert!(swamped.iter().all(|(_, s)| s.abs() > 1e6));
    let _ = std::fs::remove_dir_all(root);
}
