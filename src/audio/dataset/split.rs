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
use std::path::Path;

use super::{
    attributes_csv, sectioned_file_name, Attribute, Clip, Dataset, Domain, Label, Naming, Split,
};
use crate::error::{HarkError, Result};
use crate::rng::SeededRng;

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
    /// Test clips without a label (evaluation names), left out.
    pub unlabelled: usize,
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

/// The training-clip file name of a moved test clip, with clip index `index`.
fn train_name(clip: &Clip, index: u32) -> String {
    match clip.name.naming {
        Naming::Sectioned => sectioned_file_name(
            clip.name.section,
            clip.name.domain.unwrap_or(Domain::Source),
            Split::Train,
            Label::Normal,
            index,
            &clip.name.attributes,
        ),
        // DCASE 2020: the split is the folder's.
        _ => format!("normal_id_{:02}_{index:08}.wav", clip.name.section),
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
            if let Err(e) = std::fs::rename(&staging, out) {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(io_error(out, e));
            }
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

/// The sections `attributes_<ss>.csv` files in `dir` are for.
fn attribute_table_sections(dir: &Path) -> Result<Vec<u32>> {
    let mut sections = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let name = entry.map_err(|e| io_error(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if let Some(section) = name
            .strip_prefix("attributes_")
            .and_then(|rest| rest.strip_suffix(".csv"))
            .and_then(|ss| ss.parse::<u32>().ok())
        {
            sections.push(section);
        }
    }
    sections.sort_unstable();
    Ok(sections)
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
        report.unlabelled += machine
            .clips
            .iter()
            .filter(is_test)
            .filter(|c| c.name.label == Label::Unknown)
            .count();
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
            let why = if groups.values().any(|g| g.len() >= 2) {
                format!(
                    "a train fraction of {} picks none of its normal clips",
                    options.train_fraction
                )
            } else {
                "no section and domain has 2 or more normal clips".to_string()
            };
            report.skipped.push((machine.machine.clone(), why));
            continue;
        }
        if test.is_empty() {
            report
                .skipped
                .push((machine.machine.clone(), "no labelled test clip".to_string()));
            continue;
        }
        let dir = root.join(&machine.machine);
        // Moved clips keep their index unless the section already has training clips; then
        // they are numbered after the highest one, so that no name is taken twice.
        let mut next_index: BTreeMap<u32, u32> = BTreeMap::new();
        for clip in &train[..existing_train] {
            let next = next_index.entry(clip.name.section).or_insert(0);
            *next = (*next).max(clip.name.index + 1);
        }
        let mut names: Vec<(Split, String, &Clip)> = Vec::new();
        for (i, clip) in train.iter().enumerate() {
            let name = if i < existing_train {
                clip.file_name.clone()
            } else {
                let index = match next_index.get_mut(&clip.name.section) {
                    Some(next) => {
                        *next += 1;
                        *next - 1
                    }
                    None => clip.name.index,
                };
                train_name(clip, index)
            };
            names.push((Split::Train, name, clip));
        }
        names.extend(test.iter().map(|c| (Split::Test, c.file_name.clone(), *c)));
        for (split, name, clip) in &names {
            let folder = dir.join(split.to_string());
            std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
            let destination = folder.join(name);
            if destination.exists() {
                return Err(HarkError::Dataset {
                    path: clip.path.display().to_string(),
                    detail: format!("two clips would both be {}", destination.display()),
                });
            }
            link(&clip.path, &destination)?;
        }
        // Attribute tables (DCASE 2023+; names that hide attributes need them): written anew
        // for the new names, one per section the original had one for.
        for section in attribute_table_sections(&machine.root)? {
            let rows: Vec<(String, Vec<Attribute>)> = names
                .iter()
                .filter(|(_, _, c)| c.name.section == section)
                .map(|(split, name, c)| {
                    (
                        format!("{}/{split}/{name}", machine.machine),
                        c.attributes.clone(),
                    )
                })
                .collect();
            let path = dir.join(format!("attributes_{section:02}.csv"));
            std::fs::write(&path, attributes_csv(&rows)).map_err(|e| io_error(&path, e))?;
        }
        report
            .machines
            .push((machine.machine.clone(), train.len(), test.len()));
    }
    Ok(report)
}
