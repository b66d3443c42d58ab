//! The classifier's inputs on the host: each clip's wave (cropped or zero-padded to the training
//! length), its log-mel as `[bins, frames]` and any user features as `[dims, frames]`, both
//! standardised per channel with statistics of the training clips; and the class labels.
//!
//! User features stand in for the paper's fine-tuned wav2vec 2.0 (whose weights cannot be
//! downloaded here): one `.npy` per clip at `<dir>/<machine>/<split>/<clip stem>.npy`, shaped
//! `[frames, dims]` (time first, as wav2vec exports); a frame count other than the log-mel's is
//! resampled to it by nearest frame.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audio::dataset::{Clip, Split};
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::error::{HarkError, Result};
use crate::features::pipeline::FeatureExtractor;
use crate::io::npy::read_npy;

/// Clips read and transformed per feature-extraction batch.
const LOAD_BATCH: usize = 16;

/// Per-channel mean and standard deviation (floored at 1e-5) of `[clips][channels, frames]` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Statistics over every clip and frame of `data` (`clips * channels * frames` values).
    pub fn fit(data: &[f32], channels: usize, frames: usize) -> Self {
        let clips = data.len() / (channels * frames).max(1);
        let count = (clips * frames).max(1) as f64;
        let mut sum = vec![0.0f64; channels];
        let mut sq = vec![0.0f64; channels];
        for clip in data.chunks(channels * frames) {
            for (c, row) in clip.chunks(frames).enumerate() {
                for &v in row {
                    sum[c] += f64::from(v);
                    sq[c] += f64::from(v) * f64::from(v);
                }
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / count - m * m).max(0.0).sqrt().max(1e-5)) as f32)
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Standardises `data` in place.
    pub fn apply(&self, data: &mut [f32], frames: usize) {
        let channels = self.mean.len();
        for clip in data.chunks_mut(channels * frames) {
            for (c, row) in clip.chunks_mut(frames).enumerate() {
                for v in row {
                    *v = (*v - self.mean[c]) / self.std[c];
                }
            }
        }
    }
}

/// Inputs of a set of clips, clip-major.
#[derive(Clone, Debug, Default)]
pub struct ClipInputs {
    pub count: usize,
    /// `count * samples`.
    pub waves: Vec<f32>,
    /// `count * bins * frames`, not yet standardised when freshly loaded.
    pub mels: Vec<f32>,
    /// `count * dims * frames` (empty without user features).
    pub extras: Vec<f32>,
}

/// Where a clip's user features live.
pub fn extra_feature_path(dir: &Path, clip: &Clip) -> PathBuf {
    let split = clip.split.unwrap_or(Split::Test);
    let stem = Path::new(&clip.file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(&clip.machine)
        .join(split.to_string())
        .join(format!("{stem}.npy"))
}

/// A clip's user features as `[dims, frames]` (resampled in time by nearest frame).
pub fn read_extra(path: &Path, dims: Option<usize>, frames: usize) -> Result<(usize, Vec<f32>)> {
    let array = read_npy(path)?;
    let &[source_frames, d] = array.shape.as_slice() else {
        return Err(HarkError::invalid(
            "ssc",
            format!(
                "{}: features must be [frames, dims], got {:?}",
                path.display(),
                array.shape
            ),
        ));
    };
    if source_frames == 0 || d == 0 || dims.is_some_and(|want| want != d) {
        return Err(HarkError::invalid(
            "ssc",
            format!(
                "{}: features {:?}, expected [frames > 0, {}]",
                path.display(),
                array.shape,
                dims.map_or("dims > 0".to_string(), |d| d.to_string())
            ),
        ));
    }
    let mut out = vec![0.0; d * frames];
    for t in 0..frames {
        let s = t * source_frames / frames;
        for c in 0..d {
            out[c * frames + t] = array.data[s * d + c];
        }
    }
    Ok((d, out))
}

/// Reads `clips`, fits them to `samples` samples, extracts their log-mel (`extractor` makes
/// `[frames, bins]`, stored transposed) and reads their user features from `extra_dir`.
/// Returns the inputs and the user features' dimension (0 without).
pub fn load_clips(
    extractor: &mut FeatureExtractor,
    clips: &[&Clip],
    samples: usize,
    extra_dir: Option<&Path>,
    extra_dims: Option<usize>,
) -> Result<(ClipInputs, usize)> {
    let spec = *extractor.spec();
    let options = WavOptions {
        sample_rate: spec.sample_rate,
        downmix: false,
    };
    let mut inputs = ClipInputs::default();
    let mut dims = extra_dims.unwrap_or(0);
    for window in clips.chunks(LOAD_BATCH) {
        let paths: Vec<PathBuf> = window.iter().map(|c| c.path.clone()).collect();
        let mut waves = read_many(&paths, &options, OnBadFile::Stop)?.clips;
        for wave in &mut waves {
            wave.resize(samples, 0.0);
        }
        let batch = extractor.extract(&waves)?;
        let &[frames, bins] = batch.shape.as_slice() else {
            return Err(HarkError::invalid(
                "ssc",
                "the extractor must make a log-mel",
            ));
        };
        for (i, wave) in waves.iter().enumerate() {
            inputs.waves.extend_from_slice(wave);
            let logmel = batch.clip(i);
            let start = inputs.mels.len();
            inputs.mels.resize(start + bins * frames, 0.0);
            for t in 0..frames {
                for b in 0..bins {
                    inputs.mels[start + b * frames + t] = logmel[t * bins + b];
                }
            }
        }
        if let Some(dir) = extra_dir {
            for clip in window {
                let wanted = (dims > 0).then_some(dims);
                let (d, values) = read_extra(&extra_feature_path(dir, clip), wanted, frames)?;
                dims = d;
                inputs.extras.extend(values);
            }
        }
        inputs.count += window.len();
    }
    Ok((inputs, dims))
}

/// Class indices of a machine type's training clips: sections in ascending order, and attribute
/// classes (section plus attribute string, as paper 002 counts them per machine type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    pub sections: Vec<u32>,
    pub attributes: Vec<String>,
}

/// The attribute class name of a clip: its section and `key_value` attributes.
pub fn attribute_key(clip: &Clip) -> String {
    let mut key = format!("section_{:02}", clip.name.section);
    for a in &clip.attributes {
        key.push_str(&format!("_{}_{}", a.key, a.value));
    }
    key
}

impl Classes {
    pub fn of(clips: &[&Clip]) -> Self {
        let sections: BTreeMap<u32, ()> = clips.iter().map(|c| (c.name.section, ())).collect();
        let attributes: BTreeMap<String, ()> =
            clips.iter().map(|c| (attribute_key(c), ())).collect();
        Self {
            sections: sections.into_keys().collect(),
            attributes: attributes.into_keys().collect(),
        }
    }

    pub fn section_index(&self, section: u32) -> Option<usize> {
        self.sections.iter().position(|&s| s == section)
    }

    pub fn attribute_index(&self, clip: &Clip) -> Option<usize> {
        let key = attribute_key(clip);
        self.attributes.iter().position(|a| *a == key)
    }
}
