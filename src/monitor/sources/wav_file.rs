//! A WAV file read a block at a time (a long recording never sits in memory whole), converted
//! to `f32` exactly as [`crate::audio::wav::read_wav`] converts it, so replayed windows hold the
//! same samples `hark score` reads from the same file.

use std::path::{Path, PathBuf};

use crate::error::{HarkError, Result};
use crate::monitor::source::AudioFormat;

type FileReader = hound::WavReader<std::io::BufReader<std::fs::File>>;

/// An open WAV file and its format.
pub struct WavBlocks {
    path: PathBuf,
    reader: FileReader,
    format: AudioFormat,
    /// 1 / 2^(bits-1) for integer files; `None` for float files.
    scale: Option<f64>,
}

fn wav_error(path: &Path, reason: impl Into<String>) -> HarkError {
    HarkError::Wav {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl WavBlocks {
    /// Opens `path`; the format is checked later, against the model, by the monitor.
    pub fn open(path: &Path) -> Result<Self> {
        let reader = hound::WavReader::open(path)
            .map_err(|e| wav_error(path, format!("not a readable WAV file: {e}")))?;
        let spec = reader.spec();
        let scale = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => None,
            (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
                Some(1.0 / (1u64 << (bits - 1)) as f64)
            }
            (format, bits) => {
                return Err(wav_error(
                    path,
                    format!("unsupported sample format {format:?} with {bits} bits"),
                ))
            }
        };
        if spec.channels == 0 {
            return Err(wav_error(path, "the header declares zero channels"));
        }
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            format: AudioFormat {
                sample_rate: spec.sample_rate,
                channels: spec.channels,
            },
            scale,
        })
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Up to `max` frames (mono: samples); empty at the end of the file. A truncated file or a
    /// NaN sample is an error naming the file.
    pub fn read(&mut self, max: usize) -> Result<Vec<f32>> {
        let wanted = max * usize::from(self.format.channels);
        let mut out = Vec::with_capacity(wanted);
        let path = &self.path;
        let truncated = |n: usize| wav_error(path, format!("truncated after {n} more samples"));
        match self.scale {
            None => {
                for sample in self.reader.samples::<f32>().take(wanted) {
                    out.push(sample.map_err(|_| truncated(out.len()))?);
                }
            }
            Some(scale) => {
                for sample in self.reader.samples::<i32>().take(wanted) {
                    let v = sample.map_err(|_| truncated(out.len()))?;
                    out.push((f64::from(v) * scale) as f32);
                }
            }
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(wav_error(
                path,
                format!("sample {} is {} (NaN and infinity are rejected)", i, out[i]),
            ));
        }
        Ok(out)
    }
}
