//! Score-level ensembles, as paper 004's submitted systems: the weighted sum of several systems'
//! normalised scores. A member is the output folder of one `hark score` run: its challenge CSVs
//! (`anomaly_score_<machine>_section_<ss>_test.csv`) and the training scores that
//! [`crate::detect::contract::run_system`] writes beside them
//! (`train_score_<machine>_section_<ss>.csv`). Each member's scores of a section are standardised
//! by the mean and standard deviation of its training scores of that section
//! ([`Standardize::Train`]), so that systems with different score scales weigh as configured, or
//! by those of its test scores ([`Standardize::Test`]: no labels involved) for members whose
//! training scores are degenerate — a back end whose centres are the training clips themselves
//! (the embedding system's k-means with as many centroids as clips) scores them all ~0, and a
//! tiny training spread then blows that member up until it alone decides the ranking. The ensemble's decision threshold is the
//! `percentile` quantile of its own (combined) training scores; it writes both kinds of file, so
//! an ensemble folder can itself be a member.
//!
//! The configuration is a small text file, one member per line: a weight and a folder (relative
//! to the file's folder unless absolute); `#` starts a comment.
//!
//! ```text
//! # weight  scores folder
//! 1.0  oe-gmm
//! 0.5  /runs/ae
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::detect::outputs::{
    anomaly_score_file_name, parse_anomaly_score_file_name, read_anomaly_scores,
    write_section_outputs,
};
use crate::error::{HarkError, Result};
use crate::io::atomic::write_bytes_atomically;

/// `train_score_<machine>_section_<ss>.csv`: (file name, score) of the section's training clips.
pub fn train_score_file_name(machine: &str, section: u32) -> String {
    format!("train_score_{machine}_section_{section:02}.csv")
}

/// Writes the training scores of one section into `dir`.
pub fn write_train_scores(
    dir: &Path,
    machine: &str,
    section: u32,
    scores: &[(String, f64)],
) -> Result<PathBuf> {
    let text: String = scores.iter().map(|(n, s)| format!("{n},{s}\n")).collect();
    let path = dir.join(train_score_file_name(machine, section));
    write_bytes_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// One member of an ensemble.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleMember {
    pub weight: f64,
    pub dir: PathBuf,
}

/// Parses an ensemble file (see the module docs); relative folders are taken from `base`.
pub fn parse_ensemble_config(text: &str, base: &Path) -> Result<Vec<EnsembleMember>> {
    let bad = |line: usize, detail: String| {
        HarkError::invalid("ensemble config", format!("line {line}: {detail}"))
    };
    let mut members = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (weight, dir) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(i + 1, format!("expected 'weight folder', got '{line}'")))?;
        let weight: f64 = weight
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0)
            .ok_or_else(|| {
                bad(
                    i + 1,
                    format!("weight '{weight}' is not a finite number greater than 0"),
                )
            })?;
        let dir = PathBuf::from(dir.trim());
        members.push(EnsembleMember {
            weight,
            dir: if dir.is_absolute() {
                dir
            } else {
                base.join(dir)
            },
        });
    }
    if members.is_empty() {
        return Err(HarkError::invalid("ensemble config", "no members"));
    }
    Ok(members)
}

/// Reads a config file.
pub fn read_ensemble_config(path: &Path) -> Result<Vec<EnsembleMember>> {
    let text = std::fs::read_to_string(path).map_err(|source| HarkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_ensemble_config(&text, path.parent().unwrap_or(Path::new(".")))
}

/// Mean and standard deviation (population; floored at 1e-12 so that a constant member does
/// not divide by zero) of `values`.
pub fn mean_std(values: &[f64]) -> Result<(f64, f64)> {
    if values.is_empty() {
        return Err(HarkError::invalid("ensemble", "no training scores"));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Ok((mean, var.sqrt().max(1e-12)))
}

/// The `p` quantile of `values` with linear interpolation (numpy's default).
pub fn quantile(values: &[f64], p: f64) -> Result<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&p) {
        return Err(HarkError::invalid(
            "quantile",
            format!("{} values, p = {p}", values.len()),
        ));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Ok(sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Scores keyed by clip file name.
type Scores = BTreeMap<String, f64>;

fn read_scores(path: &Path) -> Result<Scores> {
    let mut out = Scores::new();
    for (name, score) in read_anomaly_scores(path)? {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
        if out.insert(base.clone(), score).is_some() {
            return Err(HarkError::Dataset {
                path: path.display().to_string(),
                detail: format!("'{base}' is scored twice"),
            });
        }
    }
    Ok(out)
}

/// The (machine, section) pairs a member folder scores.
fn member_sections(dir: &Path) -> Result<Vec<(String, u32)>> {
    let entries = std::fs::read_dir(dir).map_err(|source| HarkError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut sections = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| HarkError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(key) = parse_anomaly_score_file_name(&name) {
            sections.push(key);
        }
    }
    sections.sort();
    Ok(sections)
}

/// Weighted sum of the members' standardised scores for the clips of `keys`; every member must
/// score exactly those clips.
fn combine(
    parts: &[(f64, Scores, (f64, f64))],
    keys: &[String],
    what: &str,
) -> Result<Vec<(String, f64)>> {
    keys.iter()
        .map(|name| {
            let mut total = 0.0;
            for (weight, scores, (mean, std)) in parts {
                let s = scores.get(name).ok_or_else(|| {
                    HarkError::invalid(
                        "ensemble",
                        format!("{what}: a member has no score for '{name}'"),
                    )
                })?;
                total += weight * (s - mean) / std;
            }
            Ok((name.clone(), total))
        })
        .collect()
}

/// Whose statistics standardise a member's scores of a section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Standardize {
    /// The mean and standard deviation of its training scores (paper 004's normalisation).
    #[default]
    Train,
    /// Those of its test scores of the section (transductive; uses no labels).
    Test,
}

/// What [`run_ensemble`] wrote for one section.
#[derive(Clone, Debug)]
pub struct EnsembleSection {
    pub machine: String,
    pub section: u32,
    pub threshold: f64,
    pub clips: usize,
}

/// Combines `members` section by section into `out_dir` (challenge CSVs and training scores).
/// Errors: members that score different sections or clips, or lack training scores.
pub fn run_ensemble(
    members: &[EnsembleMember],
    out_dir: &Path,
    percentile: f64,
    standardize: Standardize,
) -> Result<Vec<EnsembleSection>> {
    let Some(first) = members.first() else {
        return Err(HarkError::invalid("ensemble", "no members"));
    };
    let sections = member_sections(&first.dir)?;
    if sections.is_empty() {
        return Err(HarkError::Dataset {
            path: first.dir.display().to_string(),
            detail: "no anomaly_score_*.csv files".to_string(),
        });
    }
    for member in &members[1..] {
        if member_sections(&member.dir)? != sections {
            return Err(HarkError::invalid(
                "ensemble",
                format!(
                    "{} and {} score different machines or sections",
                    first.dir.display(),
                    member.dir.display()
                ),
            ));
        }
    }
    let mut written = Vec::new();
    for (machine, section) in sections {
        let mut test_parts = Vec::new();
        let mut train_parts = Vec::new();
        for member in members {
            let test = read_scores(&member.dir.join(anomaly_score_file_name(&machine, section)))?;
            let train = read_scores(&member.dir.join(train_score_file_name(&machine, section)))?;
            let reference = match standardize {
                Standardize::Train => &train,
                Standardize::Test => &test,
            };
            let values: Vec<f64> = reference.values().copied().collect();
            let stats = mean_std(&values)?;
            // A constant member would be divided by the 1e-12 floor: scores of 1e12 and more
            // that drown every other member.
            let spread = values
                .iter()
                .map(|v| (v - stats.0).abs())
                .fold(0.0, f64::max);
            if spread <= 1e-9 * stats.0.abs().max(1e-30) {
                let which = match standardize {
                    Standardize::Train => "training",
                    Standardize::Test => "test",
                };
                let advice = match standardize {
                    Standardize::Train => "; try --standardize test, or leave the member out",
                    Standardize::Test => "; leave the member out",
                };
                return Err(HarkError::Dataset {
                    path: member.dir.display().to_string(),
                    detail: format!(
                        "ensemble member's {which} scores of {machine} section {section:02} are \
                         all {}: it cannot be standardised{advice}",
                        stats.0
                    ),
                });
            }
            test_parts.push((member.weight, test, stats));
            train_parts.push((member.weight, train, stats));
        }
        let what = format!("{machine} section {section:02}");
        let test_keys: Vec<String> = test_parts[0].1.keys().cloned().collect();
        let train_keys: Vec<String> = train_parts[0].1.keys().cloned().collect();
        for (part, keys) in [(&test_parts, &test_keys), (&train_parts, &train_keys)] {
            if part.iter().any(|p| p.1.len() != keys.len()) {
                return Err(HarkError::invalid(
                    "ensemble",
                    format!("{what}: members score different numbers of clips"),
                ));
            }
        }
        let test = combine(&test_parts, &test_keys, &what)?;
        let train = combine(&train_parts, &train_keys, &what)?;
        let train_values: Vec<f64> = train.iter().map(|(_, s)| *s).collect();
        let threshold = quantile(&train_values, percentile)?;
        write_section_outputs(out_dir, &machine, section, &test, threshold)?;
        write_train_scores(out_dir, &machine, section, &train)?;
        written.push(EnsembleSection {
            machine,
            section,
            threshold,
            clips: test.len(),
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_parse_with_comments_and_relative_folders() {
        let text = "# members\n1.0 oe  # the OE system\n\n  0.5\t/abs/ae\n";
        let members = parse_ensemble_config(text, Path::new("/base")).unwrap();
        assert_eq!(
            members,
            vec![
                EnsembleMember {
                    weight: 1.0,
                    dir: PathBuf::from("/base/oe")
                },
                EnsembleMember {
                    weight: 0.5,
                    dir: PathBuf::from("/abs/ae")
                },
            ]
        );
        assert!(parse_ensemble_config("x oe", Path::new(".")).is_err());
        assert!(parse_ensemble_config("1.0", Path::new(".")).is_err());
        assert!(parse_ensemble_config("# nothing", Path::new(".")).is_err());
        assert!(parse_ensemble_config("inf oe", Path::new(".")).is_err());
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.0).unwrap(), 1.0);
        assert_eq!(quantile(&v, 1.0).unwrap(), 4.0);
        // numpy.quantile([1, 2, 3, 4], 0.9) = 3.7
        assert!((quantile(&v, 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_err());
    }
}
