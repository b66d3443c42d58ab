//! The separation-based ASD variants of 000 through the scoring contract: the autoencoder
//! after Type-Sep or ID-Sep separation, and separation-based OE (score = MSE between the ID-Sep
//! and Type-Sep outputs). One [`SeparationSystem`] trains each machine type's separators and
//! autoencoder once and can then score as any variant, so the variants compare on the very same
//! models (000 Table 3).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::mixtures::{SeparationTarget, StemSet};
use super::train::{separate, train_separator, SeparatorEpochReport, SeparatorTrainConfig};
use crate::audio::dataset::{Clip, MachineDataset};
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::FeatureExtractor;
use crate::models::autoencoder::{
    clip_errors, clip_vectors, train as train_autoencoder, waveform_vectors, AutoencoderConfig,
    DenseAutoencoder, TrainState,
};
use crate::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig};

/// How a clip is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeparationVariant {
    /// The plain autoencoder on the mixture (000's baseline).
    Baseline,
    /// The autoencoder on the Type-Sep output.
    AfterTypeSep,
    /// The autoencoder on the ID-Sep output of the clip's section.
    AfterIdSep,
    /// MSE between the ID-Sep and the Type-Sep outputs.
    SeparationOe,
}

impl SeparationVariant {
    pub const ALL: [SeparationVariant; 4] = [
        SeparationVariant::Baseline,
        SeparationVariant::AfterTypeSep,
        SeparationVariant::AfterIdSep,
        SeparationVariant::SeparationOe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SeparationVariant::Baseline => "baseline-ae",
            SeparationVariant::AfterTypeSep => "after-type-sep",
            SeparationVariant::AfterIdSep => "after-id-sep",
            SeparationVariant::SeparationOe => "sep-oe",
        }
    }
}

/// Which separator produced a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Separator {
    Type,
    Id(u32),
}

/// Settings of the whole system.
#[derive(Clone, Copy, Debug)]
pub struct SeparationSystemConfig {
    pub separator: ConvTasNetConfig,
    pub training: SeparatorTrainConfig,
    pub autoencoder: AutoencoderConfig,
}

/// One machine type's trained models.
struct Trained {
    type_sep: ConvTasNet,
    id_seps: BTreeMap<u32, ConvTasNet>,
    autoencoder: DenseAutoencoder,
}

/// A progress event: (machine, separator or None for the autoencoder, epoch report).
pub type SeparationProgress = Box<dyn FnMut(&str, Option<Separator>, &SeparatorEpochReport)>;

pub struct SeparationSystem {
    ctx: Context,
    config: SeparationSystemConfig,
    extractor: FeatureExtractor,
    /// The variant [`AnomalyScorer::score`] computes; switch it between runs.
    pub variant: SeparationVariant,
    trained: HashMap<String, Trained>,
    current: Option<String>,
    /// Separated signals already computed, by (separator, clip path).
    cache: HashMap<(String, Separator, PathBuf), Vec<f32>>,
    /// Keep each separator's training state and final model under this folder
    /// (`sep_<machine>_type.safetensors`, `sep_<machine>_id_<ss>.safetensors`).
    pub save_to: Option<PathBuf>,
    /// Continue interrupted separator trainings from the states under `save_to`.
    pub resume: bool,
    pub on_epoch: Option<SeparationProgress>,
}

/// The file of one separator of `machine`.
pub fn separator_path(dir: &std::path::Path, machine: &str, which: Separator) -> PathBuf {
    match which {
        Separator::Type => dir.join(format!("sep_{machine}_type.safetensors")),
        Separator::Id(s) => dir.join(format!("sep_{machine}_id_{s:02}.safetensors")),
    }
}

impl SeparationSystem {
    pub fn new(ctx: &Context, config: SeparationSystemConfig) -> Result<Self> {
        config.separator.validate()?;
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.autoencoder.features)?,
            config,
            variant: SeparationVariant::SeparationOe,
            trained: HashMap::new(),
            current: None,
            cache: HashMap::new(),
            save_to: None,
            resume: false,
            on_epoch: None,
        })
    }

    fn train_separator(
        &mut self,
        machine: &str,
        stems: &StemSet,
        which: Separator,
    ) -> Result<ConvTasNet> {
        let seed = self.config.training.seed
            ^ match which {
                Separator::Type => 0x7e,
                Separator::Id(s) => 0x1d00 + u64::from(s),
            };
        let mut model = ConvTasNet::new(&self.ctx, self.config.separator, seed)?;
        let target = match which {
            Separator::Type => SeparationTarget::MachineType,
            Separator::Id(s) => SeparationTarget::Section(s),
        };
        let state = self.save_to.as_ref().map(|dir| TrainState {
            path: separator_path(dir, machine, which).with_extension("train.safetensors"),
            resume: self.resume,
        });
        let training = SeparatorTrainConfig {
            seed,
            ..self.config.training
        };
        let mut callback = self.on_epoch.take();
        let result = train_separator(
            &self.ctx,
            &mut model,
            stems,
            target,
            &training,
            state.as_ref(),
            |report| {
                if let Some(cb) = callback.as_mut() {
                    cb(machine, Some(which), report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        if let Some(dir) = &self.save_to {
            model.save(&separator_path(dir, machine, which))?;
        }
        Ok(model)
    }

    /// The separated signals of `clips` by `which` (cached).
    fn separated(
        &mut self,
        which: Separator,
        clips: &[&Clip],
        waves: &[Vec<f32>],
    ) -> Result<Vec<Vec<f32>>> {
        let machine = self
            .current
            .clone()
            .ok_or_else(|| HarkError::invalid("separation", "score before train"))?;
        let trained = self
            .trained
            .get_mut(&machine)
            .ok_or_else(|| HarkError::invalid("separation", "score before train"))?;
        let mut out = Vec::with_capacity(clips.len());
        for (clip, wave) in clips.iter().zip(waves) {
            let key = (machine.clone(), which, clip.path.clone());
            if let Some(done) = self.cache.get(&key) {
                out.push(done.clone());
                continue;
            }
            let model = match which {
                Separator::Type => &mut trained.type_sep,
                Separator::Id(s) => trained.id_seps.get_mut(&s).ok_or_else(|| {
                    HarkError::invalid(
                        "separation",
                        format!("no ID-Sep model for section {s:02} (no training clips)"),
                    )
                })?,
            };
            let signal = separate(&self.ctx, model, std::slice::from_ref(wave))?
                .pop()
                .unwrap_or_default();
            self.cache.insert(key, signal.clone());
            out.push(signal);
        }
        Ok(out)
    }

    /// The output of separator `which` of the (trained) machine type `machine` for `clip`.
    pub fn separated_signal(
        &mut self,
        machine: &str,
        which: Separator,
        clip: &Clip,
        wave: &[f32],
    ) -> Result<Vec<f32>> {
        self.current = Some(machine.to_string());
        Ok(self
            .separated(which, &[clip], &[wave.to_vec()])?
            .pop()
            .unwrap_or_default())
    }

    /// Autoencoder scores of waveforms (equal lengths are batched by the extractor).
    fn autoencoder_scores(&mut self, waves: &[Vec<f32>]) -> Result<Vec<f64>> {
        let (vectors, counts) = waveform_vectors(&mut self.extractor, waves)?;
        let machine = self.current.clone().unwrap_or_default();
        let trained = self
            .trained
            .get_mut(&machine)
            .ok_or_else(|| HarkError::invalid("separation", "score before train"))?;
        clip_errors(&self.ctx, &mut trained.autoencoder, &vectors, &counts)
    }
}

impl AnomalyScorer for SeparationSystem {
    fn name(&self) -> &str {
        self.variant.name()
    }

    /// Trains (once per machine type; later calls reuse the models): the Type-Sep model, one
    /// ID-Sep model per section, and the autoencoder on the training mixtures (000 trains the
    /// ASD model on the mixtures, as without separation).
    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        self.current = Some(machine.machine.clone());
        if self.trained.contains_key(&machine.machine) {
            return Ok(());
        }
        let sample_rate = self.config.autoencoder.features.sample_rate;
        let stems = StemSet::load(machine, train_clips, sample_rate)?;
        let type_sep = self.train_separator(&machine.machine, &stems, Separator::Type)?;
        let mut id_seps = BTreeMap::new();
        for &section in stems.sections.keys() {
            let model = self.train_separator(&machine.machine, &stems, Separator::Id(section))?;
            id_seps.insert(section, model);
        }
        let (vectors, _) = clip_vectors(&mut self.extractor, train_clips)?;
        let dims =
            self.config.autoencoder.features.context * self.config.autoencoder.features.n_mels;
        let mut autoencoder = DenseAutoencoder::new(&self.ctx, dims, self.config.autoencoder.seed)?;
        let mut callback = self.on_epoch.take();
        let name = machine.machine.clone();
        let result = train_autoencoder(
            &self.ctx,
            &mut autoencoder,
            &vectors,
            &self.config.autoencoder,
            |r| {
                if let Some(cb) = callback.as_mut() {
                    let report = SeparatorEpochReport {
                        epoch: r.epoch,
                        epochs: r.epochs,
                        loss: r.loss,
                    };
                    cb(&name, None, &report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        self.trained.insert(
            machine.machine.clone(),
            Trained {
                type_sep,
                id_seps,
                autoencoder,
            },
        );
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let options = WavOptions {
            sample_rate: self.config.autoencoder.features.sample_rate,
            downmix: false,
        };
        let paths: Vec<PathBuf> = clips.iter().map(|c| c.path.clone()).collect();
        let waves = read_many(&paths, &options, OnBadFile::Stop)?.clips;
        let by_section = |clip: &Clip| Separator::Id(clip.name.section);
        match self.variant {
            SeparationVariant::Baseline => self.autoencoder_scores(&waves),
            SeparationVariant::AfterTypeSep => {
                let separated = self.separated(Separator::Type, clips, &waves)?;
                self.autoencoder_scores(&separated)
            }
            SeparationVariant::AfterIdSep => {
                let mut separated = Vec::with_capacity(clips.len());
                for (clip, wave) in clips.iter().zip(&waves) {
                    let which = by_section(clip);
                    separated.extend(self.separated(which, &[clip], std::slice::from_ref(wave))?);
                }
                self.autoencoder_scores(&separated)
            }
            SeparationVariant::SeparationOe => {
                let by_type = self.separated(Separator::Type, clips, &waves)?;
                let mut scores = Vec::with_capacity(clips.len());
                for ((clip, wave), t) in clips.iter().zip(&waves).zip(&by_type) {
                    let id = self
                        .separated(by_section(clip), &[clip], std::slice::from_ref(wave))?
                        .pop()
                        .unwrap_or_default();
                    let mse = id
                        .iter()
                        .zip(t)
                        .map(|(&a, &b)| f64::from(a - b).powi(2))
                        .sum::<f64>()
                        / id.len().max(1) as f64;
                    scores.push(mse);
                }
                Ok(scores)
            }
        }
    }
}
