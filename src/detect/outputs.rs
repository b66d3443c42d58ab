//! The challenge output files, `anomaly_score_<machine>_section_<ss>_test.csv` (file name, score)
//! and `decision_result_<machine>_section_<ss>_test.csv` (file name, 0/1), written atomically,
//! and the decision threshold: a percentile of a gamma distribution fitted to training scores.

mod gamma;

use std::path::{Path, PathBuf};

pub use gamma::{regularized_lower_gamma, GammaFit};

use crate::error::{HarkError, Result};
use crate::io::atomic::write_bytes_atomically as write_atomically;

/// The DCASE baselines' decision percentile.
pub const DEFAULT_DECISION_PERCENTILE: f64 = 0.9;

/// `anomaly_score_<machine>_section_<ss>_test.csv`.
pub fn anomaly_score_file_name(machine: &str, section: u32) -> String {
    format!("anomaly_score_{machine}_section_{section:02}_test.csv")
}

/// `decision_result_<machine>_section_<ss>_test.csv`.
pub fn decision_result_file_name(machine: &str, section: u32) -> String {
    format!("decision_result_{machine}_section_{section:02}_test.csv")
}

/// The machine and section named by an anomaly-score file: the 2021-2024 form
/// `anomaly_score_<machine>_section_<ss>_test.csv` or the 2020 form
/// `anomaly_score_<machine>_id_<xx>.csv` (machine id as section).
pub fn parse_anomaly_score_file_name(file_name: &str) -> Option<(String, u32)> {
    let rest = file_name.strip_prefix("anomaly_score_")?;
    let (machine, section) = if let Some(rest) = rest.strip_suffix("_test.csv") {
        rest.rsplit_once("_section_")?
    } else {
        rest.strip_suffix(".csv")?.rsplit_once("_id_")?
    };
    if machine.is_empty() || section.len() != 2 || !section.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((machine.to_string(), section.parse().ok()?))
}

/// Writes the anomaly-score and decision files of one section into `dir`; a clip is anomalous
/// (1) when its score exceeds `threshold`. Returns the two paths.
pub fn write_section_outputs(
    dir: &Path,
    machine: &str,
    section: u32,
    scores: &[(String, f64)],
    threshold: f64,
) -> Result<(PathBuf, PathBuf)> {
    let mut score_text = String::new();
    let mut decision_text = String::new();
    for (file_name, score) in scores {
        score_text += &format!("{file_name},{score}\n");
        decision_text += &format!("{file_name},{}\n", u8::from(*score > threshold));
    }
    let score_path = dir.join(anomaly_score_file_name(machine, section));
    let decision_path = dir.join(decision_result_file_name(machine, section));
    write_atomically(&score_path, score_text.as_bytes())?;
    write_atomically(&decision_path, decision_text.as_bytes())?;
    Ok((score_path, decision_path))
}

/// Writes `file_name,anomaly_score` (header, then one row per clip) to `path` atomically: the
/// one CSV of a plain-layout run. Names are written as they are (no quoting), as in the challenge
/// files; [`read_anomaly_scores`] reads the score as the last field, so commas in names survive.
pub fn write_score_csv(path: &Path, scores: &[(String, f64)]) -> Result<()> {
    let mut text = String::from("file_name,anomaly_score\n");
    for (file_name, score) in scores {
        text += &format!("{file_name},{score}\n");
    }
    write_atomically(path, text.as_bytes())
}

/// Reads an anomaly-score CSV: `file_name,score` per line. A first line whose score is not a
/// number is taken as a header; any later such line is an error naming the line.
pub fn read_anomaly_scores(path: &Path) -> Result<Vec<(String, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|source| HarkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut scores = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .rsplit_once(',')
            .and_then(|(name, score)| Some((name.trim(), score.trim().parse::<f64>().ok()?)));
        match parsed {
            Some((name, score)) if score.is_finite() => scores.push((name.to_string(), score)),
            None if i == 0 => continue,
            _ => {
                return Err(HarkError::Dataset {
                    path: path.display().to_string(),
                    detail: format!(
                        "line {}: expected 'file_name,score' with a finite score, got '{line}'",
                        i + 1
                    ),
                })
            }
        }
    }
    Ok(scores)
}

/// The decision threshold: the `percentile` (in (0, 1)) quantile of a gamma distribution fitted
/// to `training_scores`.
pub fn decision_threshold(training_scores: &[f64], percentile: f64) -> Result<f64> {
    GammaFit::fit(training_scores)?.quantile(percentile)
}
