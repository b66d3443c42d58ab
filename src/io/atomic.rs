//! Atomic writes: the data goes to a temporary file in the destination's folder, which is then
//! renamed over the destination, so readers see the old file or the new one, never a part (a
//! rename within one folder is atomic on POSIX file systems and on NTFS). No fsync: the rename
//! protects readers from partial files; durability across a power cut is not worth an fsync per
//! clip when a synthetic set has thousands of them.

use std::io::Write;
use std::path::Path;

use crate::error::{HarkError, Result};

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes what `fill` produces to `path` atomically (creating the parent folder if needed).
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let temp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&temp)?;
        let mut writer = std::io::BufWriter::new(file);
        fill(&mut writer)?;
        writer.flush()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path, e));
    }
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_error(path, e)
    })
}

/// Writes `bytes` to `path` atomically (creating the parent folder if needed).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |file| file.write_all(bytes))
}
