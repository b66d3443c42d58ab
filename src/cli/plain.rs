//! Where `hark train` and `hark score` find their clips: a DCASE dataset root (`--data`) or the
//! plain layout of a user's own recordings (`--train-dir`, `--score-dir`, `--labels`; see
//! `hark::audio::dataset::plain`), and the one score CSV a plain-layout run writes.

use std::path::{Path, PathBuf};

use clap::Args;
use hark::audio::dataset::{
    read_dataset, read_plain_dataset, Dataset, PlainLayout, DEFAULT_PLAIN_MACHINE,
};
use hark::detect::contract::SectionReport;
use hark::detect::outputs::{anomaly_score_file_name, read_anomaly_scores, write_score_csv};
use hark::HarkError;

/// The clips `hark train` learns from.
#[derive(Debug, Args)]
pub struct TrainData {
    /// Dataset root in a DCASE layout (machine folders with train/ and test/).
    #[arg(
        long,
        required_unless_present = "train_dir",
        conflicts_with = "train_dir"
    )]
    data: Option<PathBuf>,
    /// Your own recordings instead of --data: a folder of normal 16 kHz mono WAVs, any names
    /// (only the files directly in it are read).
    #[arg(long)]
    train_dir: Option<PathBuf>,
    /// With --train-dir: the name the models are saved under (`<system>_<machine>.safetensors`);
    /// `hark score` needs the same one.
    #[arg(long, default_value = DEFAULT_PLAIN_MACHINE, requires = "train_dir")]
    machine: String,
}

/// The clips `hark score` scores.
#[derive(Debug, Args)]
pub struct ScoreData {
    /// Dataset root in a DCASE layout (machine folders with train/ and test/).
    #[arg(
        long,
        required_unless_present = "score_dir",
        conflicts_with_all = ["train_dir", "score_dir", "labels"]
    )]
    data: Option<PathBuf>,
    /// Your own recordings: the folder of normal WAVs the models were trained on (its scores set
    /// the decision threshold).
    #[arg(long, requires = "score_dir")]
    train_dir: Option<PathBuf>,
    /// Your own recordings: a folder of WAVs to score, any names; --out is then the score CSV
    /// (`file_name,anomaly_score`).
    #[arg(long, requires = "train_dir")]
    score_dir: Option<PathBuf>,
    /// With --score-dir: a CSV of `file_name,label` rows (label normal/anomaly or 0/1) for every
    /// clip to score; AUC and pAUC are then printed.
    #[arg(long, requires = "score_dir")]
    labels: Option<PathBuf>,
    /// With --score-dir: the name given to `hark train --machine`.
    #[arg(long, default_value = DEFAULT_PLAIN_MACHINE, requires = "score_dir")]
    machine: String,
}

/// Reads the dataset and fails on any problem in it.
fn checked(dataset: Dataset) -> hark::Result<Dataset> {
    dataset.require_no_problems()?;
    Ok(dataset)
}

impl TrainData {
    /// The paths read, with their flags (outputs must stay apart from them).
    pub fn inputs(&self) -> Vec<(&'static str, &Path)> {
        let mut inputs = Vec::new();
        if let Some(data) = &self.data {
            inputs.push(("--data", data.as_path()));
        }
        if let Some(dir) = &self.train_dir {
            inputs.push(("--train-dir", dir.as_path()));
        }
        inputs
    }

    /// The checked dataset.
    pub fn dataset(&self) -> hark::Result<Dataset> {
        match (&self.data, &self.train_dir) {
            (_, Some(train_dir)) => checked(read_plain_dataset(&PlainLayout {
                machine: self.machine.clone(),
                train_dir: train_dir.clone(),
                score_dir: None,
                labels: None,
            })?),
            (Some(data), None) => checked(read_dataset(data)?),
            (None, None) => Err(HarkError::invalid(
                "hark train",
                "give --data or --train-dir",
            )),
        }
    }
}

impl ScoreData {
    /// The paths read, with their flags (outputs must stay apart from them).
    pub fn inputs(&self) -> Vec<(&'static str, &Path)> {
        [
            ("--data", &self.data),
            ("--train-dir", &self.train_dir),
            ("--score-dir", &self.score_dir),
            ("--labels", &self.labels),
        ]
        .into_iter()
        .filter_map(|(flag, path)| path.as_deref().map(|p| (flag, p)))
        .collect()
    }

    /// Whether the clips come from the plain layout (so `--out` is one CSV file).
    pub fn is_plain(&self) -> bool {
        self.score_dir.is_some()
    }

    /// The checked dataset.
    pub fn dataset(&self) -> hark::Result<Dataset> {
        match (&self.data, &self.train_dir, &self.score_dir) {
            (_, Some(train_dir), Some(score_dir)) => checked(read_plain_dataset(&PlainLayout {
                machine: self.machine.clone(),
                train_dir: train_dir.clone(),
                score_dir: Some(score_dir.clone()),
                labels: self.labels.clone(),
            })?),
            (Some(data), None, None) => checked(read_dataset(data)?),
            _ => Err(HarkError::invalid(
                "hark score",
                "give --data, or --train-dir with --score-dir",
            )),
        }
    }
}

/// Runs `score_into` (which writes the challenge CSVs into the folder it is given) in a
/// temporary folder beside `out`, then writes the test scores of the plain layout's one machine
/// type and section to `out` as `file_name,anomaly_score` (atomically) and removes the folder.
/// Prints the decision threshold and, where labels were given, AUC and pAUC.
pub fn score_to_csv(
    dataset: &Dataset,
    out: &Path,
    percentile: f64,
    score_into: impl FnOnce(&Path) -> hark::Result<Vec<SectionReport>>,
) -> hark::Result<()> {
    if out.is_dir() {
        return Err(HarkError::invalid(
            "hark score",
            format!(
                "--out {} is a folder; with --score-dir it names the score CSV file",
                out.display()
            ),
        ));
    }
    let machine = match dataset.machines.as_slice() {
        [machine] => machine.machine.clone(),
        _ => {
            return Err(HarkError::invalid(
                "hark score",
                "the plain layout has exactly one machine type",
            ))
        }
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| HarkError::invalid("hark score", "--out needs a file name"))?;
    let staging = parent.join(format!(".{name}.{}.scoring", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|source| HarkError::Io {
        path: staging.display().to_string(),
        source,
    })?;
    let result = (|| {
        let reports = score_into(&staging)?;
        let scores = read_anomaly_scores(&staging.join(anomaly_score_file_name(&machine, 0)))?;
        write_score_csv(out, &scores)?;
        Ok((reports, scores))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    let (reports, scores) = result?;
    println!("{} clips scored -> {}", scores.len(), out.display());
    for report in &reports {
        let above = scores.iter().filter(|(_, s)| *s > report.threshold).count();
        println!(
            "decision threshold {:.6} (the {percentile} quantile of a gamma fitted to the training \
             clips' scores): {above} of {} clips above it",
            report.threshold,
            scores.len()
        );
        if let Some(metrics) = &report.metrics {
            for domain in &metrics.domains {
                println!("AUC  {:.4}", domain.auc);
            }
            println!("pAUC {:.4} (false-positive rate up to 0.1)", metrics.pauc);
        }
    }
    Ok(())
}
