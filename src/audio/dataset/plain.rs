//! The plain layout, for a user's own recordings: a folder of normal training WAVs, a folder of
//! WAVs to score (any file names) and an optional `file_name,label` CSV. [`read_plain_dataset`]
//! maps it onto a one-machine, one-section [`Dataset`] (source domain, section 00) so that every
//! system trains and scores it exactly as it does a DCASE machine type.
//!
//! Only the files directly in each folder are read: a subfolder holding `.wav` files is a
//! [`Problem`] (its clips are not dropped silently), other subfolders and non-`.wav` files are
//! ignored as the DCASE reader ignores them. Each clip's header is checked here (rate, channels,
//! format, not empty), so that a bad file stops the run before any training.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    io_error, sorted_entries, Clip, ClipName, Dataset, Domain, Label, MachineDataset, Naming,
    Problem, Split,
};
use crate::audio::walk::wav_files_once;
use crate::audio::wav::{check_wav_header, WavOptions};
use crate::error::{HarkError, Result};

/// The machine-type name given to plain-layout clips when none is chosen. It names the saved
/// models (`<system>_<machine>.safetensors`), so training and scoring must use the same one.
pub const DEFAULT_PLAIN_MACHINE: &str = "machine";

/// Where a plain layout's files are.
#[derive(Clone, Debug)]
pub struct PlainLayout {
    /// The machine-type name the clips are filed under (see [`DEFAULT_PLAIN_MACHINE`]).
    pub machine: String,
    /// Normal recordings to learn from.
    pub train_dir: PathBuf,
    /// Recordings to score; `None` when only training.
    pub score_dir: Option<PathBuf>,
    /// `file_name,label` for the clips of `score_dir` (label `normal`/`anomaly` or `0`/`1`); when
    /// given, every clip to score needs a label and both labels must occur, so that AUC and pAUC
    /// are defined.
    pub labels: Option<PathBuf>,
}

/// A label of the labels CSV: `normal`/`0` or `anomaly`/`anomalous`/`1` (any case).
pub fn parse_plain_label(text: &str) -> Option<Label> {
    match text.trim().to_ascii_lowercase().as_str() {
        "normal" | "0" => Some(Label::Normal),
        "anomaly" | "anomalous" | "1" => Some(Label::Anomaly),
        _ => None,
    }
}

/// Reads the plain layout into a [`Dataset`] with one machine type: the clips of `train_dir` are
/// normal training clips, those of `score_dir` test clips (labelled from `labels`, else
/// [`Label::Unknown`]), all in section 00 of the source domain, each keeping its own file name.
/// A missing or WAV-less folder is an error; bad files, subfolders with clips and bad label
/// rows are [`Problem`]s, which [`Dataset::require_no_problems`] turns into one error.
pub fn read_plain_dataset(layout: &PlainLayout) -> Result<Dataset> {
    if layout.machine.is_empty()
        || layout
            .machine
            .contains(|c: char| c == '/' || c == '\\' || c.is_control())
    {
        return Err(HarkError::invalid(
            "plain layout",
            format!(
                "machine name '{}' must be non-empty, without slashes (it names the model files)",
                layout.machine
            ),
        ));
    }
    let mut problems = Vec::new();
    let mut clips = read_folder(
        &layout.train_dir,
        Split::Train,
        &layout.machine,
        &mut problems,
    )?;
    if let Some(score_dir) = &layout.score_dir {
        let mut test = read_folder(score_dir, Split::Test, &layout.machine, &mut problems)?;
        if let Some(labels) = &layout.labels {
            apply_labels_csv(labels, score_dir, &mut test, &mut problems)?;
        }
        clips.extend(test);
    } else if let Some(labels) = &layout.labels {
        return Err(HarkError::invalid(
            "plain layout",
            format!(
                "labels {} given without a folder of clips to score",
                labels.display()
            ),
        ));
    }
    Ok(Dataset {
        root: layout.train_dir.clone(),
        machines: vec![MachineDataset {
            machine: layout.machine.clone(),
            root: layout.train_dir.clone(),
            clips,
        }],
        problems,
    })
}

/// The clips directly in `dir`, sorted by file name.
fn read_folder(
    dir: &Path,
    split: Split,
    machine: &str,
    problems: &mut Vec<Problem>,
) -> Result<Vec<Clip>> {
    if !dir.is_dir() {
        return Err(HarkError::Dataset {
            path: dir.display().to_string(),
            detail: "not a folder".to_string(),
        });
    }
    let problems_before = problems.len();
    let mut clips = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            // A link to a folder is not descended into (the layout reads no subfolder, and
            // `self -> .` would count the folder's own clips).
            let is_link = path.symlink_metadata().is_ok_and(|m| m.is_symlink());
            let nested = if is_link {
                0
            } else {
                wav_files_once(&path)?.files.len()
            };
            if nested > 0 {
                problems.push(Problem {
                    path,
                    detail: format!(
                        "a subfolder holding {nested} .wav file(s); the plain layout reads only \
                         the files directly in the folder (move them up, or give the subfolder)"
                    ),
                });
            }
            continue;
        }
        if !super::is_wav(&path) {
            continue;
        }
        let Some(file_name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            problems.push(Problem {
                path,
                detail: "the file name is not valid UTF-8, so the score CSV cannot name it"
                    .to_string(),
            });
            continue;
        };
        if file_name.contains(['\n', '\r']) {
            problems.push(Problem {
                path,
                detail: "the file name holds a line break, so the score CSV cannot name it"
                    .to_string(),
            });
            continue;
        }
        if let Err(e) = check_wav_header(&path, &WavOptions::default()) {
            let detail = match e {
                HarkError::Wav { reason, .. } => reason,
                other => other.to_string(),
            };
            problems.push(Problem { path, detail });
            continue;
        }
        let label = match split {
            Split::Train => Label::Normal,
            Split::Test => Label::Unknown,
        };
        clips.push(Clip {
            path,
            file_name,
            machine: machine.to_string(),
            split: Some(split),
            name: ClipName {
                naming: Naming::Sectioned,
                section: 0,
                domain: Some(Domain::Source),
                split: Some(split),
                label,
                index: clips.len() as u32,
                attributes: Vec::new(),
            },
            attributes: Vec::new(),
        });
    }
    if clips.is_empty() && problems.len() == problems_before {
        return Err(HarkError::Dataset {
            path: dir.display().to_string(),
            detail: format!("no .wav files in the folder (the {split} clips of the plain layout)"),
        });
    }
    Ok(clips)
}

/// Labels `clips` (the clips of `score_dir`) from the CSV at `csv`: an optional `file_name,label`
/// header, then one `file_name,label` row per clip. The label is the last field, so file names
/// may hold commas; a leading folder on the name is dropped. Unknown names, repeated names, bad
/// labels, unlabelled clips and a single label class are problems naming the line.
fn apply_labels_csv(
    csv: &Path,
    score_dir: &Path,
    clips: &mut [Clip],
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| io_error(csv, e))?;
    let by_name: BTreeMap<String, usize> = clips
        .iter()
        .enumerate()
        .map(|(i, c)| (c.file_name.clone(), i))
        .collect();
    let mut labelled: BTreeMap<usize, usize> = BTreeMap::new();
    let problem = |line: usize, detail: String| Problem {
        path: csv.to_path_buf(),
        detail: format!("line {line}: {detail}"),
    };
    for (i, line) in text.lines().enumerate() {
        let line_number = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, label)) = line.rsplit_once(',') else {
            problems.push(problem(
                line_number,
                format!("expected 'file_name,label', got '{line}'"),
            ));
            continue;
        };
        let name = name.trim().trim_matches('"');
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        if line_number == 1 && name.eq_ignore_ascii_case("file_name") {
            continue;
        }
        let Some(label) = parse_plain_label(label) else {
            problems.push(problem(
                line_number,
                format!("label '{}' is not normal, anomaly, 0 or 1", label.trim()),
            ));
            continue;
        };
        let Some(&clip) = by_name.get(name) else {
            problems.push(problem(
                line_number,
                format!(
                    "'{name}' is not a .wav file of {} (the clips to score)",
                    score_dir.display()
                ),
            ));
            continue;
        };
        match labelled.entry(clip) {
            Entry::Occupied(first) => problems.push(problem(
                line_number,
                format!("'{name}' is labelled twice (first on line {})", first.get()),
            )),
            Entry::Vacant(slot) => {
                slot.insert(line_number);
                clips[clip].name.label = label;
            }
        }
    }
    let unlabelled: Vec<&str> = clips
        .iter()
        .filter(|c| c.name.label == Label::Unknown)
        .map(|c| c.file_name.as_str())
        .collect();
    if !unlabelled.is_empty() {
        let shown: Vec<&str> = unlabelled.iter().take(5).copied().collect();
        let more = if unlabelled.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        problems.push(Problem {
            path: csv.to_path_buf(),
            detail: format!(
                "no label for {} of the {} clips to score ({}{more})",
                unlabelled.len(),
                clips.len(),
                shown.join(", ")
            ),
        });
    } else {
        for (label, other) in [
            (Label::Normal, Label::Anomaly),
            (Label::Anomaly, Label::Normal),
        ] {
            if !clips.is_empty() && clips.iter().all(|c| c.name.label == label) {
                problems.push(Problem {
                    path: csv.to_path_buf(),
                    detail: format!(
                        "every clip is labelled {label}; AUC and pAUC need at least one {other} \
                         clip too"
                    ),
                });
            }
        }
    }
    Ok(())
}
