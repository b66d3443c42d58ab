//! The DCASE task-2 dataset layout: `<root>/<machine>/{train,test}/<clip>.wav` with the optional
//! `attributes_<ss>.csv` beside them. Every `.wav` whose name does not parse is listed as a
//! [`Problem`], never dropped silently; [`Dataset::require_no_problems`] turns them into an error.
//! The plain layout of a user's own recordings ([`plain`]) maps onto the same structs.

pub mod clip_name;
pub mod plain;
pub mod split;
mod summary;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use clip_name::{
    parse_clip_name, sectioned_file_name, Attribute, ClipName, Domain, Label, Naming, Split,
};
pub use plain::{parse_plain_label, read_plain_dataset, PlainLayout, DEFAULT_PLAIN_MACHINE};
pub use split::{split_labelled_test_set, SplitOptions, SplitReport};
pub use summary::{Summary, SummaryKey};

use crate::error::{HarkError, Result};

/// One clip found on disk.
#[derive(Clone, Debug)]
pub struct Clip {
    pub path: PathBuf,
    /// The file name, as the challenge CSVs list it.
    pub file_name: String,
    pub machine: String,
    /// From the folder (`train/`, `test/`), else from the name; `None` when neither says.
    pub split: Option<Split>,
    pub name: ClipName,
    /// The name's attributes, or those of `attributes_<ss>.csv` when the name hides them.
    pub attributes: Vec<Attribute>,
}

/// Something in the dataset that does not follow the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.detail)
    }
}

/// The clips of one machine type.
#[derive(Clone, Debug)]
pub struct MachineDataset {
    pub machine: String,
    pub root: PathBuf,
    /// Sorted by split, then file name, so that every run lists them in the same order.
    pub clips: Vec<Clip>,
}

impl MachineDataset {
    /// The clips of `split`.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Clip> {
        self.clips.iter().filter(move |c| c.split == Some(split))
    }

    /// The section numbers present, ascending.
    pub fn sections(&self) -> Vec<u32> {
        let mut sections: Vec<u32> = self.clips.iter().map(|c| c.name.section).collect();
        sections.sort_unstable();
        sections.dedup();
        sections
    }
}

/// A dataset root: one or more machine types.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub root: PathBuf,
    pub machines: Vec<MachineDataset>,
    pub problems: Vec<Problem>,
}

impl Dataset {
    /// Fails with every problem listed when there is any.
    pub fn require_no_problems(&self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        Err(HarkError::Dataset {
            path: self.root.display().to_string(),
            detail: format!(
                "{} problem(s) in the dataset:\n  {}",
                listed.len(),
                listed.join("\n  ")
            ),
        })
    }

    /// The machine called `machine`, if present.
    pub fn machine(&self, machine: &str) -> Option<&MachineDataset> {
        self.machines.iter().find(|m| m.machine == machine)
    }
}

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The entries of `dir`, sorted by name (the OS order differs between file systems).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        entries.push(entry.map_err(|e| io_error(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

fn is_wav(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

fn is_machine_folder(dir: &Path) -> Result<bool> {
    if dir.join("train").is_dir() || dir.join("test").is_dir() {
        return Ok(true);
    }
    Ok(sorted_entries(dir)?.iter().any(|p| is_wav(p)))
}

/// Reads a dataset root. `root` may be a machine folder itself (it has `train/`, `test/` or
/// `.wav` files) or a folder of machine folders.
pub fn read_dataset(root: &Path) -> Result<Dataset> {
    if !root.is_dir() {
        return Err(HarkError::Dataset {
            path: root.display().to_string(),
            detail: "not a folder".to_string(),
        });
    }
    let mut dataset = Dataset {
        root: root.to_path_buf(),
        machines: Vec::new(),
        problems: Vec::new(),
    };
    let machine_dirs = if is_machine_folder(root)? {
        vec![root.to_path_buf()]
    } else {
        let mut dirs = Vec::new();
        for path in sorted_entries(root)? {
            if path.is_dir() && is_machine_folder(&path)? {
                dirs.push(path);
            }
        }
        dirs
    };
    if machine_dirs.is_empty() {
        return Err(HarkError::Dataset {
            path: root.display().to_string(),
            detail: "no machine folder (one with train/, test/ or .wav files) found".to_string(),
        });
    }
    for dir in machine_dirs {
        let machine = read_machine(&dir, &mut dataset.problems)?;
        dataset.machines.push(machine);
    }
    Ok(dataset)
}

/// Reads one machine folder; problems are appended to `problems`.
pub fn read_machine(dir: &Path, problems: &mut Vec<Problem>) -> Result<MachineDataset> {
    let machine = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let mut clips = Vec::new();
    let mut csv_files = Vec::new();
    let mut scan = |folder: &Path, folder_split: Option<Split>| -> Result<()> {
        for path in sorted_entries(folder)? {
            if is_wav(&path) {
                if let Some(clip) = read_clip(&path, &machine, folder_split, problems) {
                    clips.push(clip);
                }
            }
        }
        Ok(())
    };
    scan(dir, None)?;
    for split in [Split::Train, Split::Test] {
        let folder = dir.join(split.to_string());
        if folder.is_dir() {
            scan(&folder, Some(split))?;
        }
    }
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file() && name.starts_with("attributes_") && name.ends_with(".csv") {
            csv_files.push(path);
        }
    }
    for csv in csv_files {
        apply_attributes_csv(&csv, &mut clips, problems)?;
    }
    clips.sort_by(|a, b| (a.split, &a.file_name).cmp(&(b.split, &b.file_name)));
    Ok(MachineDataset {
        machine,
        root: dir.to_path_buf(),
        clips,
    })
}

fn read_clip(
    path: &Path,
    machine: &str,
    folder_split: Option<Split>,
    problems: &mut Vec<Problem>,
) -> Option<Clip> {
    let file_name = path.file_name()?.to_string_lossy().into_owned();
    let name = match parse_clip_name(&file_name) {
        Ok(name) => name,
        Err(detail) => {
            problems.push(Problem {
                path: path.to_path_buf(),
                detail: format!("malformed clip name: {detail}"),
            });
            return None;
        }
    };
    if let (Some(folder), Some(named)) = (folder_split, name.split) {
        if folder != named {
            problems.push(Problem {
                path: path.to_path_buf(),
                detail: format!("the name says split '{named}' but the clip is in '{folder}/'"),
            });
            return None;
        }
    }
    if name.split == Some(Split::Train) && name.label == Label::Anomaly {
        problems.push(Problem {
            path: path.to_path_buf(),
            detail: "an anomalous clip in the training split".to_string(),
        });
    }
    Some(Clip {
        path: path.to_path_buf(),
        split: folder_split.or(name.split),
        attributes: name.attributes.clone(),
        machine: machine.to_string(),
        file_name,
        name,
    })
}

/// Reads `attributes_<ss>.csv` (`file_name,d1p,d1v,d2p,d2v,...`, file names relative to the
/// dataset root as in DCASE 2023) and gives its attributes to clips whose names hide them. A row
/// that disagrees with a clip's name, or names no clip, is a problem.
fn apply_attributes_csv(csv: &Path, clips: &mut [Clip], problems: &mut Vec<Problem>) -> Result<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| io_error(csv, e))?;
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, clip) in clips.iter().enumerate() {
        by_name.insert(clip.file_name.as_str(), i);
    }
    let mut updates = Vec::new();
    for (line_number, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let problem = |detail: String| Problem {
            path: csv.to_path_buf(),
            detail: format!("line {}: {detail}", line_number + 1),
        };
        if fields.len() % 2 != 1 {
            problems.push(problem(format!(
                "expected file_name then (name, value) pairs, got {} fields",
                fields.len()
            )));
            continue;
        }
        let base = fields[0].rsplit('/').next().unwrap_or(fields[0]);
        let attributes: Vec<Attribute> = fields[1..]
            .chunks(2)
            .filter(|pair| !pair[0].is_empty())
            .map(|pair| Attribute {
                key: pair[0].to_string(),
                value: pair[1].to_string(),
            })
            .collect();
        match by_name.get(base) {
            None => problems.push(problem(format!(
                "lists '{base}', which is not in the dataset"
            ))),
            Some(&i) => {
                let named = &clips[i].name.attributes;
                if !named.is_empty() && *named != attributes {
                    problems.push(problem(format!(
                        "attributes of '{base}' differ from those in its name"
                    )));
                } else {
                    updates.push((i, attributes));
                }
            }
        }
    }
    for (i, attributes) in updates {
        clips[i].attributes = attributes;
    }
    Ok(())
}

/// The text of an `attributes_<ss>.csv` in the DCASE 2023 form, one row per
/// (`<machine>/<split>/<file name>`, attributes) pair.
pub fn attributes_csv(rows: &[(String, Vec<Attribute>)]) -> String {
    let width = rows.iter().map(|(_, a)| a.len()).max().unwrap_or(0);
    let mut header = vec!["file_name".to_string()];
    for i in 1..=width {
        header.push(format!("d{i}p"));
        header.push(format!("d{i}v"));
    }
    let mut out = header.join(",") + "\n";
    for (file_name, attributes) in rows {
        let mut row = vec![file_name.clone()];
        for i in 0..width {
            match attributes.get(i) {
                Some(a) => {
                    row.push(a.key.clone());
                    row.push(a.value.clone());
                }
                None => {
                    row.push(String::new());
                    row.push(String::new());
                }
            }
        }
        out += &row.join(",");
        out.push('\n');
    }
    out
}
