//! A trainable dataset from a labelled test set: some normal test clips of every section and
//! domain become training clips, the rest and every anomaly stay test clips. For collections that
//! hold only test clips (the real DCASE clips in `../shared/data/real`, a customer's labelled
//! recordings), so that the systems can be trained and scored on real sound.
//!
//! The new dataset links to the original files (symbolic links; copies where the platform has
//! none) under DCASE names: training clips are renamed `section_SS_<domain>_train_normal_NNNN_...`
//! (DCASE 2020 names, which carry no split, keep theirs under `train/`). It is written to a
//! temporary folder beside `out` and renamed at the end, so a failure leaves nothing half-made.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::{sectioned_file_name, Clip, Dataset, Domain, Label, Naming, Split};
use crate::error::{HarkError, Result};
use crate::testing::SeededRng;

/// How to split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitOptions {
    /// Share of each (section, domain) group's normal clips that become training clips (at
    /// least one normal clip of a group stays in the test set).
    pub train_fraction: f64,
    /// Seeds which normal clips are picked.
    pub seed: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            train_fraction: 0.5,
            seed: 0,
        }
    }
}

/// What [`split_labelled_test_set`] wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitReport {
    /// `(machine, training clips, test clips)` of each machine type written.
    pub machines: Vec<(String, usize, usize)>,
    /// `(machine, why)` of each machine type left out.
    pub skipped: Vec<(String, String)>,
}

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A link at `link` to `target` (a copy without symbolic links).
fn link(target: &Path, link: &Path) -> Result<()> {
    let target = std::fs::canonicalize(target).map_err(|e| io_error(target, e))?;
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(&target, link);
    #[cfg(not(unix))]
    let made = std::fs::copy(&target, link).map(|_| ());
    made.map_err(|e| io_error(link, e))
}

/// A clip's place in the split: its file name under `train/` or `test/`.
fn train_name(clip: &Clip) -> String {
    match clip.name.naming {
        Naming::Sectioned => sectioned_file_name(
            clip.name.section,
            clip.name.domain.unwrap_or(Domain::Source),
            Split::Train,
            Label::Normal,
            clip.name.index,
            &clip.name.attributes,
        ),
        // 2020 names carry no split: the folder says it.
        _ => clip.file_name.clone(),
    }
}

/// Writes a dataset at `out` (which must not exist) from `dataset`: per machine type, a
/// `train_fraction` of the normal test clips of each (section, domain) group, picked by `seed`,
/// become training clips; clips already in `train/` stay training clips. Clips without a split
/// in their folder or name (DCASE 2020 names outside `train/` / `test/`) count as test clips.
/// Machine types left without a training clip, or without a labelled test clip, are skipped
/// and reported.
pub fn split_labelled_test_set(
    dataset: &Dataset,
    out: &Path,
    options: &SplitOptions,
) -> Result<SplitReport> {
    if !(0.0..1.0).contains(&options.train_fraction) || options.train_fraction.is_nan() {
        return Err(HarkError::invalid(
            "data split",
            format!(
                "train fraction {} (need at least 0 and below 1)",
                options.train_fraction
            ),
        ));
    }
    if out.exists() {
        return Err(HarkError::Dataset {
            path: out.display().to_string(),
            detail: "already exists; the split writes a new folder".to_string(),
        });
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| HarkError::invalid("data split", "--out needs a folder name"))?;
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    let staging = parent.join(format!(".{file_name}.partial-{}", std::process::id()));
    let result = write_split(dataset, &staging, options);
    match result {
        Ok(report) if !report.machines.is_empty() => {
            std::fs::rename(&staging, out).map_err(|e| io_error(out, e))?;
            Ok(report)
        }
        Ok(report) => {
            let _ = std::fs::remove_dir_all(&staging);
            let why: Vec<String> = report
                .skipped
                .iter()
                .map(|(m, w)| format!("{m}: {w}"))
                .collect();
            Err(HarkError::Dataset {
                path: dataset.root.display().to_string(),
                detail: format!("no machine type could be split ({})", why.join("; ")),
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn write_split(dataset: &Dataset, root: &Path, options: &SplitOptions) -> Result<SplitReport> {
    let mut report = SplitReport::default();
    let mut rng = SeededRng::new(options.seed ^ 0x5b1);
    for machine in &dataset.machines {
        let is_test = |c: &&Clip| c.split != Some(Split::Train);
        let labelled: Vec<&Clip> = machine
            .clips
            .iter()
            .filter(is_test)
            .filter(|c| c.name.label != Label::Unknown)
            .collect();
        let mut train: Vec<&Clip> = machine.split(Split::Train).collect();
        let existing_train = train.len();
        // Normal test clips per (section, domain), in file-name order, then shuffled by seed.
        let mut groups: BTreeMap<(u32, Option<Domain>), Vec<&Clip>> = BTreeMap::new();
        for clip in labelled.iter().filter(|c| c.name.label == Label::Normal) {
            groups
                .entry((clip.name.section, clip.name.domain))
                .or_default()
                .push(clip);
        }
        let mut moved: HashSet<&Path> = HashSet::new();
        for group in groups.values_mut() {
            for i in (1..group.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                group.swap(i, j);
            }
            let take = ((options.train_fraction * group.len() as f64).round() as usize)
                .min(group.len().saturating_sub(1));
            for clip in &group[..take] {
                moved.insert(&clip.path);
                train.push(clip);
            }
        }
        let test: Vec<&Clip> = labelled
            .iter()
            .filter(|c| !moved.contains(c.path.as_path()))
            .copied()
            .collect();
        if train.is_empty() {
            report.skipped.push((
                machine.machine.clone(),
                "no section and domain has 2 or more normal clips".to_string(),
            ));
            continue;
        }
        if test.is_empty() {
            report
                .skipped
                .push((machine.machine.clone(), "no labelled test clip".to_string()));
            continue;
        }
        let dir = root.join(&machine.machine);
        for (split, clips) in [("train", &train), ("test", &test)] {
            let folder = dir.join(split);
            std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
            for (i, clip) in clips.iter().enumerate() {
                let name = if split == "train" && i >= existing_train {
                    train_name(clip)
                } else {
                    clip.file_name.clone()
                };
                let destination = folder.join(&name);
                if destination.exists() {
                    return Err(HarkError::Dataset {
                        path: clip.path.display().to_string(),
                        detail: format!("two clips would both be {}", destination.display()),
                    });
                }
                link(&clip.path, &destination)?;
            }
        }
        // The attribute tables of DCASE 2023+ (names that hide attributes need them).
        for entry in std::fs::read_dir(&machine.root).map_err(|e| io_error(&machine.root, e))? {
            let path = entry.map_err(|e| io_error(&machine.root, e))?.path();
            let is_table = path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("attributes_") && n.ends_with(".csv")
            });
            if is_table {
                let name: PathBuf = path.file_name().map(PathBuf::from).unwrap_or_default();
                link(&path, &dir.join(name))?;
            }
        }
        report
            .machines
            .push((machine.machine.clone(), train.len(), test.len()));
    }
    Ok(report)
}
