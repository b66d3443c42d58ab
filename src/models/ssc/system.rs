//! The self-supervised classifier through the scoring contract: one network per machine type,
//! trained on its `train/` clips; test clips are scored by `1 - max cosine` to the training
//! embeddings of their section (paper 002's eq. 7, the default) or by `log((1 - p) / p)` of the
//! softmax of their section (eq. 6).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::audio::dataset::{Clip, MachineDataset};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::io::checkpoint::{load_checkpoint, save_checkpoint, CheckpointHeader, MAX_CLIP_SAMPLES};
use crate::knn::{CosineIndex, IndexOptions};
use crate::models::ssc::data::{load_clips, Classes, ClipInputs, Standardizer};
use crate::models::ssc::network::{SscInputs, SscNetwork, SscShape};
use crate::models::ssc::train::{
    train_resumable, EpochReport, Labels, TrainSettings, TripletLabels,
};
use crate::nn::Mode;
use crate::runtime::Recorder;
use crate::tensor::Tensor;
use crate::train::TrainState;

/// How test clips are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SscScore {
    /// `1 - max_k cos(e, e_k)` over the section's training embeddings (eq. 7).
    Cosine,
    /// `log((1 - p) / p)`, p the softmax probability of the clip's section (eq. 6).
    Confidence,
}

/// Everything about a run but the data.
#[derive(Clone, Debug)]
pub struct SscConfig {
    pub train: TrainSettings,
    /// TgramNet input on or off (ablation).
    pub tgram: bool,
    pub channels: usize,
    pub pool_channels: usize,
    pub embedding: usize,
    pub score: SscScore,
    /// Folder of user features (see [`crate::models::ssc::data`]).
    pub extra_features: Option<PathBuf>,
    pub features: FeatureSpec,
}

impl Default for SscConfig {
    fn default() -> Self {
        Self {
            train: TrainSettings {
                epochs: 100,
                batch_size: 32,
                lr: 2e-4,
                seed: 0,
                weights: Default::default(),
                triplet_labels: TripletLabels::Section,
            },
            tgram: true,
            channels: 256,
            pool_channels: 512,
            embedding: 128,
            score: SscScore::Cosine,
            extra_features: None,
            features: FeatureSpec::dcase(FeatureKind::Logmel),
        }
    }
}

/// Called after every epoch with the machine type's name.
pub type EpochCallback = Box<dyn FnMut(&str, &EpochReport)>;

/// A trained machine type: network, input statistics, classes, training embeddings by section.
struct Trained {
    network: SscNetwork,
    mel_stats: Standardizer,
    extra_stats: Option<Standardizer>,
    classes: Classes,
    /// Per section: the training clips' paths and their embedding index.
    references: HashMap<u32, (Vec<PathBuf>, CosineIndex)>,
}

/// The system; see the module docs.
pub struct SscSystem {
    ctx: Context,
    config: SscConfig,
    extractor: FeatureExtractor,
    trained: Option<Trained>,
    pub on_epoch: Option<EpochCallback>,
    /// Save each machine type's network as `<dir>/ssc_<machine>.safetensors`.
    pub save_to: Option<PathBuf>,
    /// Load each machine type's network from there instead of training.
    pub load_from: Option<PathBuf>,
    /// With `save_to`, continue each machine type's training from its
    /// `<dir>/ssc_<machine>.train.safetensors` state when there is one (see [`TrainState`]).
    pub resume: bool,
}

/// The checkpoint file of one machine type's network.
pub fn checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("ssc_{machine}.safetensors"))
}

/// Clips per embedding pass.
const EMBED_BATCH: usize = 16;

fn parse<T: std::str::FromStr>(
    path: &Path,
    meta: &HashMap<String, String>,
    key: &str,
) -> Result<T> {
    meta.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| {
        HarkError::invalid(
            "ssc",
            format!("{}: metadata {key} missing or bad", path.display()),
        )
    })
}

impl SscSystem {
    pub fn new(ctx: &Context, config: SscConfig) -> Result<Self> {
        if config.features.kind != FeatureKind::Logmel {
            return Err(HarkError::invalid(
                "ssc",
                "the classifier reads log-mel features",
            ));
        }
        if config.features.hop != crate::models::ssc::tgram::TGRAM_HOP {
            return Err(HarkError::invalid(
                "ssc",
                "the log-mel hop must match TgramNet's (512)",
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.features)?,
            config,
            trained: None,
            on_epoch: None,
            save_to: None,
            load_from: None,
            resume: false,
        })
    }

    /// The last trained machine type's network.
    pub fn network(&self) -> Option<&SscNetwork> {
        self.trained.as_ref().map(|t| &t.network)
    }

    fn save(&self, trained: &Trained, path: &Path) -> Result<()> {
        let s = trained.network.shape();
        let mut tensors = trained.network.state_dict();
        let mut stats = vec![
            ("input.mel_mean".to_string(), &trained.mel_stats.mean),
            ("input.mel_std".to_string(), &trained.mel_stats.std),
        ];
        if let Some(e) = &trained.extra_stats {
            stats.push(("input.extra_mean".to_string(), &e.mean));
            stats.push(("input.extra_std".to_string(), &e.std));
        }
        let owned = stats
            .iter()
            .map(|(name, v)| Ok((name.clone(), Tensor::from_slice(&self.ctx, &[v.len()], v)?)))
            .collect::<Result<Vec<_>>>()?;
        tensors.extend(owned.iter().map(|(n, t)| (n.clone(), t)));
        let sections: Vec<String> = trained
            .classes
            .sections
            .iter()
            .map(|s| s.to_string())
            .collect();
        let metadata = HashMap::from([
            ("format".to_string(), "pt".to_string()),
            ("hark_model".to_string(), "ssc".to_string()),
            ("ssc.samples".to_string(), s.samples.to_string()),
            ("ssc.mel_bins".to_string(), s.mel_bins.to_string()),
            ("ssc.tgram".to_string(), s.tgram.to_string()),
            ("ssc.extra_dims".to_string(), s.extra_dims.to_string()),
            ("ssc.channels".to_string(), s.channels.to_string()),
            ("ssc.pool_channels".to_string(), s.pool_channels.to_string()),
            ("ssc.embedding".to_string(), s.embedding.to_string()),
            ("ssc.sections".to_string(), sections.join(",")),
            (
                "ssc.attributes".to_string(),
                trained.classes.attributes.join("\n"),
            ),
        ]);
        save_checkpoint(&self.ctx, path, &tensors, metadata)
    }

    fn load(&self, path: &Path) -> Result<Trained> {
        let meta = load_checkpoint(&self.ctx, path, &[])?;
        if meta.get("hark_model").map(String::as_str) != Some("ssc") {
            return Err(HarkError::invalid(
                "ssc",
                format!("{}: not an ssc model", path.display()),
            ));
        }
        let sections = meta
            .get("ssc.sections")
            .map(|s| {
                s.split(',')
                    .map(str::parse)
                    .collect::<std::result::Result<Vec<u32>, _>>()
            })
            .and_then(|r| r.ok())
            .ok_or_else(|| {
                HarkError::invalid("ssc", format!("{}: bad ssc.sections", path.display()))
            })?;
        let attributes: Vec<String> = meta
            .get("ssc.attributes")
            .map(|a| a.split('\n').map(String::from).collect())
            .unwrap_or_default();
        // Sizes are bounded by what the file stores before the network is built from them.
        let header = CheckpointHeader::read(path)?;
        let extra_dims: usize = parse(path, &meta, "ssc.extra_dims")?;
        let shape = SscShape {
            samples: header.size("ssc.samples", MAX_CLIP_SAMPLES, "one hour at 16 kHz")?,
            mel_bins: header.dimension("ssc.mel_bins")?,
            tgram: parse(path, &meta, "ssc.tgram")?,
            extra_dims: if extra_dims == 0 {
                0
            } else {
                header.dimension("ssc.extra_dims")?
            },
            channels: header.dimension("ssc.channels")?,
            pool_channels: header.dimension("ssc.pool_channels")?,
            embedding: header.dimension("ssc.embedding")?,
            sections: sections.len(),
            attributes: attributes.len(),
        };
        // The weights every such network has, at least: the first TDNN layer's, three
        // channels x channels layers, the pooling layer's, the embedding and both heads.
        let m = |a: usize, b: usize| (a as u64).saturating_mul(b as u64);
        let c = shape.channels;
        let least = [
            m(c, shape.mel_bins),
            m(c, c).saturating_mul(3),
            m(c, shape.pool_channels),
            m(c, shape.extra_dims),
            m(shape.pool_channels, shape.embedding).saturating_mul(2),
            m(shape.embedding, shape.sections + shape.attributes),
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add);
        header.require_fits("the ssc network of this metadata", least)?;
        let network = SscNetwork::new(&self.ctx, shape, 0)?;
        let zeros = |n: usize| Tensor::from_slice(&self.ctx, &[n], &vec![0.0; n]);
        let stats: Vec<Tensor> = (0..if shape.extra_dims > 0 { 4 } else { 2 })
            .map(|i| {
                zeros(if i < 2 {
                    shape.mel_bins
                } else {
                    shape.extra_dims
                })
            })
            .collect::<Result<_>>()?;
        let names = [
            "input.mel_mean",
            "input.mel_std",
            "input.extra_mean",
            "input.extra_std",
        ];
        let mut tensors = network.state_dict();
        tensors.extend(names.iter().zip(&stats).map(|(n, t)| (n.to_string(), t)));
        load_checkpoint(&self.ctx, path, &tensors)?;
        let read = |i: usize| stats[i].to_vec(&self.ctx);
        let mel_stats = Standardizer {
            mean: read(0)?,
            std: read(1)?,
        };
        let extra_stats = if shape.extra_dims > 0 {
            Some(Standardizer {
                mean: read(2)?,
                std: read(3)?,
            })
        } else {
            None
        };
        Ok(Trained {
            network,
            mel_stats,
            extra_stats,
            classes: Classes {
                sections,
                attributes,
            },
            references: HashMap::new(),
        })
    }

    /// Loads `clips` for `trained` (its length, standardised with its statistics).
    fn inputs(&mut self, trained: &Trained, clips: &[&Clip]) -> Result<ClipInputs> {
        let s = *trained.network.shape();
        let extra_dir = self.config.extra_features.as_deref();
        if extra_dir.is_some() != (s.extra_dims > 0) {
            return Err(HarkError::invalid(
                "ssc",
                "give --extra-features exactly when the model was trained with them",
            ));
        }
        let dims = (s.extra_dims > 0).then_some(s.extra_dims);
        let (mut inputs, _) = load_clips(&mut self.extractor, clips, s.samples, extra_dir, dims)?;
        trained.mel_stats.apply(&mut inputs.mels, s.frames());
        if let Some(e) = &trained.extra_stats {
            e.apply(&mut inputs.extras, s.frames());
        }
        Ok(inputs)
    }

    /// Embeddings `[clips, embedding]` and section logits `[clips, sections]` (eval mode).
    fn embed(&self, network: &mut SscNetwork, data: &ClipInputs) -> Result<(Vec<f32>, Vec<f32>)> {
        let s = *network.shape();
        let frames = s.frames();
        let mut embeddings = Vec::with_capacity(data.count * s.embedding);
        let mut logits = Vec::with_capacity(data.count * s.sections);
        let mut start = 0;
        while start < data.count {
            let n = EMBED_BATCH.min(data.count - start);
            let slice = |v: &[f32], per: usize| v[start * per..(start + n) * per].to_vec();
            let wave = Tensor::from_slice(
                &self.ctx,
                &[n, 1, s.samples],
                &slice(&data.waves, s.samples),
            )?;
            let mel = Tensor::from_slice(
                &self.ctx,
                &[n, s.mel_bins, frames],
                &slice(&data.mels, s.mel_bins * frames),
            )?;
            let extra = (s.extra_dims > 0)
                .then(|| {
                    Tensor::from_slice(
                        &self.ctx,
                        &[n, s.extra_dims, frames],
                        &slice(&data.extras, s.extra_dims * frames),
                    )
                })
                .transpose()?;
            let inputs = SscInputs {
                wave: &wave,
                mel: &mel,
                extra: extra.as_ref(),
            };
            let mut rec = Recorder::new(&self.ctx);
            let out = network.forward(&mut rec, &inputs, Mode::Eval)?;
            rec.submit()?;
            embeddings.extend(out.embedding.to_vec(&self.ctx)?);
            logits.extend(out.section_logits.to_vec(&self.ctx)?);
            start += n;
        }
        Ok((embeddings, logits))
    }

    /// Builds each section's index of training embeddings.
    fn index_training_clips(&mut self, trained: &mut Trained, clips: &[&Clip]) -> Result<()> {
        let data = self.inputs(trained, clips)?;
        let (embeddings, _) = self.embed(&mut trained.network, &data)?;
        let dim = trained.network.shape().embedding;
        let mut by_section: HashMap<u32, (Vec<PathBuf>, Vec<f32>)> = HashMap::new();
        for (i, clip) in clips.iter().enumerate() {
            let entry = by_section.entry(clip.name.section).or_default();
            entry.0.push(clip.path.clone());
            entry
                .1
                .extend_from_slice(&embeddings[i * dim..(i + 1) * dim]);
        }
        trained.references.clear();
        for (section, (paths, rows)) in by_section {
            let index = CosineIndex::from_slice(&self.ctx, &rows, dim, IndexOptions::default())?;
            trained.references.insert(section, (paths, index));
        }
        Ok(())
    }
}

/// `log((1 - p) / p)` for the softmax probability p of class `c` of `logits`, in log space:
/// `logsumexp_{j != c} z_j - z_c`. One class gives p = 1 always: the score is the constant 0.
pub fn confidence_score(logits: &[f32], c: usize) -> f64 {
    if logits.len() < 2 {
        return 0.0;
    }
    let others = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != c)
        .map(|(_, &z)| f64::from(z));
    let max = others.clone().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + others.map(|z| (z - max).exp()).sum::<f64>().ln();
    lse - f64::from(logits[c])
}

impl AnomalyScorer for SscSystem {
    fn name(&self) -> &str {
        "ssc"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        if train_clips.is_empty() {
            return Err(HarkError::invalid("ssc", "no training clips"));
        }
        let mut trained = if let Some(dir) = &self.load_from {
            self.load(&checkpoint_path(dir, &machine.machine))?
        } else {
            self.fit(&machine.machine, train_clips)?
        };
        self.index_training_clips(&mut trained, train_clips)?;
        self.trained = Some(trained);
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let mut trained = self
            .trained
            .take()
            .ok_or_else(|| HarkError::invalid("ssc", "score before train"))?;
        let result = self.score_with(&mut trained, clips);
        self.trained = Some(trained);
        result
    }
}

impl SscSystem {
    fn fit(&mut self, machine: &str, clips: &[&Clip]) -> Result<Trained> {
        let classes = Classes::of(clips);
        let samples = clips
            .first()
            .map(|c| crate::audio::wav::read_wav(&c.path, &Default::default()).map(|w| w.len()))
            .transpose()?
            .unwrap_or(0);
        let extra_dir = self.config.extra_features.clone();
        let (mut data, extra_dims) = load_clips(
            &mut self.extractor,
            clips,
            samples,
            extra_dir.as_deref(),
            None,
        )?;
        let shape = SscShape {
            samples,
            mel_bins: self.config.features.n_mels,
            tgram: self.config.tgram,
            extra_dims,
            channels: self.config.channels,
            pool_channels: self.config.pool_channels,
            embedding: self.config.embedding,
            sections: classes.sections.len(),
            attributes: classes.attributes.len(),
        };
        let frames = shape.frames();
        let mel_stats = Standardizer::fit(&data.mels, shape.mel_bins, frames);
        mel_stats.apply(&mut data.mels, frames);
        let extra_stats = (extra_dims > 0).then(|| {
            let s = Standardizer::fit(&data.extras, extra_dims, frames);
            s.apply(&mut data.extras, frames);
            s
        });
        let labels = Labels {
            sections: clips
                .iter()
                .map(|c| classes.section_index(c.name.section).unwrap_or(0))
                .collect(),
            attributes: clips
                .iter()
                .map(|c| classes.attribute_index(c).unwrap_or(0))
                .collect(),
        };
        let mut settings = self.config.train;
        // One section leaves the triplet loss without negatives; the attribute classes give it
        // some (and the attribute loss its own signal). Section CE is then constant (zero).
        if classes.sections.len() < 2 {
            settings.triplet_labels = TripletLabels::Attribute;
            if classes.attributes.len() < 2 {
                return Err(HarkError::invalid(
                    "ssc",
                    format!("{machine}: one section and one attribute class: nothing to classify"),
                ));
            }
        }
        let mut network = SscNetwork::new(&self.ctx, shape, settings.seed)?;
        let mut callback = self.on_epoch.take();
        let state = self
            .save_to
            .as_ref()
            .map(|dir| TrainState::in_models_dir(dir, "ssc", machine, self.resume));
        let result = train_resumable(
            &self.ctx,
            &mut network,
            &data,
            &labels,
            &settings,
            state.as_ref(),
            |report| {
                if let Some(cb) = callback.as_mut() {
                    cb(machine, report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        let trained = Trained {
            network,
            mel_stats,
            extra_stats,
            classes,
            references: HashMap::new(),
        };
        if let Some(dir) = &self.save_to {
            self.save(&trained, &checkpoint_path(dir, machine))?;
        }
        Ok(trained)
    }

    fn score_with(&mut self, trained: &mut Trained, clips: &[&Clip]) -> Result<Vec<f64>> {
        if clips.is_empty() {
            return Ok(Vec::new());
        }
        let data = self.inputs(trained, clips)?;
        let (embeddings, logits) = self.embed(&mut trained.network, &data)?;
        let s = *trained.network.shape();
        let mut scores = Vec::with_capacity(clips.len());
        for (i, clip) in clips.iter().enumerate() {
            let section = clip.name.section;
            let unknown = || HarkError::Dataset {
                path: clip.path.display().to_string(),
                detail: format!("section {section:02} was not in the training data"),
            };
            let score = match self.config.score {
                SscScore::Confidence => {
                    let c = trained.classes.section_index(section).ok_or_else(unknown)?;
                    confidence_score(&logits[i * s.sections..(i + 1) * s.sections], c)
                }
                SscScore::Cosine => {
                    let (paths, index) = trained.references.get(&section).ok_or_else(unknown)?;
                    let query = &embeddings[i * s.embedding..(i + 1) * s.embedding];
                    let k = index.len().min(2);
                    let (found, sims) = index.search(query, k)?;
                    // A training clip scored against its own section skips itself (leave one
                    // out): its own embedding would always give 0.
                    let own = paths.iter().position(|p| *p == clip.path);
                    let best = (0..k).find(|&j| Some(found[j] as usize) != own);
                    best.map_or(0.0, |j| 1.0 - f64::from(sims[j]))
                }
            };
            scores.push(score);
        }
        Ok(scores)
    }
}
