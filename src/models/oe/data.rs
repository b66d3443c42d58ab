//! Clips -> log-mel segments for the OE system: each waveform standardised to mean 0 and
//! variance 1 (004 §4.2), its log-mel `[frames, mels]` (scaled by 0.1, so that dB values enter
//! the network at order 1), cut into segments of `frames` frames with 75 % overlap; for the
//! power-weighted aggregation, the high-passed power of every segment.

use crate::audio::dataset::Clip;
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::detect::aggregate::{
    filter_same, highpass_fir, segment_powers, segment_starts, SEGMENT_OVERLAP,
};
use crate::error::Result;
use crate::features::pipeline::FeatureExtractor;

/// 004's high-pass edges for the power weights (Hz).
pub const WEIGHT_STOPBAND_HZ: f64 = 3500.0;
pub const WEIGHT_PASSBAND_HZ: f64 = 4000.0;

/// Clips read and decoded per batch (bounds memory for 10 s clips).
const READ_BATCH: usize = 16;

/// One clip's log-mel and its segmentation.
#[derive(Clone, Debug)]
pub struct ClipSegments {
    /// `[frames, mels]`, row-major: a segment starting at frame `s` is the contiguous slice
    /// `[s * mels, (s + segment) * mels)`.
    pub logmel: Vec<f32>,
    pub mels: usize,
    /// First frame of every segment.
    pub starts: Vec<usize>,
    /// High-passed power of every segment (when asked for).
    pub weights: Option<Vec<f64>>,
}

impl ClipSegments {
    /// Segment `i` of `frames` frames.
    pub fn segment(&self, i: usize, frames: usize) -> &[f32] {
        let s = self.starts[i];
        &self.logmel[s * self.mels..(s + frames) * self.mels]
    }
}

fn standardise(wave: &mut [f32]) {
    let n = wave.len().max(1) as f64;
    let mean = wave.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = wave
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = 1.0 / var.sqrt().max(1e-8);
    for v in wave.iter_mut() {
        *v = ((f64::from(*v) - mean) * scale) as f32;
    }
}

/// The segments of `clips` through `extractor` (a log-mel front end) for segments of `frames`
/// frames; `with_weights` also computes the power weights.
pub fn clip_segments(
    extractor: &mut FeatureExtractor,
    clips: &[&Clip],
    frames: usize,
    with_weights: bool,
) -> Result<Vec<ClipSegments>> {
    let spec = *extractor.spec();
    let options = WavOptions {
        sample_rate: spec.sample_rate,
        downmix: false,
    };
    let fir = if with_weights {
        Some(highpass_fir(
            f64::from(spec.sample_rate),
            WEIGHT_STOPBAND_HZ,
            WEIGHT_PASSBAND_HZ,
        )?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(clips.len());
    let paths: Vec<_> = clips.iter().map(|c| c.path.clone()).collect();
    for window in paths.chunks(READ_BATCH) {
        let mut waves = read_many(window, &options, OnBadFile::Stop)?.clips;
        waves.iter_mut().for_each(|w| standardise(w));
        // Runs of equal length go through the extractor together.
        let mut start = 0;
        while start < waves.len() {
            let len = waves[start].len();
            let mut end = start + 1;
            while end < waves.len() && waves[end].len() == len {
                end += 1;
            }
            let batch = extractor.extract(&waves[start..end])?;
            let (total_frames, mels) = (batch.shape[0], batch.shape[1]);
            for (i, wave) in waves[start..end].iter().enumerate() {
                let starts = segment_starts(total_frames, frames, SEGMENT_OVERLAP)?;
                let weights = fir
                    .as_ref()
                    .map(|fir| segment_powers(&filter_same(wave, fir), &starts, frames, spec.hop));
                out.push(ClipSegments {
                    logmel: batch.clip(i).iter().map(|v| 0.1 * v).collect(),
                    mels,
                    starts,
                    weights,
                });
            }
            start = end;
        }
    }
    Ok(out)
}
