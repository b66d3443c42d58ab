//! Where a command's outputs may go: [`check_apart`] refuses an output path that is, contains or
//! lies inside one of the command's inputs (links resolved), and [`StagedDir`] writes a folder
//! of outputs into a new temporary folder beside its target, moving the files into place only
//! when every one of them was written, so that a failed run leaves the old outputs as they were.

use std::path::{Component, Path, PathBuf};

use crate::error::{HarkError, Result};

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `path` made absolute with every link resolved, also when its last components do not exist
/// yet (they are appended to the resolved part that does, `..` taken lexically).
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other.as_os_str()),
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses `output` (a flag and its path) when it is, contains or lies inside any of `inputs`
/// (flag, path): writing there could overwrite or mix with what the command reads. The error
/// names both flags and paths.
pub fn check_apart(
    command: &'static str,
    output: (&str, &Path),
    inputs: &[(&str, &Path)],
) -> Result<()> {
    let (out_flag, out_path) = output;
    let out = resolved(out_path);
    for (in_flag, in_path) in inputs {
        let input = resolved(in_path);
        let relation = if out == input {
            "is"
        } else if out.starts_with(&input) {
            "lies inside"
        } else if input.starts_with(&out) {
            "contains"
        } else {
            continue;
        };
        return Err(HarkError::invalid(
            command,
            format!(
                "{out_flag} {} {relation} the input {in_flag} {}: outputs never go where the \
                 inputs are; choose another path",
                out_path.display(),
                in_path.display()
            ),
        ));
    }
    Ok(())
}

/// A folder of outputs written in a new temporary folder beside `target`
/// (`.<name>.<pid>.staging`). [`StagedDir::commit`] moves every file into `target` (created if
/// needed; files of the same name are replaced, others left alone); dropped without a commit,
/// the temporary folder is removed and `target` is untouched.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    pub fn new(target: &Path) -> Result<Self> {
        if target.exists() && !target.is_dir() {
            return Err(HarkError::invalid(
                "output folder",
                format!("{} exists and is not a folder", target.display()),
            ));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
        let staging = parent.join(format!(".{name}.{}.staging", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        }
        std::fs::create_dir(&staging).map_err(|e| io_error(&staging, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// The temporary folder to write into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Moves every staged file into the target (each move a rename within one file system) and
    /// removes the temporary folder. Returns the number of files moved.
    pub fn commit(mut self) -> Result<usize> {
        std::fs::create_dir_all(&self.target).map_err(|e| io_error(&self.target, e))?;
        let moved = move_tree(&self.staging, &self.target)?;
        self.committed = true;
        std::fs::remove_dir_all(&self.staging).map_err(|e| io_error(&self.staging, e))?;
        Ok(moved)
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn move_tree(from: &Path, to: &Path) -> Result<usize> {
    let mut moved = 0;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(from).map_err(|e| io_error(from, e))? {
        entries.push(entry.map_err(|e| io_error(from, e))?.path());
    }
    entries.sort();
    for source in entries {
        let Some(name) = source.file_name() else {
            continue;
        };
        let dest = to.join(name);
        if source.is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| io_error(&dest, e))?;
            moved += move_tree(&source, &dest)?;
        } else {
            std::fs::rename(&source, &dest).map_err(|e| io_error(&dest, e))?;
            moved += 1;
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_overlapping_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        let ok = dir.path().join("out");
        assert!(check_apart("t", ("--out", &ok), &[("input", &input)]).is_ok());
        for bad in [
            input.clone(),
            input.join("sub/new"),
            dir.path().to_path_buf(),
            input.join("x/../."),
        ] {
            let err = check_apart("t", ("--out", &bad), &[("input", &input)]);
            assert!(err.is_err(), "{}", bad.display());
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(check_apart("t", ("--out", &link), &[("input", &input)]).is_err());
        }
    }

    #[test]
    fn a_staged_folder_replaces_files_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("a.csv"), "old").unwrap();
        std::fs::write(target.join("keep.csv"), "other").unwrap();
        {
            let staged = StagedDir::new(&target).unwrap();
            std::fs::write(staged.path().join("a.csv"), "new").unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(target.join("a.csv")).unwrap(),
            "old"
        );
        let staged = StagedDir::new(&target).unwrap();
        std::fs::create_dir(staged.path().join("sub")).unwrap();
        std::fs::write(staged.path().join("a.csv"), "new").unwrap();
        std::fs::write(staged.path().join("sub/b.csv"), "b").unwrap();
        assert_eq!(staged.commit().unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(target.join("a.csv")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("keep.csv")).unwrap(),
            "other"
        );
        assert!(target.join("sub/b.csv").is_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
