//! Wilkinghoff's system through the scoring contract: per machine type, an ensemble of models
//! (seeds `seed`, `seed + 1`, ...) trained on classes of section x attributes x domain, each with
//! its per-section back end; a clip's score is the sum of the members' scores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audio::dataset::{Clip, Domain, MachineDataset};
use crate::audio::wav::{read_many, OnBadFile, WavOptions};
use crate::context::Context;
use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::kernels::fft::FftPath;

use super::backend::SectionBackend;
use super::model::EmbeddingModel;
use super::network::{Branches, EmbeddingNetConfig};
use super::train::{embed, train_embedding_resumable, EmbedTrainConfig, EpochReport};
use crate::train::TrainState;

/// Everything the system can be told.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingConfig {
    pub train: EmbedTrainConfig,
    /// Models per machine type whose scores are summed (the reference: 5).
    pub ensemble: usize,
    /// AdaCos sub-clusters per class, and k-means centroids per section in the back end.
    pub sub_clusters: usize,
    pub branches: Branches,
    pub temporal_norm: bool,
    pub sample_rate: u32,
    pub fft_path: FftPath,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            train: EmbedTrainConfig::default(),
            ensemble: 1,
            sub_clusters: 16,
            branches: Branches::Both,
            temporal_norm: true,
            sample_rate: 16_000,
            fft_path: FftPath::Auto,
        }
    }
}

/// Called after every epoch with the machine type, the ensemble member and the report.
pub type EmbedEpochCallback = Box<dyn FnMut(&str, usize, &EpochReport)>;

/// One trained ensemble member with its back ends.
struct Member {
    model: EmbeddingModel,
    backends: BTreeMap<u32, SectionBackend>,
}

pub struct EmbeddingSystem {
    ctx: Context,
    config: EmbeddingConfig,
    members: Vec<Member>,
    /// Samples per clip of the current machine type (its first training clip's length).
    samples: usize,
    pub on_epoch: Option<EmbedEpochCallback>,
    /// Save each member as `<dir>/embed_<machine>_<member>.safetensors`.
    pub save_to: Option<PathBuf>,
    /// Load the members from there instead of training (the back ends are refitted from the
    /// training clips).
    pub load_from: Option<PathBuf>,
    /// With `save_to`, continue each member's training from its
    /// `<dir>/embed_<machine>_<member>.train.safetensors` state when there is one (see
    /// [`TrainState`]).
    pub resume: bool,
}

/// The checkpoint of ensemble member `member` of a machine type.
pub fn checkpoint_path(dir: &Path, machine: &str, member: usize) -> PathBuf {
    dir.join(format!("embed_{machine}_{member}.safetensors"))
}

/// The class name of a clip: section, attribute string, domain (the reference's
/// `id###attributes###source`).
pub fn class_name(clip: &Clip) -> String {
    let attributes: Vec<String> = clip
        .name
        .attributes
        .iter()
        .map(|a| format!("{}_{}", a.key, a.value))
        .collect();
    let domain = clip
        .name
        .domain
        .map_or("none".to_string(), |d| d.to_string());
    format!(
        "section_{:02}###{}###{domain}",
        clip.name.section,
        attributes.join("_")
    )
}

/// Clips at `length` samples: longer ones cut, shorter ones zero-padded at the end (the
/// reference cuts to 10 s).
fn fit_length(mut clips: Vec<Vec<f32>>, length: usize) -> Vec<Vec<f32>> {
    for clip in &mut clips {
        clip.resize(length, 0.0);
    }
    clips
}

impl EmbeddingSystem {
    pub fn new(ctx: &Context, config: EmbeddingConfig) -> Result<Self> {
        if config.ensemble == 0 || config.sub_clusters == 0 {
            return Err(HarkError::invalid(
                "embedding",
                "ensemble and sub-clusters must be at least 1",
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            config,
            members: Vec::new(),
            samples: 0,
            on_epoch: None,
            save_to: None,
            load_from: None,
            resume: false,
        })
    }

    fn read(&self, clips: &[&Clip]) -> Result<Vec<Vec<f32>>> {
        let paths: Vec<PathBuf> = clips.iter().map(|c| c.path.clone()).collect();
        let options = WavOptions {
            sample_rate: self.config.sample_rate,
            downmix: false,
        };
        Ok(read_many(&paths, &options, OnBadFile::Stop)?.clips)
    }

    /// The trained models of the current machine type.
    pub fn models(&self) -> impl Iterator<Item = &EmbeddingModel> {
        self.members.iter().map(|m| &m.model)
    }

    fn train_member(
        &mut self,
        machine: &str,
        member: usize,
        waves: &[Vec<f32>],
        labels: &[usize],
        classes: &[String],
    ) -> Result<EmbeddingModel> {
        let seed = self.config.train.seed.wrapping_add(member as u64);
        let net = EmbeddingNetConfig {
            samples: self.samples,
            branches: self.config.branches,
            temporal_norm: self.config.temporal_norm,
            fft_path: self.config.fft_path,
        };
        let mut model = EmbeddingModel::new(
            &self.ctx,
            net,
            classes.to_vec(),
            self.config.sub_clusters,
            seed,
        )?;
        let train = EmbedTrainConfig {
            seed,
            ..self.config.train
        };
        let mut callback = self.on_epoch.take();
        let state = self.save_to.as_ref().map(|dir| {
            let name = format!("{machine}_{member}");
            TrainState::in_models_dir(dir, "embed", &name, self.resume)
        });
        let result = train_embedding_resumable(
            &self.ctx,
            &mut model,
            waves,
            labels,
            &train,
            state.as_ref(),
            |report| {
                if let Some(cb) = callback.as_mut() {
                    cb(machine, member, report);
                }
            },
        );
        self.on_epoch = callback;
        result?;
        Ok(model)
    }
}

impl AnomalyScorer for EmbeddingSystem {
    fn name(&self) -> &str {
        "embed"
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        let waves = self.read(train_clips)?;
        self.members.clear();
        let mut models = Vec::new();
        if let Some(dir) = &self.load_from {
            for member in 0..self.config.ensemble {
                let path = checkpoint_path(dir, &machine.machine, member);
                models.push(EmbeddingModel::load(
                    &self.ctx,
                    &path,
                    self.config.fft_path,
                )?);
            }
            self.samples = models[0].net.config().samples;
        } else {
            self.samples = waves.first().map_or(0, Vec::len);
        }
        let waves = fit_length(waves, self.samples);
        if models.is_empty() {
            let names: Vec<String> = train_clips.iter().map(|c| class_name(c)).collect();
            let classes: Vec<String> = names
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let labels: Vec<usize> = names
                .iter()
                .map(|n| classes.binary_search(n).unwrap_or(0))
                .collect();
            for member in 0..self.config.ensemble {
                let model =
                    self.train_member(&machine.machine, member, &waves, &labels, &classes)?;
                if let Some(dir) = &self.save_to {
                    model.save(&self.ctx, &checkpoint_path(dir, &machine.machine, member))?;
                }
                models.push(model);
            }
        }
        let mut sections: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, clip) in train_clips.iter().enumerate() {
            sections.entry(clip.name.section).or_default().push(i);
        }
        for mut model in models {
            let dim = model.net.dim();
            let embeddings = embed(&self.ctx, &mut model, &waves)?;
            let mut backends = BTreeMap::new();
            for (&section, rows) in &sections {
                let data: Vec<f32> = rows
                    .iter()
                    .flat_map(|&i| embeddings[i * dim..(i + 1) * dim].iter().copied())
                    .collect();
                let is_target: Vec<bool> = rows
                    .iter()
                    .map(|&i| train_clips[i].name.domain == Some(Domain::Target))
                    .collect();
                let backend = SectionBackend::fit(
                    &self.ctx,
                    &data,
                    dim,
                    &is_target,
                    self.config.sub_clusters,
                    u64::from(section),
                )?;
                backends.insert(section, backend);
            }
            self.members.push(Member { model, backends });
        }
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        if self.members.is_empty() {
            return Err(HarkError::invalid("embedding", "score before train"));
        }
        let waves = fit_length(self.read(clips)?, self.samples);
        let mut sections: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, clip) in clips.iter().enumerate() {
            sections.entry(clip.name.section).or_default().push(i);
        }
        let mut scores = vec![0.0; clips.len()];
        for member in &mut self.members {
            let dim = member.model.net.dim();
            let embeddings = embed(&self.ctx, &mut member.model, &waves)?;
            for (section, rows) in &sections {
                let backend = member.backends.get(section).ok_or_else(|| {
                    HarkError::invalid(
                        "embedding",
                        format!("section {section:02} has no training clips"),
                    )
                })?;
                let queries: Vec<f32> = rows
                    .iter()
                    .flat_map(|&i| embeddings[i * dim..(i + 1) * dim].iter().copied())
                    .collect();
                for (&i, s) in rows.iter().zip(backend.scores(&queries)?) {
                    scores[i] += s;
                }
            }
        }
        Ok(scores)
    }
}
