//! Recursive search for `.wav` files that follows links to folders but never walks one folder
//! twice: real folders are walked first, then the folders reached only through links, and a
//! link to a folder already walked (`self -> .`, `sub/up -> ..`), a link loop or a broken link
//! is skipped and reported, so a walk always ends and lists each clip once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{HarkError, Result};

/// What [`wav_files_once`] found.
#[derive(Clone, Debug, Default)]
pub struct WavWalk {
    /// The `.wav` files, sorted, by the path they were reached through.
    pub files: Vec<PathBuf>,
    /// Links to folders that were not followed, each with the reason.
    pub skipped_links: Vec<(PathBuf, String)>,
}

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every `.wav` file under `dir` (searched recursively), following each folder link at most
/// once; see the module docs.
pub fn wav_files_once(dir: &Path) -> Result<WavWalk> {
    let root = dir.canonicalize().map_err(|e| io_error(dir, e))?;
    let mut walk = WavWalk::default();
    let mut walked: BTreeSet<PathBuf> = BTreeSet::new();
    let mut links: Vec<PathBuf> = Vec::new();
    walk_real(dir, root, &mut walked, &mut links, &mut walk)?;
    // Links in the order found; each one's target is walked unless already walked.
    let mut next = 0;
    while next < links.len() {
        let link = links[next].clone();
        next += 1;
        let real = match link.canonicalize() {
            Ok(real) => real,
            Err(e) => {
                walk.skipped_links
                    .push((link, format!("not followed: {e}")));
                continue;
            }
        };
        if let Some(seen) = walked.iter().find(|w| real.starts_with(w)) {
            let reason = format!(
                "not followed: it leads to {}, already walked as {}",
                real.display(),
                seen.display()
            );
            walk.skipped_links.push((link, reason));
            continue;
        }
        walk_real(&link, real, &mut walked, &mut links, &mut walk)?;
    }
    walk.files.sort();
    Ok(walk)
}

/// Walks `dir` (whose real path is `real`) and its real subfolders; links to folders are queued
/// in `links`.
fn walk_real(
    dir: &Path,
    real: PathBuf,
    walked: &mut BTreeSet<PathBuf>,
    links: &mut Vec<PathBuf>,
    walk: &mut WavWalk,
) -> Result<()> {
    let mut stack = vec![(dir.to_path_buf(), real)];
    while let Some((current, real)) = stack.pop() {
        if !walked.insert(real.clone()) {
            continue;
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&current).map_err(|e| io_error(&current, e))? {
            entries.push(entry.map_err(|e| io_error(&current, e))?);
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if is_link {
                if path.is_dir() {
                    links.push(path);
                } else if let Err(e) = std::fs::metadata(&path) {
                    // A broken link or a loop: say so rather than treating it as missing.
                    walk.skipped_links
                        .push((path, format!("not followed: {e}")));
                } else if is_wav_name(&path) {
                    walk.files.push(path);
                }
            } else if path.is_dir() {
                let sub_real = real.join(entry.file_name());
                stack.push((path, sub_real));
            } else if is_wav_name(&path) {
                walk.files.push(path);
            }
        }
    }
    Ok(())
}

fn is_wav_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_back_up_are_skipped_and_each_clip_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("other/deep")).unwrap();
        std::fs::write(root.join("a.wav"), b"").unwrap();
        std::fs::write(root.join("sub/b.wav"), b"").unwrap();
        std::fs::write(root.join("other/deep/c.wav"), b"").unwrap();
        std::os::unix::fs::symlink(".", root.join("self")).unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        // A link to a folder outside the walked tree is followed once.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("d.wav"), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("ext")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("ext2")).unwrap();
        let walk = wav_files_once(root).unwrap();
        let names: Vec<_> = walk
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            ["a.wav", "ext/d.wav", "other/deep/c.wav", "sub/b.wav"].map(PathBuf::from)
        );
        let skipped: Vec<_> = walk
            .skipped_links
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(skipped.len(), 4, "{:?}", walk.skipped_links);
        for name in ["self", "sub/up", "loop", "ext2"] {
            assert!(skipped.contains(&PathBuf::from(name)), "{name}");
        }
    }
}
