//! WAV input: 16/24/32-bit integer and 32-bit float PCM, checked (sample rate, channels, length,
//! truncation, NaN/Inf) with errors that name the file and what was wrong; many clips load in
//! parallel and pack into one `[batch, samples]` GPU tensor.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

/// The sample rate of every DCASE task-2 dataset.
pub const DCASE_SAMPLE_RATE: u32 = 16_000;

/// What a clip must look like.
#[derive(Clone, Debug)]
pub struct WavOptions {
    /// Required sample rate (no resampling: a clip at another rate is an error).
    pub sample_rate: u32,
    /// Average the channels of a multi-channel file instead of rejecting it.
    pub downmix: bool,
}

impl Default for WavOptions {
    fn default() -> Self {
        Self {
            sample_rate: DCASE_SAMPLE_RATE,
            downmix: false,
        }
    }
}

fn wav_error(path: &Path, reason: impl Into<String>) -> HarkError {
    HarkError::Wav {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

type FileReader = hound::WavReader<std::io::BufReader<std::fs::File>>;

/// Opens `path` and checks its header against `options`: readable, the sample rate, the channel
/// count, a supported sample format and at least one sample. Returns the reader and the channels.
fn open_checked(path: &Path, options: &WavOptions) -> Result<(FileReader, usize)> {
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::NotFound => HarkError::Io {
            path: path.display().to_string(),
            source: io,
        },
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            wav_error(path, "not a WAV file, or its header is truncated")
        }
        other => wav_error(path, format!("not a readable WAV file: {other}")),
    })?;
    let spec = reader.spec();
    if spec.sample_rate != options.sample_rate {
        return Err(wav_error(
            path,
            format!(
                "sample rate is {} Hz, expected {} Hz (resample the file, e.g. with sox)",
                spec.sample_rate, options.sample_rate
            ),
        ));
    }
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(wav_error(path, "the header declares zero channels"));
    }
    if channels > 1 && !options.downmix {
        return Err(wav_error(
            path,
            format!(
                "has {channels} channels, expected mono (down-mix it first, e.g. `sox in.wav \
                 -c 1 out.wav`; `hark features --downmix` averages the channels itself)"
            ),
        ));
    }
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) | (hound::SampleFormat::Int, 8 | 16 | 24 | 32) => {}
        (format, bits) => {
            return Err(wav_error(
                path,
                format!("unsupported sample format {format:?} with {bits} bits"),
            ))
        }
    }
    if reader.len() == 0 {
        return Err(wav_error(path, "holds no samples"));
    }
    Ok((reader, channels))
}

/// Checks what [`read_wav`] can check without reading the samples (readable header, sample
/// rate, channels, sample format, not empty), so that a dataset reader can report a bad file
/// before any training starts. The samples themselves (truncation, NaN) are checked on reading.
pub fn check_wav_header(path: &Path, options: &WavOptions) -> Result<()> {
    open_checked(path, options).map(|_| ())
}

/// Reads one clip as mono `f32` samples in [-1, 1) (integers are divided by 2^(bits-1), as
/// soundfile and librosa do).
pub fn read_wav(path: &Path, options: &WavOptions) -> Result<Vec<f32>> {
    // A window of a live stream, held in memory (crate::audio::held), is read like a file.
    if let Some(held) = crate::audio::held::read_held(path, options.sample_rate) {
        return held;
    }
    let (mut reader, channels) = open_checked(path, options)?;
    let spec = reader.spec();
    let declared = reader.len() as usize;
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => collect(path, reader.samples::<f32>(), |v| v)?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            collect(path, reader.samples::<i32>(), |v| {
                (f64::from(v) * scale) as f32
            })?
        }
        (format, bits) => {
            return Err(wav_error(
                path,
                format!("unsupported sample format {format:?} with {bits} bits"),
            ))
        }
    };
    if samples.len() < declared {
        return Err(wav_error(
            path,
            format!(
                "truncated: the header declares {declared} samples, the file holds {}",
                samples.len()
            ),
        ));
    }
    if samples.is_empty() {
        return Err(wav_error(path, "holds no samples"));
    }
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        return Err(wav_error(
            path,
            format!(
                "sample {i} is {} (NaN and infinity are rejected)",
                samples[i]
            ),
        ));
    }
    if channels == 1 {
        return Ok(samples);
    }
    Ok(samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect())
}

fn collect<S, I: Iterator<Item = hound::Result<S>>>(
    path: &Path,
    samples: I,
    convert: impl Fn(S) -> f32,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for sample in samples {
        match sample {
            Ok(v) => out.push(convert(v)),
            // hound reports a short data chunk as an EOF or as "Failed to read enough bytes".
            Err(hound::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(wav_error(
                    path,
                    format!("truncated after {} samples", out.len()),
                ))
            }
            Err(e) if e.to_string().contains("enough bytes") => {
                return Err(wav_error(
                    path,
                    format!("truncated after {} samples", out.len()),
                ))
            }
            Err(e) => return Err(wav_error(path, format!("unreadable sample data: {e}"))),
        }
    }
    Ok(out)
}

/// What to do when one file of many fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnBadFile {
    /// Stop at the first bad file (in path order) and return its error.
    #[default]
    Stop,
    /// Report bad files and keep the others.
    Skip,
}

/// The clips of [`read_many`], in path order, and the files that failed.
#[derive(Debug, Default)]
pub struct LoadedClips {
    pub paths: Vec<PathBuf>,
    pub clips: Vec<Vec<f32>>,
    pub failures: Vec<(PathBuf, HarkError)>,
}

/// Reads many clips on all cores. With [`OnBadFile::Skip`] the good clips come back with the
/// list of failures; with [`OnBadFile::Stop`] the first failure (in path order) is the error.
pub fn read_many(
    paths: &[PathBuf],
    options: &WavOptions,
    on_bad: OnBadFile,
) -> Result<LoadedClips> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<f32>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| read_wav(p, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(HarkError::invalid(
                        "read_many",
                        "a loader thread panicked",
                    ))]
                })
            })
            .collect()
    });
    let mut loaded = LoadedClips::default();
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(clip) => {
                loaded.paths.push(path.clone());
                loaded.clips.push(clip);
            }
            Err(e) if on_bad == OnBadFile::Skip => loaded.failures.push((path.clone(), e)),
            Err(e) => return Err(e),
        }
    }
    Ok(loaded)
}

/// Every `.wav` file under `dir` (recursively), sorted.
pub fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| HarkError::Io {
            path: current.display().to_string(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| HarkError::Io {
                    path: current.display().to_string(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Packs clips into one `[batch, max_len]` tensor, zero-padded at the end; returns it with each
/// clip's length.
pub fn batch_to_tensor(ctx: &Context, clips: &[Vec<f32>]) -> Result<(Tensor, Vec<usize>)> {
    let lengths: Vec<usize> = clips.iter().map(Vec::len).collect();
    let max_len = lengths.iter().copied().max().unwrap_or(0);
    if clips.is_empty() || max_len == 0 {
        return Err(HarkError::invalid("batch_to_tensor", "no samples to pack"));
    }
    let mut packed = vec![0.0f32; clips.len() * max_len];
    for (row, clip) in packed.chunks_exact_mut(max_len).zip(clips) {
        row[..clip.len()].copy_from_slice(clip);
    }
    let tensor = Tensor::from_slice(ctx, &[clips.len(), max_len], &packed)?;
    Ok((tensor, lengths))
}

/// Writes mono 32-bit float WAV (no clipping, so separated signals keep their level),
/// atomically.
pub fn write_wav_f32(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let wav_error = |e: hound::Error| HarkError::Wav {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 4));
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec).map_err(wav_error)?;
        for &s in samples {
            writer.write_sample(s).map_err(wav_error)?;
        }
        writer.finalize().map_err(wav_error)?;
    }
    crate::io::atomic::write_bytes_atomically(path, &cursor.into_inner())
}
