//! The metrics against scikit-learn's `roc_auc_score` (with and without `max_fpr`), from the
//! committed fixture that `tests/fixtures/metrics/make_metrics_fixtures.py` writes.

use hark::audio::dataset::Domain;
use hark::detect::metrics::{auc, harmonic_mean, official_score, pauc, ScoredClip, SectionMetrics};

const FIXTURES: &str = include_str!("../fixtures/metrics/metrics_fixtures.txt");

fn parse_list(field: &str) -> Vec<f64> {
    field.split(',').map(|v| v.parse().unwrap()).collect()
}

#[test]
fn auc_and_pauc_match_scikit_learn() {
    let mut cases = 0;
    for line in FIXTURES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<&str> = line.split(';').collect();
        let labels: Vec<bool> = parse_list(fields[1]).iter().map(|&v| v == 1.0).collect();
        let scores = parse_list(fields[2]);
        let max_fpr: f64 = fields[3].parse().unwrap();
        let (expected_auc, expected_pauc): (f64, f64) =
            (fields[4].parse().unwrap(), fields[5].parse().unwrap());
        let got_auc = auc(&labels, &scores).unwrap();
        let got_pauc = pauc(&labels, &scores, max_fpr).unwrap();
        assert!(
            (got_auc - expected_auc).abs() < 1e-6,
            "{} AUC: {got_auc} vs sklearn {expected_auc}",
            fields[0]
        );
        assert!(
            (got_pauc - expected_pauc).abs() < 1e-6,
            "{} pAUC(max_fpr={max_fpr}): {got_pauc} vs sklearn {expected_pauc}",
            fields[0]
        );
        cases += 1;
    }
    assert!(cases >= 40, "only {cases} fixture cases");
}

#[test]
fn one_class_and_bad_scores_are_errors() {
    assert!(auc(&[true, true], &[0.1, 0.2]).is_err());
    assert!(pauc(&[false, true], &[0.1, f64::NAN], 0.1).is_err());
    assert!(auc(&[false, true], &[0.1]).is_err());
    assert!(pauc(&[false, true], &[0.1, 0.2], 0.0).is_err());
}

#[test]
fn domain_auc_uses_that_domains_normals_against_all_anomalies() {
    let clip = |domain, is_anomaly, score| ScoredClip {
        domain: Some(domain),
        is_anomaly,
        score,
    };
    let clips = vec![
        clip(Domain::Source, false, 0.1),
        clip(Domain::Source, false, 0.2),
        clip(Domain::Target, false, 0.9),
        clip(Domain::Target, false, 0.3),
        clip(Domain::Source, true, 0.5),
        clip(Domain::Target, true, 0.6),
    ];
    let metrics = SectionMetrics::compute("fan", 0, &clips).unwrap();
    assert_eq!(metrics.domains.len(), 2);
    // Source normals (0.1, 0.2) are below both anomalies (0.5, 0.6): AUC 1.
    assert_eq!(metrics.domains[0].auc, 1.0);
    // Target normals (0.9, 0.3) against anomalies (0.5, 0.6): 2 of 4 pairs ranked right.
    assert_eq!(metrics.domains[1].auc, 0.5);
    let official = official_score(std::slice::from_ref(&metrics)).unwrap();
    let by_hand = harmonic_mean(&[1.0, 0.5, metrics.pauc]).unwrap();
    assert!((official - by_hand).abs() < 1e-15);
    assert!((harmonic_mean(&[1.0, 0.5]).unwrap() - 2.0 / 3.0).abs() < 1e-15);
    assert!(harmonic_mean(&[0.0, 1.0]).unwrap() < 1e-10);
}
