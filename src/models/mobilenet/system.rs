//! The MobileNetV2 baseline through the scoring contract: per machine type, cut every training
//! clip's log-mel spectrogram into patches, train a section classifier on them (softmax
//! cross-entropy, Adam), and score a clip by the mean over its patches of `log((1 - p) / p)`
//! for its own section's probability `p`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::network::{MobileNetV2, MobileNetV2Config};
use super::patches::{clip_score, log_odds_against, patch_starts};
use super::train::{train_resumable, StepReport};
use crate::audio::dataset::{Clip, MachineDataset};
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::context::Context;
use crate::detect::aggregate::{aggregate, Aggregation, SEGMENT_AGGREGATION_KEY};
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::io::checkpoint::{load_checkpoint, save_checkpoint, CheckpointHeader};
use crate::nn::{Layer, Mode};
use crate::runtime::Recorder;
use crate::tensor::Tensor;
use crate::train::TrainState;

/// The widest MobileNetV2 a checkpoint may ask for (4x the DCASE 2022 baseline's channels).
const MAX_WIDTH: f64 = 4.0;

/// The most sections a checkpoint's classifier head may have.
const MAX_SECTIONS: usize = 10_000;

/// Training and patch settings (003 §4.1: Adam lr 1e-4, batch 128, 20 epochs; 64-frame patches
/// every 8 frames as the reference code).
#[derive(Clone, Copy, Debug)]
pub struct MobileNetConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    /// Log-mel frames per patch.
    pub frames: usize,
    /// Frames between consecutive patches.
    pub hop_frames: usize,
    /// Width multiplier.
    pub width: f64,
    /// BatchNorm momentum in torch's terms (Keras' 0.999 is 0.001 here).
    pub bn_momentum: f32,
    /// Log-mel front end ([`FeatureKind::Logmel`]).
    pub features: FeatureSpec,
    /// How patch scores combine into a clip score; recorded in the checkpoint.
    pub aggregation: Aggregation,
    /// Score with the aggregation recorded in the loaded checkpoint instead of `aggregation`.
    pub aggregation_from_checkpoint: bool,
}

impl Default for MobileNetConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 128,
            lr: 1e-4,
            seed: 0,
            frames: 64,
            hop_frames: 8,
            width: 0.5,
            bn_momentum: 1e-3,
            features: FeatureSpec::dcase(FeatureKind::Logmel),
            aggregation: Aggregation::Mean,
            aggregation_from_checkpoint: false,
        }
    }
}

/// Every clip's log-mel spectrogram (`[frames, mels]` row-major) and where its patches start.
pub struct Patches {
    pub mels: usize,
    pub frames: usize,
    pub clips: Vec<Vec<f32>>,
    /// (clip index, first frame) of every patch, clip by clip.
    pub index: Vec<(usize, usize)>,
}

impl Patches {
    /// Cuts each spectrogram into `frames`-frame patches every `hop` frames.
    pub fn new(clips: Vec<Vec<f32>>, mels: usize, frames: usize, hop: usize) -> Result<Self> {
        let mut index = Vec::new();
        for (i, clip) in clips.iter().enumerate() {
            let starts = patch_starts(clip.len() / mels.max(1), frames, hop)?;
            index.extend(starts.into_iter().map(|s| (i, s)));
        }
        Ok(Self {
            mels,
            frames,
            clips,
            index,
        })
    }

    /// Values in one patch (`frames * mels`).
    pub fn patch_len(&self) -> usize {
        self.frames * self.mels
    }

    /// Copies patch `p` into `out` (`patch_len` values).
    pub fn copy_patch(&self, p: usize, out: &mut [f32]) {
        let (clip, start) = self.index[p];
        let len = self.patch_len();
        out.copy_from_slice(&self.clips[clip][start * self.mels..start * self.mels + len]);
    }
}

/// Clips per feature-extraction batch (bounds the GPU memory of a batch of 10 s clips).
const EXTRACT_BATCH: usize = 16;

/// Each clip's log-mel spectrogram; runs of equal-length clips go through the extractor as one
/// batch.
pub fn clip_logmels(extractor: &mut FeatureExtractor, clips: &[&Clip]) -> Result<Vec<Vec<f32>>> {
    let spec = *extractor.spec();
    let options = WavOptions {
        sample_rate: spec.sample_rate,
        downmix: false,
    };
    let paths: Vec<PathBuf> = clips.iter().map(|c| c.path.clone()).collect();
    let mut out = Vec::with_capacity(clips.len());
    for window in paths.chunks(EXTRACT_BATCH) {
        let waves = read_many(window, &options, OnBadFile::Stop)?.clips;
        let mut start = 0;
        while start < waves.len() {
            let len = waves[start].len();
            let end = start + waves[start..].iter().take_while(|w| w.len() == len).count();
            let batch = extractor.extract(&waves[start..end])?;
            out.extend((0..end - start).map(|i| batch.clip(i).to_vec()));
            start = end;
        }
    }
    Ok(out)
}

/// The logits `[patches, classes]` of every patch (eval mode), `batch` patches per pass.
pub fn patch_logits(
    ctx: &Context,
    model: &mut MobileNetV2,
    patches: &Patches,
    batch: usize,
) -> Result<Vec<f32>> {
    let n = patches.index.len();
    let len = patches.patch_len();
    let batch = batch.max(1);
    let mut logits = Vec::with_capacity(n * model.config.classes);
    let mut staging = vec![0.0f32; batch * len];
    let mut start = 0;
    while start < n {
        let count = batch.min(n - start);
        for row in 0..count {
            patches.copy_patch(start + row, &mut staging[row * len..(row + 1) * len]);
        }
        let x = Tensor::from_slice(
            ctx,
            &[count, 1, patches.frames, patches.mels],
            &staging[..count * len],
        )?;
        let mut rec = Recorder::new(ctx);
        let y = model.forward(&mut rec, &x, Mode::Eval)?;
        rec.submit()?;
        logits.extend(y.to_vec(ctx)?);
        start += count;
    }
    Ok(logits)
}

/// Each clip's score from its patches' logits: `log((1 - p) / p)` for `classes[clip]` per patch,
/// combined by `how` (003: the mean).
pub fn clip_scores(
    logits: &[f32],
    patches: &Patches,
    classes: usize,
    clip_classes: &[usize],
    how: Aggregation,
) -> Result<Vec<f64>> {
    let mut scores = Vec::with_capacity(clip_classes.len());
    let mut p = 0;
    for (clip, &class) in clip_classes.iter().enumerate() {
        let count = patches.index[p..]
            .iter()
            .take_while(|&&(c, _)| c == clip)
            .count();
        let clip_logits = &logits[p * classes..(p + count) * classes];
        // Checks the shapes (and gives the mean).
        let mean = clip_score(clip_logits, classes, class)?;
        scores.push(if how == Aggregation::Mean {
            mean
        } else {
            let per_patch: Vec<f64> = clip_logits
                .chunks(classes)
                .map(|row| log_odds_against(row, class))
                .collect();
            aggregate(how, &per_patch, &[])?
        });
        p += count;
    }
    Ok(scores)
}

/// Called after every training batch with the machine type's name.
pub type StepCallback = Box<dyn FnMut(&str, &StepReport)>;

/// The checkpoint file of one machine type's model.
pub fn checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("mobilenet_{machine}.safetensors"))
}

/// One machine type's trained classifier and the section ID of each class.
pub struct SectionClassifier {
    pub model: MobileNetV2,
    /// Section ID of class `i`, ascending.
    pub sections: Vec<u32>,
    /// The patch aggregation it was trained with (checkpoints without one: mean).
    pub aggregation: Aggregation,
}

/// The MobileNetV2 system through the scoring contract: one classifier per machine type.
pub struct MobileNetSystem {
    ctx: Context,
    config: MobileNetConfig,
    extractor: FeatureExtractor,
    classifier: Option<SectionClassifier>,
    pub on_step: Option<StepCallback>,
    /// Save each machine type's model as `<dir>/mobilenet_<machine>.safetensors`.
    pub save_to: Option<PathBuf>,
    /// Load each machine type's model from that file instead of training.
    pub load_from: Option<PathBuf>,
    /// With `save_to`, continue each machine type's training from its
    /// `<dir>/mobilenet_<machine>.train.safetensors` state when there is one (see [`TrainState`]).
    pub resume: bool,
}

impl MobileNetSystem {
    pub fn new(ctx: &Context, config: MobileNetConfig) -> Result<Self> {
        if config.features.kind != FeatureKind::Logmel {
            return Err(HarkError::invalid(
                "mobilenet",
                "the MobileNetV2 baseline reads log-mel features",
            ));
        }
        patch_starts(config.frames, config.frames, config.hop_frames)?;
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.features)?,
            config,
            classifier: None,
            on_step: None,
            save_to: None,
            load_from: None,
            resume: false,
        })
    }

    /// The classifier of the last machine type trained or loaded.
    pub fn classifier(&self) -> Option<&SectionClassifier> {
        self.classifier.as_ref()
    }

    fn patches(&mut self, clips: &[&Clip]) -> Result<Patches> {
        let logmels = clip_logmels(&mut self.extractor, clips)?;
        let c = &self.config;
        Patches::new(logmels, c.features.n_mels, c.frames, c.hop_frames)
    }
}

fn metadata(config: &MobileNetConfig, sections: &[u32]) -> HashMap<String, String> {
    let list: Vec<String> = sections.iter().map(u32::to_string).collect();
    HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "hark_model".to_string(),
            "dcase2022_mobilenet_v2".to_string(),
        ),
        ("width".to_string(), config.width.to_string()),
        ("sections".to_string(), list.join(",")),
        ("patch_frames".to_string(), config.frames.to_string()),
        ("hop_frames".to_string(), config.hop_frames.to_string()),
        ("n_mels".to_string(), config.features.n_mels.to_string()),
        (
            SEGMENT_AGGREGATION_KEY.to_string(),
            config.aggregation.name(),
        ),
    ])
}

impl SectionClassifier {
    /// Saves the network (torchvision names) with its width and section IDs in the metadata.
    pub fn save(&self, ctx: &Context, path: &Path, config: &MobileNetConfig) -> Result<()> {
        save_checkpoint(
            ctx,
            path,
            &self.model.state_dict(),
            metadata(config, &self.sections),
        )
    }

    /// Loads a classifier saved by [`SectionClassifier::save`]; the patch geometry in the file
    /// must match `config`'s.
    pub fn load(ctx: &Context, path: &Path, config: &MobileNetConfig) -> Result<Self> {
        let bad = |detail: String| {
            HarkError::invalid("mobilenet", format!("{}: {detail}", path.display()))
        };
        let meta = CheckpointHeader::read(path)?.metadata;
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| bad(format!("no '{key}' metadata")))
        };
        let sections = get("sections")?
            .split(',')
            .map(|s| {
                s.parse::<u32>()
                    .map_err(|_| bad(format!("bad section '{s}'")))
            })
            .collect::<Result<Vec<u32>>>()?;
        let width: f64 = get("width")?
            .parse()
            .map_err(|_| bad("bad width".to_string()))?;
        // The width multiplier scales every layer's channels (parameters by its square):
        // refuse one the network cannot be built with before allocating it.
        if !(width.is_finite() && width > 0.0 && width <= MAX_WIDTH) {
            return Err(HarkError::FileSize {
                path: path.display().to_string(),
                field: "width".into(),
                value: width.to_string(),
                reason: format!("must be in (0, {MAX_WIDTH}]"),
            });
        }
        if sections.is_empty() || sections.len() > MAX_SECTIONS {
            return Err(HarkError::FileSize {
                path: path.display().to_string(),
                field: "sections".into(),
                value: sections.len().to_string(),
                reason: format!("must be 1 to {MAX_SECTIONS} sections"),
            });
        }
        for (key, want) in [
            ("patch_frames", config.frames),
            ("hop_frames", config.hop_frames),
            ("n_mels", config.features.n_mels),
        ] {
            if get(key)? != &want.to_string() {
                return Err(bad(format!("{key} {} but this run uses {want}", get(key)?)));
            }
        }
        let net = MobileNetV2Config {
            width,
            bn_momentum: config.bn_momentum,
            ..MobileNetV2Config::dcase2022(sections.len())
        };
        let model = MobileNetV2::new(ctx, net, 0)?;
        load_checkpoint(ctx, path, &model.state_dict())?;
        let aggregation = Aggregation::from_metadata(&meta)?;
        Ok(Self {
            model,
            sections,
            aggregation,
        })
    }
}

impl AnomalyScorer for MobileNetSystem {
    fn name(&self) -> &str {
        "mobilenet"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        if let Some(dir) = &self.load_from {
            let path = checkpoint_path(dir, &machine.machine);
            self.classifier = Some(SectionClassifier::load(&self.ctx, &path, &self.config)?);
            return Ok(());
        }
        let class_of: BTreeMap<u32, usize> = {
            let ids: std::collections::BTreeSet<u32> =
                train_clips.iter().map(|c| c.name.section).collect();
            ids.into_iter().enumerate().map(|(i, s)| (s, i)).collect()
        };
        if class_of.len() < 2 {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: format!(
                    "the MobileNetV2 baseline classifies sections, but machine type '{}' has \
                     training clips of {} section(s); it needs at least 2 (use --system ae)",
                    machine.machine,
                    class_of.len()
                ),
            });
        }
        let labels: Vec<usize> = train_clips
            .iter()
            .map(|c| class_of[&c.name.section])
            .collect();
        let patches = self.patches(train_clips)?;
        let net = MobileNetV2Config {
            width: self.config.width,
            bn_momentum: self.config.bn_momentum,
            ..MobileNetV2Config::dcase2022(class_of.len())
        };
        let mut model = MobileNetV2::new(&self.ctx, net, self.config.seed)?;
        let name = machine.machine.clone();
        let mut callback = self.on_step.take();
        let state = self
            .save_to
            .as_ref()
            .map(|dir| TrainState::in_models_dir(dir, "mobilenet", &machine.machine, self.resume));
        let result = train_resumable(
            &self.ctx,
            &mut model,
            &patches,
            &labels,
            &self.config,
            state.as_ref(),
            |r| {
                if let Some(cb) = callback.as_mut() {
                    cb(&name, r);
                }
            },
        );
        self.on_step = callback;
        result?;
        let classifier = SectionClassifier {
            model,
            sections: class_of.into_keys().collect(),
            aggregation: self.config.aggregation,
        };
        if let Some(dir) = &self.save_to {
            classifier.save(
                &self.ctx,
                &checkpoint_path(dir, &machine.machine),
                &self.config,
            )?;
        }
        self.classifier = Some(classifier);
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let patches = self.patches(clips)?;
        let batch = self.config.batch_size;
        let classifier = self
            .classifier
            .as_mut()
            .ok_or_else(|| HarkError::invalid("mobilenet", "score before train"))?;
        let classes: Vec<usize> = clips
            .iter()
            .map(|c| {
                classifier
                    .sections
                    .iter()
                    .position(|&s| s == c.name.section)
                    .ok_or_else(|| {
                        HarkError::invalid(
                            "mobilenet",
                            format!(
                                "clip {} is from section {:02}, which the classifier was not \
                                 trained on (sections {:?})",
                                c.file_name, c.name.section, classifier.sections
                            ),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        let logits = patch_logits(&self.ctx, &mut classifier.model, &patches, batch)?;
        let how = if self.config.aggregation_from_checkpoint {
            classifier.aggregation
        } else {
            self.config.aggregation
        };
        clip_scores(&logits, &patches, classifier.sections.len(), &classes, how)
    }
}
