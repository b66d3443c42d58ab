//! Clip embeddings for the stats-knn system: the GPU front end (log-mel and whole-clip spectrum,
//! one submit per batch of equal-length clips) followed by the host statistics of
//! [`super::views`]; [`embed_waves_cpu`] is its reference on the CPU front end.

use std::collections::BTreeMap;

use crate::audio::dataset::Clip;
use crate::context::Context;
use crate::detect::contract::read_wav_samples;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};

use super::views::{logmel_moments, spectrum_bands, temporal_change, View};

/// What a clip's embedding is made of.
#[derive(Clone, Debug)]
pub struct EmbeddingOptions {
    /// The views, each scored on its own (no duplicates).
    pub views: Vec<View>,
    /// Bands of the [`View::Spectrum`] view.
    pub spectrum_bands: usize,
    /// The log-mel front end (its kind is forced to log-mel).
    pub features: FeatureSpec,
}

impl EmbeddingOptions {
    /// Columns of `view`'s vectors.
    pub fn dim(&self, view: View) -> usize {
        match view {
            View::Logmel | View::Change => 2 * self.features.n_mels,
            View::Spectrum => self.spectrum_bands,
        }
    }

    fn check(&self) -> Result<()> {
        let mut sorted = self.views.clone();
        sorted.sort();
        sorted.dedup();
        if self.views.is_empty() || sorted.len() != self.views.len() {
            return Err(HarkError::invalid(
                "stats-knn",
                format!("views {:?}: need at least one, none twice", self.views),
            ));
        }
        if self.views.contains(&View::Spectrum) && self.spectrum_bands == 0 {
            return Err(HarkError::invalid(
                "stats-knn",
                "spectrum bands must be >= 1",
            ));
        }
        Ok(())
    }
}

/// One clip's vectors, one per configured view, in the order of [`EmbeddingOptions::views`].
pub type ClipEmbedding = Vec<Vec<f32>>;

/// Refuses non-finite samples: the front end's log floor would turn a NaN into a quiet frame.
fn check_waves(waves: &[Vec<f32>]) -> Result<()> {
    match waves.iter().position(|w| w.iter().any(|v| !v.is_finite())) {
        Some(i) => Err(HarkError::invalid(
            "stats-knn",
            format!("clip {i} has non-finite samples (NaN or infinite)"),
        )),
        None => Ok(()),
    }
}

/// Clips per submit: bounds the power spectrogram's memory on long clips.
const BATCH: usize = 16;

/// The views of one clip from its log-mel `[frames, mels]` and magnitude spectrum.
fn clip_views(
    options: &EmbeddingOptions,
    logmel: &[f32],
    frames: usize,
    spectrum: &[f32],
) -> Result<ClipEmbedding> {
    let mels = options.features.n_mels;
    let embedding = options
        .views
        .iter()
        .map(|view| match view {
            View::Logmel => logmel_moments(logmel, frames, mels),
            View::Change => temporal_change(logmel, frames, mels),
            View::Spectrum => spectrum_bands(spectrum, options.spectrum_bands),
        })
        .collect::<Result<ClipEmbedding>>()?;
    if embedding.iter().flatten().any(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            "stats-knn",
            "a clip gives non-finite features",
        ));
    }
    Ok(embedding)
}

/// Embeds clips with the GPU front end.
pub struct StatsEmbedder {
    options: EmbeddingOptions,
    logmel: FeatureExtractor,
    spectrum: FeatureExtractor,
}

impl StatsEmbedder {
    pub fn new(ctx: &Context, options: EmbeddingOptions) -> Result<Self> {
        options.check()?;
        let logmel_spec = FeatureSpec {
            kind: FeatureKind::Logmel,
            ..options.features
        };
        let spectrum_spec = FeatureSpec {
            kind: FeatureKind::Spectrum,
            ..options.features
        };
        Ok(Self {
            logmel: FeatureExtractor::new(ctx, &logmel_spec)?,
            spectrum: FeatureExtractor::new(ctx, &spectrum_spec)?,
            options,
        })
    }

    pub fn options(&self) -> &EmbeddingOptions {
        &self.options
    }

    /// Embeddings of `waves` (any lengths; equal lengths share a submit), in order.
    pub fn embed_waves(&mut self, waves: &[Vec<f32>]) -> Result<Vec<ClipEmbedding>> {
        check_waves(waves)?;
        let mut by_length: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, wave) in waves.iter().enumerate() {
            by_length.entry(wave.len()).or_default().push(i);
        }
        let needs_spectrum = self.options.views.contains(&View::Spectrum);
        let mut out: Vec<Option<ClipEmbedding>> = vec![None; waves.len()];
        for indices in by_length.values() {
            for chunk in indices.chunks(BATCH) {
                let batch: Vec<Vec<f32>> = chunk.iter().map(|&i| waves[i].clone()).collect();
                let logmel = self.logmel.extract(&batch)?;
                let spectrum = if needs_spectrum {
                    Some(self.spectrum.extract(&batch)?)
                } else {
                    None
                };
                for (j, &i) in chunk.iter().enumerate() {
                    let frames = logmel.shape.first().copied().unwrap_or(0);
                    let spec = spectrum.as_ref().map_or(&[][..], |s| s.clip(j));
                    out[i] = Some(clip_views(&self.options, logmel.clip(j), frames, spec)?);
                }
            }
        }
        out.into_iter()
            .map(|e| e.ok_or_else(|| HarkError::invalid("stats-knn", "a clip was not embedded")))
            .collect()
    }

    /// Embeddings of `clips`, read from their WAV files, in order.
    pub fn embed_clips(&mut self, clips: &[&Clip]) -> Result<Vec<ClipEmbedding>> {
        let waves = clips
            .iter()
            .map(|c| read_wav_samples(&c.path))
            .collect::<Result<Vec<_>>>()?;
        self.embed_waves(&waves)
    }
}

/// The CPU reference of [`StatsEmbedder::embed_waves`]: the same views from the CPU front end
/// (realfft and a CPU mel matmul, [`crate::features::cpu_path`]).
pub fn embed_waves_cpu(
    options: &EmbeddingOptions,
    waves: &[Vec<f32>],
) -> Result<Vec<ClipEmbedding>> {
    options.check()?;
    check_waves(waves)?;
    let logmels = crate::features::cpu_path::logmel(waves, &options.features);
    let spectra = if options.views.contains(&View::Spectrum) {
        crate::features::cpu_path::spectrum(waves)
    } else {
        vec![Vec::new(); waves.len()]
    };
    logmels
        .iter()
        .zip(&spectra)
        .map(|(logmel, spectrum)| {
            let frames = logmel.len() / options.features.n_mels.max(1);
            clip_views(options, logmel, frames, spectrum)
        })
        .collect()
}
