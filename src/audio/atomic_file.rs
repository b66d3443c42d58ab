//! Atomic file writes: the bytes go to a temporary name in the destination folder and are renamed
//! into place, so a reader never sees a half-written WAV or CSV (a rename within one folder is
//! atomic on POSIX file systems and on NTFS).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{HarkError, Result};

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The temporary sibling of `path`: same folder, a dot prefix and the process id, so that two
/// processes writing the same file do not share a temporary.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically, creating the parent folders.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
    }
    let temporary = temporary_path(path);
    let written = std::fs::File::create(&temporary)
        // No fsync: the rename protects readers from partial files; durability across a power
        // cut is not worth an fsync per clip when a synthetic set has thousands of them.
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| io_error(&temporary, e));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io_error(path, e)
    })
}
