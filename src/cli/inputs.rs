//! The inputs of the commands that take a file or a folder of WAVs (`hark features`, `hark
//! separate`).

use std::path::{Path, PathBuf};

use hark::audio::walk::wav_files_once;
use hark::HarkError;

/// The `.wav` files `input` names: itself when it is a file (then `true`), else every file
/// under it (links followed once; skipped links are warned about). None is an error.
pub fn input_wavs(command: &'static str, input: &Path) -> hark::Result<(Vec<PathBuf>, bool)> {
    // Follows links, so that a link loop is named as one instead of "not found".
    let meta = std::fs::metadata(input).map_err(|source| HarkError::Io {
        path: input.display().to_string(),
        source,
    })?;
    let single = meta.is_file();
    let files = if single {
        vec![input.to_path_buf()]
    } else {
        let walk = wav_files_once(input)?;
        for (link, why) in &walk.skipped_links {
            eprintln!("warning: folder link {} {why}", link.display());
        }
        walk.files
    };
    if files.is_empty() {
        return Err(HarkError::invalid(
            command,
            format!("no .wav files under {}", input.display()),
        ));
    }
    Ok((files, single))
}
