//! [`StatsKnnSystem`] through the scoring contract: "training" embeds a machine type's training
//! clips and builds one [`SectionModel`] per section (and saves them when asked); scoring embeds
//! the clips and searches the memories of each clip's section.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::audio::dataset::{Clip, MachineDataset};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};

use super::checkpoint::{load_stats_knn, save_stats_knn, stats_knn_checkpoint_path, ModelSettings};
use super::extract::{EmbeddingOptions, StatsEmbedder};
use super::memory::SearchDevice;
use super::section::{BackEnd, SectionModel, TrainingClip};

/// Everything the stats-knn system is configured by.
#[derive(Clone, Debug)]
pub struct StatsKnnConfig {
    pub embedding: EmbeddingOptions,
    pub back_end: BackEnd,
}

impl StatsKnnConfig {
    /// The log-mel view, 256 spectrum bands (when the view is chosen), raw statistics, cosine,
    /// separate domain memories, k = 1: the best of the few-shot tuning set (BENCHMARKS.md).
    pub fn with_defaults(features: crate::features::pipeline::FeatureSpec) -> Self {
        Self {
            embedding: EmbeddingOptions {
                views: vec![super::views::View::Logmel],
                spectrum_bands: DEFAULT_SPECTRUM_BANDS,
                features,
            },
            back_end: BackEnd::default(),
        }
    }
}

/// Bands of the spectrum view unless told otherwise.
pub const DEFAULT_SPECTRUM_BANDS: usize = 256;

/// The training-free detector: per-clip statistics, a kNN per section.
pub struct StatsKnnSystem {
    ctx: Context,
    config: StatsKnnConfig,
    embedder: StatsEmbedder,
    device: SearchDevice,
    sections: BTreeMap<u32, SectionModel>,
    /// Write `stats-knn_<machine>.safetensors` here after training.
    pub save_to: Option<PathBuf>,
    /// Load the models from here instead of building them (`hark score`); the settings come from
    /// the checkpoint.
    pub load_from: Option<PathBuf>,
}

impl StatsKnnSystem {
    pub fn new(ctx: &Context, config: StatsKnnConfig) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            embedder: StatsEmbedder::new(ctx, config.embedding.clone())?,
            device: SearchDevice::Gpu(ctx.clone()),
            config,
            sections: BTreeMap::new(),
            save_to: None,
            load_from: None,
        })
    }

    /// Searches on `device` instead of the GPU (the brute-force CPU reference, for tests).
    pub fn with_search_device(mut self, device: SearchDevice) -> Self {
        self.device = device;
        self
    }

    pub fn config(&self) -> &StatsKnnConfig {
        &self.config
    }

    fn settings(&self) -> ModelSettings {
        let e = &self.config.embedding;
        ModelSettings {
            views: e.views.clone(),
            dims: e.views.iter().map(|&v| e.dim(v)).collect(),
            spectrum_bands: e.spectrum_bands,
            n_mels: e.features.n_mels,
            n_fft: e.features.n_fft,
            hop: e.features.hop,
            back_end: self.config.back_end,
        }
    }

    /// Adopts the settings of a loaded checkpoint; its front end must be this system's.
    fn adopt(&mut self, loaded: ModelSettings, path: &std::path::Path) -> Result<()> {
        let f = &self.config.embedding.features;
        if (loaded.n_mels, loaded.n_fft, loaded.hop) != (f.n_mels, f.n_fft, f.hop) {
            return Err(HarkError::invalid(
                "stats-knn",
                format!(
                    "{}: built with {} mels, n_fft {}, hop {}; this front end has {}, {}, {}",
                    path.display(),
                    loaded.n_mels,
                    loaded.n_fft,
                    loaded.hop,
                    f.n_mels,
                    f.n_fft,
                    f.hop
                ),
            ));
        }
        let e = &self.config.embedding;
        if loaded.views != e.views || loaded.spectrum_bands != e.spectrum_bands {
            let embedding = EmbeddingOptions {
                views: loaded.views.clone(),
                spectrum_bands: loaded.spectrum_bands,
                features: *f,
            };
            self.embedder = StatsEmbedder::new(&self.ctx, embedding.clone())?;
            self.config.embedding = embedding;
        }
        self.config.back_end = loaded.back_end;
        Ok(())
    }

    fn fit(&mut self, train_clips: &[&Clip]) -> Result<()> {
        let embeddings = self.embedder.embed_clips(train_clips)?;
        let dims = self.settings().dims;
        let mut by_section: BTreeMap<u32, Vec<TrainingClip>> = BTreeMap::new();
        for (clip, embedding) in train_clips.iter().zip(&embeddings) {
            by_section
                .entry(clip.name.section)
                .or_default()
                .push(TrainingClip {
                    name: &clip.file_name,
                    domain: clip.name.domain,
                    embedding,
                });
        }
        self.sections.clear();
        for (section, clips) in by_section {
            let model = SectionModel::fit(&self.device, self.config.back_end, &dims, &clips)?;
            self.sections.insert(section, model);
        }
        Ok(())
    }
}

impl AnomalyScorer for StatsKnnSystem {
    fn name(&self) -> &str {
        "stats-knn"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        if train_clips.is_empty() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: "no training clips".to_string(),
            });
        }
        if let Some(dir) = &self.load_from {
            let path = stats_knn_checkpoint_path(dir, &machine.machine);
            let (settings, sections) = load_stats_knn(&self.ctx, &path, &self.device)?;
            self.adopt(settings, &path)?;
            self.sections = sections;
            return Ok(());
        }
        self.fit(train_clips)?;
        if let Some(dir) = &self.save_to {
            let path = stats_knn_checkpoint_path(dir, &machine.machine);
            save_stats_knn(
                &self.ctx,
                &path,
                &machine.machine,
                &self.settings(),
                &self.sections,
            )?;
        }
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        for clip in clips {
            if !self.sections.contains_key(&clip.name.section) {
                return Err(HarkError::Dataset {
                    path: clip.path.display().to_string(),
                    detail: format!(
                        "section {:02} has no training clips in the model",
                        clip.name.section
                    ),
                });
            }
        }
        let embeddings = self.embedder.embed_clips(clips)?;
        let mut scores = vec![0.0; clips.len()];
        let mut by_section: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, clip) in clips.iter().enumerate() {
            by_section.entry(clip.name.section).or_default().push(i);
        }
        for (section, indices) in by_section {
            let model = self.sections.get(&section).ok_or_else(|| {
                HarkError::invalid("stats-knn", format!("section {section:02} vanished"))
            })?;
            let names: Vec<String> = indices
                .iter()
                .map(|&i| clips[i].file_name.clone())
                .collect();
            let rows: Vec<_> = indices.iter().map(|&i| &embeddings[i]).collect();
            for (&i, s) in indices.iter().zip(model.score(&names, &rows)?) {
                scores[i] = s;
            }
        }
        Ok(scores)
    }
}
