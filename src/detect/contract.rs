//! The scoring contract every hark system implements: learn from a machine type's `train/` clips,
//! score `test/` clips (higher = more anomalous). [`run_system`] then writes the challenge CSVs and
//! computes the metrics, and [`evaluate_score_files`] recomputes them from any system's CSVs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::audio::dataset::{Clip, Dataset, Label, MachineDataset, Split};
use crate::detect::ensemble::write_train_scores;
use crate::detect::metrics::{ScoredClip, SectionMetrics};
use crate::detect::outputs::{
    decision_threshold, parse_anomaly_score_file_name, read_anomaly_scores, write_section_outputs,
};
use crate::error::{HarkError, Result};

/// An anomalous-sound detector. Systems differ only in their model and back end; the driver
/// around them ([`run_system`]) is shared.
pub trait AnomalyScorer {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Learns normal behaviour from the training clips of one machine type (all its sections).
    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()>;

    /// Anomaly scores of `clips`, in order; higher means more anomalous.
    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>>;
}

/// What [`run_system`] did for one section.
#[derive(Clone, Debug)]
pub struct SectionReport {
    pub machine: String,
    pub section: u32,
    pub threshold: f64,
    /// `None` when the test labels are hidden (evaluation sets).
    pub metrics: Option<SectionMetrics>,
}

fn section_groups<'a>(clips: impl Iterator<Item = &'a Clip>) -> BTreeMap<u32, Vec<&'a Clip>> {
    let mut groups: BTreeMap<u32, Vec<&Clip>> = BTreeMap::new();
    for clip in clips {
        groups.entry(clip.name.section).or_default().push(clip);
    }
    groups
}

/// Trains `scorer` on each machine type of `dataset`, scores its test clips, writes the two
/// challenge CSVs per section into `out_dir` (threshold: the `percentile` of a gamma fitted to the
/// section's training scores) and the training scores (`train_score_<machine>_section_<ss>.csv`,
/// for ensembles), and computes each section's metrics where labels are known.
pub fn run_system(
    scorer: &mut dyn AnomalyScorer,
    dataset: &Dataset,
    out_dir: &Path,
    percentile: f64,
) -> Result<Vec<SectionReport>> {
    let mut reports = Vec::new();
    for machine in &dataset.machines {
        let train: Vec<&Clip> = machine.split(Split::Train).collect();
        if train.is_empty() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: "no training clips".to_string(),
            });
        }
        scorer.train(machine, &train)?;
        let train_by_section = section_groups(train.iter().copied());
        for (section, test) in section_groups(machine.split(Split::Test)) {
            let section_train =
                train_by_section
                    .get(&section)
                    .ok_or_else(|| HarkError::Dataset {
                        path: machine.root.display().to_string(),
                        detail: format!(
                            "section {section:02} has test clips but no training clips"
                        ),
                    })?;
            let train_scores = scorer.score(section_train)?;
            check_training_scores(machine, section, section_train, &train_scores)?;
            let threshold = decision_threshold(&train_scores, percentile)?;
            // Beside the challenge CSVs, for score-level ensembles (crate::detect::ensemble).
            let named_train: Vec<(String, f64)> = section_train
                .iter()
                .zip(&train_scores)
                .map(|(c, &s)| (c.file_name.clone(), s))
                .collect();
            write_train_scores(out_dir, &machine.machine, section, &named_train)?;
            let scores = scorer.score(&test)?;
            let named: Vec<(String, f64)> = test
                .iter()
                .zip(&scores)
                .map(|(c, &s)| (c.file_name.clone(), s))
                .collect();
            write_section_outputs(out_dir, &machine.machine, section, &named, threshold)?;
            let metrics = if test.iter().all(|c| c.name.label != Label::Unknown) {
                let scored: Vec<ScoredClip> = test
                    .iter()
                    .zip(&scores)
                    .map(|(c, &score)| ScoredClip {
                        domain: c.name.domain,
                        is_anomaly: c.name.label == Label::Anomaly,
                        score,
                    })
                    .collect();
                Some(SectionMetrics::compute(&machine.machine, section, &scored)?)
            } else {
                None
            };
            reports.push(SectionReport {
                machine: machine.machine.clone(),
                section,
                threshold,
                metrics,
            });
        }
    }
    Ok(reports)
}

/// Refuses training scores that cannot set a threshold: not finite, or all equal with silent or
/// constant clips among the training clips (the error names them).
fn check_training_scores(
    machine: &MachineDataset,
    section: u32,
    clips: &[&Clip],
    scores: &[f64],
) -> Result<()> {
    let where_ = format!("{} section {section:02}", machine.machine);
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(HarkError::Dataset {
            path: clips[i].path.display().to_string(),
            detail: format!(
                "training score {} of {where_} is not finite (a NaN or Inf in the model or \
                 features)",
                scores[i]
            ),
        });
    }
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if scores.len() < 2 || hi - lo > 1e-9 * hi.abs().max(lo.abs()).max(1e-30) {
        return Ok(());
    }
    // Equal scores alone can be right (a back end whose memory holds the training clips scores
    // them all 0); with silent or constant clips among them, the threshold is meaningless.
    let constant = constant_clips(clips)?;
    if constant.is_empty() {
        return Ok(());
    }
    Err(HarkError::Dataset {
        path: machine.root.display().to_string(),
        detail: format!(
            "all {} training scores of {where_} equal {lo}, so no decision threshold can be set; \
             {} of its training clips are silent or constant: {}",
            scores.len(),
            constant.len(),
            name_some(&constant)
        ),
    })
}

/// Up to five paths, then how many more.
pub fn name_some(paths: &[std::path::PathBuf]) -> String {
    let mut listed: Vec<String> = paths
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > 5 {
        listed.push(format!("and {} more", paths.len() - 5));
    }
    listed.join(", ")
}

/// The clips among `clips` whose samples are all equal (silence, or a constant offset): they
/// carry no sound to learn from.
pub fn constant_clips(clips: &[&Clip]) -> Result<Vec<std::path::PathBuf>> {
    let mut constant = Vec::new();
    for clip in clips {
        let samples = read_wav_samples(&clip.path)?;
        let first = samples.first().copied().unwrap_or(0.0);
        if samples.iter().all(|&s| s == first) {
            constant.push(clip.path.clone());
        }
    }
    Ok(constant)
}

/// One evaluated section: its metrics and the scored clips they came from (for plots).
#[derive(Clone, Debug)]
pub struct EvaluatedSection {
    pub metrics: SectionMetrics,
    pub clips: Vec<ScoredClip>,
}

/// Recomputes the metrics from every `anomaly_score_*.csv` in `scores_dir`, matching file names
/// to the labelled test clips of `dataset`. A score file for an unknown machine, a listed clip
/// that is not in the test set, or a test clip without a score is an error.
pub fn evaluate_score_files(scores_dir: &Path, dataset: &Dataset) -> Result<Vec<EvaluatedSection>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(scores_dir).map_err(|source| HarkError::Io {
        path: scores_dir.display().to_string(),
        source,
    })? {
        let path = entry
            .map_err(|source| HarkError::Io {
                path: scores_dir.display().to_string(),
                source,
            })?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("anomaly_score_") {
            let (machine, section) =
                parse_anomaly_score_file_name(&name).ok_or_else(|| HarkError::Dataset {
                    path: path.display().to_string(),
                    detail: "expected anomaly_score_<machine>_section_<ss>_test.csv".to_string(),
                })?;
            files.push((machine, section, path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(HarkError::Dataset {
            path: scores_dir.display().to_string(),
            detail: "no anomaly_score_*.csv files".to_string(),
        });
    }
    let mut sections = Vec::new();
    for (machine_name, section, path) in files {
        let dataset_error = |detail: String| HarkError::Dataset {
            path: path.display().to_string(),
            detail,
        };
        let machine = dataset.machine(&machine_name).ok_or_else(|| {
            dataset_error(format!("machine '{machine_name}' is not in the dataset"))
        })?;
        let test: BTreeMap<&str, &Clip> = machine
            .clips
            .iter()
            .filter(|c| c.split != Some(Split::Train) && c.name.section == section)
            .map(|c| (c.file_name.as_str(), c))
            .collect();
        let mut clips = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, score) in read_anomaly_scores(&path)? {
            // Some systems write paths; the clip is known by its file name.
            let base = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
            let clip = test.get(base.as_str()).ok_or_else(|| {
                dataset_error(format!(
                    "'{base}' is not a test clip of section {section:02}"
                ))
            })?;
            if clip.name.label == Label::Unknown {
                return Err(dataset_error(format!(
                    "'{base}' has no label in its name (evaluation set); cannot evaluate"
                )));
            }
            if !seen.insert(base.clone()) {
                return Err(dataset_error(format!("'{base}' is scored twice")));
            }
            clips.push(ScoredClip {
                domain: clip.name.domain,
                is_anomaly: clip.name.label == Label::Anomaly,
                score,
            });
        }
        let missing = test.len() - seen.len();
        if missing > 0 {
            return Err(dataset_error(format!(
                "{missing} of {} test clips of section {section:02} have no score",
                test.len()
            )));
        }
        let metrics = SectionMetrics::compute(&machine_name, section, &clips)?;
        sections.push(EvaluatedSection { metrics, clips });
    }
    Ok(sections)
}

/// Reads a DCASE clip (16 kHz mono) with hark's checked WAV reader.
pub fn read_wav_samples(path: &Path) -> Result<Vec<f32>> {
    crate::audio::wav::read_wav(path, &crate::audio::wav::WavOptions::default())
}

/// The simplest detector: how far a clip's log energy lies from the mean log energy of its
/// section's training clips, in training standard deviations. It sees loudness only, which is
/// what the synthetic data's difficulty is measured against.
#[derive(Clone, Debug, Default)]
pub struct EnergyScorer {
    /// Section -> (mean, standard deviation) of training log energy.
    section_stats: BTreeMap<u32, (f64, f64)>,
}

fn log_energy(clip: &Clip) -> Result<f64> {
    let samples = read_wav_samples(&clip.path)?;
    let power =
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    Ok(10.0 * (power + 1e-12).log10())
}

impl AnomalyScorer for EnergyScorer {
    fn name(&self) -> &str {
        "energy"
    }

    fn train(&mut self, _machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        self.section_stats.clear();
        for (section, clips) in section_groups(train_clips.iter().copied()) {
            let energies = clips
                .iter()
                .map(|c| log_energy(c))
                .collect::<Result<Vec<f64>>>()?;
            let n = energies.len() as f64;
            let mean = energies.iter().sum::<f64>() / n;
            let variance = energies.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
            // A floor keeps one-clip or silent sections from dividing by zero.
            self.section_stats
                .insert(section, (mean, variance.sqrt().max(1e-3)));
        }
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        clips
            .iter()
            .map(|clip| {
                let (mean, std) = self
                    .section_stats
                    .get(&clip.name.section)
                    .copied()
                    .ok_or_else(|| HarkError::Dataset {
                        path: clip.path.display().to_string(),
                        detail: format!(
                            "section {:02} was not in the training data",
                            clip.name.section
                        ),
                    })?;
                Ok((log_energy(clip)? - mean).abs() / std)
            })
            .collect()
    }
}
