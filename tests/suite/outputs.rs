//! Challenge output files and the gamma decision threshold, the latter against scipy values from
//! `tests/fixtures/outputs/make_gamma_fixtures.py`.

use hark::detect::outputs::{
    anomaly_score_file_name, decision_threshold, parse_anomaly_score_file_name,
    read_anomaly_scores, write_section_outputs, GammaFit,
};

const GAMMA_FIXTURES: &str = include_str!("../fixtures/outputs/gamma_fixtures.txt");

fn relative_error(got: f64, expected: f64) -> f64 {
    (got - expected).abs() / expected.abs().max(1e-300)
}

#[test]
fn gamma_quantiles_match_scipy() {
    let mut checked = 0;
    for line in GAMMA_FIXTURES.lines().filter(|l| l.starts_with("ppf;")) {
        let f: Vec<f64> = line
            .split(';')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        let (shape, scale, q, expected) = (f[0], f[1], f[2], f[3]);
        let fit = GammaFit {
            shape,
            scale,
            loc: 0.0,
        };
        let got = fit.quantile(q).unwrap();
        assert!(
            relative_error(got, expected) < 1e-9,
            "ppf({q}, a={shape}, scale={scale}): {got} vs scipy {expected}"
        );
        checked += 1;
    }
    assert_eq!(checked, 60);
}

#[test]
fn gamma_fit_matches_scipy_mle() {
    let mut checked = 0;
    for line in GAMMA_FIXTURES.lines().filter(|l| l.starts_with("fit;")) {
        let fields: Vec<&str> = line.split(';').collect();
        let samples: Vec<f64> = fields[1].split(',').map(|v| v.parse().unwrap()).collect();
        let (shape, scale, ppf90): (f64, f64, f64) = (
            fields[2].parse().unwrap(),
            fields[3].parse().unwrap(),
            fields[4].parse().unwrap(),
        );
        let fit = GammaFit::fit(&samples).unwrap();
        // scipy's optimiser stops at about 1e-6 relative; ours solves the score equation exactly.
        assert!(
            relative_error(fit.shape, shape) < 1e-4,
            "{} vs {shape}",
            fit.shape
        );
        assert!(
            relative_error(fit.scale, scale) < 1e-4,
            "{} vs {scale}",
            fit.scale
        );
        let threshold = decision_threshold(&samples, 0.9).unwrap();
        assert!(
            relative_error(threshold, ppf90) < 1e-4,
            "{threshold} vs {ppf90}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn gamma_fit_handles_non_positive_and_constant_scores() {
    let shifted = decision_threshold(&[-3.0, -2.5, -2.0, -1.0, 0.5], 0.9).unwrap();
    assert!(shifted > -1.0 && shifted < 3.0, "{shifted}");
    assert_eq!(decision_threshold(&[2.0, 2.0, 2.0], 0.9).unwrap(), 2.0);
    assert!(decision_threshold(&[1.0], 0.9).is_err());
    assert!(decision_threshold(&[1.0, f64::NAN], 0.9).is_err());
    assert!(decision_threshold(&[1.0, 2.0], 1.0).is_err());
}

#[test]
fn writes_and_reads_challenge_csvs() {
    let dir = std::env::temp_dir().join(format!("hark_outputs_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scores = vec![
        (
            "section_01_source_test_normal_0000_a_b.wav".to_string(),
            0.25,
        ),
        (
            "section_01_target_test_anomaly_0000_a_c.wav".to_string(),
            1.75,
        ),
    ];
    let (score_path, decision_path) = write_section_outputs(&dir, "fan", 1, &scores, 1.0).unwrap();
    assert_eq!(
        score_path.file_name().unwrap().to_str().unwrap(),
        "anomaly_score_fan_section_01_test.csv"
    );
    assert_eq!(read_anomaly_scores(&score_path).unwrap(), scores);
    let decisions = std::fs::read_to_string(&decision_path).unwrap();
    assert_eq!(
        decisions,
        "section_01_source_test_normal_0000_a_b.wav,0\nsection_01_target_test_anomaly_0000_a_c.wav,1\n"
    );
    // No temporary file is left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty());
    std::fs::write(dir.join("bad.csv"), "a.wav,1\nb.wav,oops\n").unwrap();
    let error = read_anomaly_scores(&dir.join("bad.csv"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 2"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        parse_anomaly_score_file_name(&anomaly_score_file_name("ToyCar", 3)),
        Some(("ToyCar".to_string(), 3))
    );
    assert_eq!(
        parse_anomaly_score_file_name("anomaly_score_pump_id_04.csv"),
        Some(("pump".to_string(), 4))
    );
    assert_eq!(parse_anomaly_score_file_name("anomaly_score_fan.csv"), None);
}
