//! The OE system (paper 004, "OE" row of Table 1) through the scoring contract: per machine type,
//! train the feature extractor against pseudo-anomalies (the training clips of the dataset's
//! other machine types), then fit an inlier model per section on the embeddings of the training
//! segments, and score a clip by aggregating its segments' inlier scores.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::audio::dataset::{Clip, Dataset, Domain, MachineDataset, Split};
use crate::context::Context;
use crate::detect::aggregate::{aggregate, Aggregation, SEGMENT_AGGREGATION_KEY};
use crate::detect::contract::AnomalyScorer;
use crate::detect::inlier::{EmbeddingSet, InlierModel, InlierOptions};
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::models::flow::{DomainLatent, FlowConfig, Subnet};
use crate::models::oe::data::{clip_segments, ClipSegments};
use crate::models::oe::flow_loss::FlowEmbeddingLoss;
use crate::models::oe::network::{OeNetConfig, OeNetwork};
use crate::models::oe::parameter::{clip_parameters, ParameterChoice, DFLOW_K};
use crate::models::oe::train::{
    train_oe, EmbeddingLoss, OeEpochReport, OeTrainConfig, OeTrainData,
};
use crate::nn::Mode;
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// What the class head predicts (004: sections in 2022, attributes in 2023).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClassLabels {
    Section,
    /// Every (section, attribute string) combination of the training clips.
    #[default]
    Attribute,
}

/// Everything the OE system is configured by.
#[derive(Clone, Debug)]
pub struct OeConfig {
    pub net: OeNetConfig,
    pub train: OeTrainConfig,
    pub inlier: InlierOptions,
    /// How segment scores combine into a clip score; recorded in the checkpoint.
    pub aggregation: Aggregation,
    /// When loading, score with the aggregation recorded in the checkpoint (absent: mean)
    /// instead of `aggregation`.
    pub aggregation_from_checkpoint: bool,
    pub labels: ClassLabels,
    /// The front end; its kind must be log-mel with `net.mels` bands.
    pub features: FeatureSpec,
    /// At most this many pseudo-anomalous clips per machine type (seeded choice); `None`: all.
    pub pseudo_clips: Option<usize>,
    /// OE-Flow: a flow trained jointly with the feature extractor on its embeddings.
    pub flow: Option<OeFlowConfig>,
    /// OE-Flow or OE-DFlow (only with `flow`).
    pub flow_variant: OeFlowVariant,
    /// What scores the clips when there is a flow (without one, the inlier models do).
    pub flow_detector: FlowDetector,
}

/// The anomaly detector of the flow systems (004 Table 2's "inlier models" column: OE-Flow
/// uses GMM, kNN and the flow, OE-DFlow only GMM and kNN; `hark ensemble` combines the two
/// detectors' outputs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowDetector {
    /// The flow's NLL (OE-DFlow: -log p(z_c)).
    #[default]
    Flow,
    /// The inlier model on the jointly trained embeddings, as OE does.
    InlierModel,
}

/// Which flow row of 004's Table 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OeFlowVariant {
    /// OE-Flow: all latent channels follow N(0, 1); score = NLL.
    #[default]
    Flow,
    /// OE-DFlow: the first `domain_channels` latent channels (z_d) follow N(k v, 1) for the
    /// clip's physical parameter `v` (see [`crate::models::oe::parameter`]); score = -log p(z_c).
    DFlow { domain_channels: usize },
}

impl OeFlowVariant {
    /// The name in checkpoints and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OeFlowVariant::Flow => "flow",
            OeFlowVariant::DFlow { .. } => "dflow",
        }
    }

    /// The flow loss's domain latent.
    pub fn domain(self) -> Option<DomainLatent> {
        match self {
            OeFlowVariant::Flow => None,
            OeFlowVariant::DFlow { domain_channels } => Some(DomainLatent {
                channels: domain_channels,
                k: DFLOW_K,
            }),
        }
    }
}

/// The flow of OE-Flow (dense subnets on the embedding vectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OeFlowConfig {
    pub blocks: usize,
    pub hidden: usize,
}

impl OeConfig {
    /// DCASE front end (n_fft 1024, hop 512) with `net.mels` log-mel bands.
    pub fn new(net: OeNetConfig) -> Self {
        let features = FeatureSpec {
            n_mels: net.mels,
            ..FeatureSpec::dcase(FeatureKind::Logmel)
        };
        Self {
            net,
            train: OeTrainConfig::default(),
            inlier: InlierOptions::default(),
            aggregation: Aggregation::Mean,
            aggregation_from_checkpoint: false,
            labels: ClassLabels::default(),
            features,
            pseudo_clips: None,
            flow: None,
            flow_variant: OeFlowVariant::default(),
            flow_detector: FlowDetector::default(),
        }
    }
}

/// Called after every training epoch with the machine type's name.
pub type OeEpochCallback = Box<dyn FnMut(&str, &OeEpochReport)>;

/// One section's inlier model, and the training clips its rows came from.
struct SectionBackend {
    model: InlierModel,
    train_clips: HashMap<PathBuf, usize>,
}

/// The OE system: one network per machine type, one inlier model per section.
pub struct OeSystem {
    ctx: Context,
    config: OeConfig,
    extractor: FeatureExtractor,
    /// Every training clip of the dataset and every clip of the collections given to
    /// [`OeSystem::add_pseudo_anomalies`]; a machine type's pseudo-anomalies are the others'.
    pseudo_pool: Vec<Clip>,
    net: Option<OeNetwork>,
    /// OE-Flow's flow (and its input standardisation) of the current machine type.
    flow: Option<FlowEmbeddingLoss>,
    backends: BTreeMap<u32, SectionBackend>,
    /// Losses of the last machine type's training, one report per epoch.
    pub history: Vec<OeEpochReport>,
    pub on_epoch: Option<OeEpochCallback>,
    /// Save each machine type's network as `<dir>/oe_<machine>.safetensors`.
    pub save_to: Option<PathBuf>,
    /// Load each machine type's network from `<dir>/oe_<machine>.safetensors` instead of
    /// training (the inlier models are refitted from the training clips).
    pub load_from: Option<PathBuf>,
    /// OE-DFlow: the parameter chosen per section of each trained machine type.
    pub dflow_parameters: Vec<(String, ParameterChoice)>,
}

/// The checkpoint metadata key of the flow variant (`flow`, `dflow`).
const FLOW_VARIANT_KEY: &str = "oe.flow_variant";

/// The checkpoint file of one machine type's OE-Flow flow.
pub fn oe_flow_checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("oe_flow_{machine}.safetensors"))
}

/// The checkpoint file of one machine type's network.
pub fn oe_checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("oe_{machine}.safetensors"))
}

/// The class of a clip under `labels`.
fn class_key(clip: &Clip, labels: ClassLabels) -> String {
    match labels {
        ClassLabels::Section => format!("{:02}", clip.name.section),
        ClassLabels::Attribute => {
            let attributes: Vec<String> = clip
                .attributes
                .iter()
                .map(|a| format!("{}_{}", a.key, a.value))
                .collect();
            format!("{:02} {}", clip.name.section, attributes.join("_"))
        }
    }
}

impl OeSystem {
    /// The system for `dataset` (whose training clips give the pseudo-anomalies).
    pub fn new(ctx: &Context, config: OeConfig, dataset: &Dataset) -> Result<Self> {
        if config.features.kind != FeatureKind::Logmel || config.features.n_mels != config.net.mels
        {
            return Err(HarkError::invalid(
                "oe",
                "the OE network reads log-mel features with net.mels bands",
            ));
        }
        if let OeFlowVariant::DFlow { domain_channels } = config.flow_variant {
            if config.flow.is_none() {
                return Err(HarkError::invalid(
                    "oe",
                    "OE-DFlow needs the flow (oe-flow)",
                ));
            }
            if domain_channels == 0 || domain_channels >= config.net.embedding {
                return Err(HarkError::invalid(
                    "oe-dflow",
                    format!(
                        "{domain_channels} domain channels of a {}-channel embedding (need 1 to \
                         embedding - 1)",
                        config.net.embedding
                    ),
                ));
            }
        }
        let pseudo_pool = dataset
            .machines
            .iter()
            .flat_map(|m| m.split(Split::Train).cloned())
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            extractor: FeatureExtractor::new(ctx, &config.features)?,
            config,
            pseudo_pool,
            net: None,
            flow: None,
            backends: BTreeMap::new(),
            history: Vec::new(),
            on_epoch: None,
            save_to: None,
            load_from: None,
            dflow_parameters: Vec::new(),
        })
    }

    /// Adds every clip of `collection` (any split or label) to the pseudo-anomaly pool: for a
    /// dataset of one machine type, or to widen the pool. Clips of the machine type being
    /// trained are never its pseudo-anomalies.
    pub fn add_pseudo_anomalies(&mut self, collection: &Dataset) {
        self.pseudo_pool.extend(
            collection
                .machines
                .iter()
                .flat_map(|m| m.clips.iter().cloned()),
        );
    }

    fn metadata(&self, machine: &str, classes: usize) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("hark_model".to_string(), "oe".to_string()),
            ("machine".to_string(), machine.to_string()),
            ("oe.net".to_string(), format!("{:?}", self.config.net)),
            ("oe.classes".to_string(), classes.to_string()),
            ("oe.labels".to_string(), format!("{:?}", self.config.labels)),
        ]);
        if self.config.flow.is_some() {
            let variant = self.config.flow_variant;
            metadata.insert(FLOW_VARIANT_KEY.to_string(), variant.name().to_string());
            if let OeFlowVariant::DFlow { domain_channels } = variant {
                metadata.insert("oe.dflow_channels".to_string(), domain_channels.to_string());
            }
        }
        metadata
    }

    /// The network saved for `machine`, and the segment aggregation it records.
    fn load(&self, machine: &str, classes: usize) -> Result<(OeNetwork, Aggregation)> {
        let path = oe_checkpoint_path(self.load_from.as_deref().unwrap_or(Path::new(".")), machine);
        let net = OeNetwork::new(&self.ctx, &self.config.net, classes, 0)?;
        let metadata = crate::io::checkpoint::load_checkpoint(&self.ctx, &path, &net.state_dict())?;
        let expected_metadata = self.metadata(machine, classes);
        // The variant first: its mismatch also shows as a missing or extra `oe.dflow_channels`.
        if let Some(expected) = expected_metadata.get(FLOW_VARIANT_KEY) {
            // Checkpoints from before OE-DFlow are OE-Flow's.
            let found = metadata
                .get(FLOW_VARIANT_KEY)
                .map_or("flow", String::as_str);
            if found != expected {
                return Err(HarkError::invalid(
                    "oe-flow",
                    format!(
                        "{} was trained with --oe-flow-variant {found}, but this run has \
                         --oe-flow-variant {expected} (score with the variant it was trained with)",
                        path.display()
                    ),
                ));
            }
        }
        for (key, expected) in expected_metadata {
            if key != FLOW_VARIANT_KEY && metadata.get(&key) != Some(&expected) {
                return Err(HarkError::invalid(
                    "oe",
                    format!(
                        "{}: {key} is {:?}, but this run has {expected:?} (train and score with \
                         the same settings)",
                        path.display(),
                        metadata.get(&key)
                    ),
                ));
            }
        }
        Ok((net, Aggregation::from_metadata(&metadata)?))
    }

    fn flow_config(&self) -> Option<FlowConfig> {
        self.config.flow.map(|f| FlowConfig {
            channels: self.config.net.embedding,
            blocks: f.blocks,
            subnet: Subnet::Dense { hidden: f.hidden },
            seed: self.config.train.seed ^ 0xf10,
        })
    }

    /// Per-segment flow NLL of `embeddings` (`[rows, embedding]`).
    fn flow_nll(&mut self, embeddings: &[f32]) -> Result<Vec<f32>> {
        let flow = self
            .flow
            .as_mut()
            .ok_or_else(|| HarkError::invalid("oe-flow", "score before train"))?;
        let dim = self.config.net.embedding;
        let domain = self.config.flow_variant.domain();
        // The NLL of the embeddings, not of their standardised copies.
        let offset = -flow.input_log_det() as f32;
        let mut out = Vec::with_capacity(embeddings.len() / dim);
        for chunk in embeddings.chunks(256 * dim) {
            let rows = chunk.len() / dim;
            let x = Tensor::from_slice(&self.ctx, &[rows, dim], chunk)?;
            if domain.is_some() {
                // The score leaves z_d out, so its means do not matter.
                flow.nll.set_values(&vec![0.0; rows])?;
            }
            let mut rec = Recorder::new(&self.ctx);
            let (z, logdet) = flow.latents(&mut rec, &x, Mode::Eval)?;
            let (values, score) = flow.nll.forward(&mut rec, &z, &logdet)?;
            rec.submit()?;
            // OE-Flow: the NLL; OE-DFlow: -log p(z_c), z_d left out.
            let picked = if domain.is_some() { score } else { values };
            out.extend(picked.to_vec(&self.ctx)?.into_iter().map(|v| v + offset));
        }
        Ok(out)
    }

    /// Pseudo-anomalous segments: the training clips of the other machine types.
    fn pseudo_segments(&mut self, machine: &str) -> Result<Vec<f32>> {
        let mut others: Vec<&Clip> = self
            .pseudo_pool
            .iter()
            .filter(|c| c.machine != machine)
            .collect();
        if others.is_empty() {
            return Err(HarkError::invalid(
                "oe",
                format!(
                    "outlier exposure needs other machine types' clips as pseudo-anomalies; the \
                     dataset has only '{machine}' (add a collection of other machines' clips: \
                     --oe-pseudo-data)"
                ),
            ));
        }
        if let Some(limit) = self.config.pseudo_clips {
            let mut rng = SeededRng::new(self.config.train.seed ^ 0xa11);
            for i in (1..others.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                others.swap(i, j);
            }
            others.truncate(limit.max(1));
        }
        let frames = self.config.net.frames;
        let segments = clip_segments(&mut self.extractor, &others, frames, false)?;
        Ok(segments
            .iter()
            .flat_map(|c| (0..c.starts.len()).flat_map(move |i| c.segment(i, frames).to_vec()))
            .collect())
    }

    /// Embeddings of every segment of `clips`, `[segments, embedding]` in clip order.
    fn embed(&mut self, clips: &[ClipSegments]) -> Result<Vec<f32>> {
        let net = self
            .net
            .as_mut()
            .ok_or_else(|| HarkError::invalid("oe", "score before train"))?;
        let (frames, mels) = (net.config.frames, net.config.mels);
        let all: Vec<f32> = clips
            .iter()
            .flat_map(|c| (0..c.starts.len()).flat_map(move |i| c.segment(i, frames).to_vec()))
            .collect();
        let mut out = Vec::new();
        // 256 segments per pass bounds the activations.
        for chunk in all.chunks(256 * frames * mels) {
            let n = chunk.len() / (frames * mels);
            let x = Tensor::from_slice(&self.ctx, &[n, 1, frames, mels], chunk)?;
            let mut rec = Recorder::new(&self.ctx);
            let e = net.embed(&mut rec, &x, Mode::Eval)?;
            rec.submit()?;
            out.extend(e.to_vec(&self.ctx)?);
        }
        Ok(out)
    }

    /// Clip scores of the flow.
    fn flow_scores(&mut self, segments: &[ClipSegments], embeddings: &[f32]) -> Result<Vec<f64>> {
        let nll = self.flow_nll(embeddings)?;
        let mut scores = Vec::with_capacity(segments.len());
        let mut row = 0;
        for segs in segments {
            let n = segs.starts.len();
            let seg_scores: Vec<f64> = nll[row..row + n].iter().map(|&v| f64::from(v)).collect();
            let weights = segs.weights.clone().unwrap_or_default();
            scores.push(aggregate(self.config.aggregation, &seg_scores, &weights)?);
            row += n;
        }
        Ok(scores)
    }

    /// Clip scores of the sections' inlier models.
    fn inlier_scores(
        &self,
        clips: &[&Clip],
        segments: &[ClipSegments],
        embeddings: &[f32],
    ) -> Result<Vec<f64>> {
        let dim = self.config.net.embedding;
        let mut scores = Vec::with_capacity(clips.len());
        let mut row = 0;
        for (clip, segs) in clips.iter().zip(segments) {
            let n = segs.starts.len();
            let backend =
                self.backends
                    .get(&clip.name.section)
                    .ok_or_else(|| HarkError::Dataset {
                        path: clip.path.display().to_string(),
                        detail: format!(
                            "section {:02} was not in the training data",
                            clip.name.section
                        ),
                    })?;
            let own = backend.train_clips.get(&clip.path).copied();
            let seg_scores = backend
                .model
                .score(&embeddings[row * dim..(row + n) * dim], own)?;
            let weights = segs.weights.clone().unwrap_or_default();
            scores.push(aggregate(self.config.aggregation, &seg_scores, &weights)?);
            row += n;
        }
        Ok(scores)
    }
}

impl AnomalyScorer for OeSystem {
    fn name(&self) -> &str {
        if self.config.flow.is_some() {
            "oe-flow"
        } else {
            "oe"
        }
    }

    fn train(&mut self, machine: &MachineDataset, train_clips: &[&Clip]) -> Result<()> {
        let labels = self.config.labels;
        let keys: BTreeMap<String, usize> = {
            let mut keys: Vec<String> = train_clips.iter().map(|c| class_key(c, labels)).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect()
        };
        let frames = self.config.net.frames;
        let segments = clip_segments(&mut self.extractor, train_clips, frames, false)?;
        let flow_config = self.flow_config();
        // Eval-mode embeddings of the training segments, once the network is final (the flow's
        // input statistics and the inlier models both read them).
        let mut train_embeddings: Option<Vec<f32>> = None;
        if self.load_from.is_some() {
            let (net, recorded) = self.load(&machine.machine, keys.len())?;
            self.net = Some(net);
            if self.config.aggregation_from_checkpoint {
                self.config.aggregation = recorded;
            }
            if let Some(fc) = flow_config {
                let dir = self.load_from.as_deref().unwrap_or(Path::new("."));
                let path = oe_flow_checkpoint_path(dir, &machine.machine);
                let domain = self.config.flow_variant.domain();
                self.flow = Some(FlowEmbeddingLoss::load(&self.ctx, &path, fc, domain)?);
            }
        } else {
            let mut normal = Vec::new();
            let mut classes = Vec::new();
            for (clip, segs) in train_clips.iter().zip(&segments) {
                let class = keys[&class_key(clip, labels)];
                for i in 0..segs.starts.len() {
                    normal.extend_from_slice(segs.segment(i, frames));
                    classes.push(class);
                }
            }
            let pseudo = self.pseudo_segments(&machine.machine)?;
            let mut net = OeNetwork::new(
                &self.ctx,
                &self.config.net,
                keys.len(),
                self.config.train.seed,
            )?;
            let name = machine.machine.clone();
            let mut callback = self.on_epoch.take();
            let variant = self.config.flow_variant;
            let mut flow_loss = match flow_config {
                Some(fc) => Some(FlowEmbeddingLoss::new(&self.ctx, fc, variant.domain())?),
                None => None,
            };
            if let (Some(loss), OeFlowVariant::DFlow { .. }) = (flow_loss.as_mut(), variant) {
                let (clip_values, choices) = clip_parameters(train_clips);
                let per_segment: Vec<f32> = clip_values
                    .iter()
                    .zip(&segments)
                    .flat_map(|(&v, segs)| std::iter::repeat_n(v, segs.starts.len()))
                    .collect();
                loss.set_segment_values(per_segment);
                self.dflow_parameters
                    .extend(choices.into_iter().map(|c| (name.clone(), c)));
            }
            let result = train_oe(
                &self.ctx,
                &mut net,
                &OeTrainData {
                    normal: &normal,
                    classes: &classes,
                    pseudo: &pseudo,
                },
                &self.config.train,
                flow_loss.as_mut().map(|l| l as &mut dyn EmbeddingLoss),
                |report| {
                    if let Some(cb) = callback.as_mut() {
                        cb(&name, report);
                    }
                },
            );
            self.on_epoch = callback;
            self.history = result?;
            self.net = Some(net);
            if let Some(mut loss) = flow_loss {
                // Exact statistics of the eval-mode embeddings the flow will score.
                let embeddings = self.embed(&segments)?;
                loss.fit_input(&embeddings)?;
                self.flow = Some(loss);
                train_embeddings = Some(embeddings);
            }
            if let (Some(dir), Some(net)) = (&self.save_to, &self.net) {
                let mut metadata = self.metadata(&machine.machine, keys.len());
                metadata.insert(
                    SEGMENT_AGGREGATION_KEY.to_string(),
                    self.config.aggregation.name(),
                );
                crate::io::checkpoint::save_checkpoint(
                    &self.ctx,
                    &oe_checkpoint_path(dir, &machine.machine),
                    &net.state_dict(),
                    metadata,
                )?;
                if let Some(loss) = &self.flow {
                    loss.save(&oe_flow_checkpoint_path(dir, &machine.machine))?;
                }
            }
        }
        if self.flow.is_some() && self.config.flow_detector == FlowDetector::Flow {
            // OE-Flow scores with the flow alone; no inlier models.
            return Ok(());
        }
        // Inlier models per section on the training segments' embeddings.
        let embeddings = match train_embeddings {
            Some(e) => e,
            None => self.embed(&segments)?,
        };
        let dim = self.config.net.embedding;
        let mut sets: BTreeMap<u32, (EmbeddingSet, HashMap<PathBuf, usize>)> = BTreeMap::new();
        let mut row = 0;
        for (clip_index, (clip, segs)) in train_clips.iter().zip(&segments).enumerate() {
            let (set, owners) = sets.entry(clip.name.section).or_insert_with(|| {
                (
                    EmbeddingSet {
                        dim,
                        ..Default::default()
                    },
                    HashMap::new(),
                )
            });
            owners.insert(clip.path.clone(), clip_index);
            for _ in 0..segs.starts.len() {
                set.rows
                    .extend_from_slice(&embeddings[row * dim..(row + 1) * dim]);
                set.domains.push(clip.name.domain.unwrap_or(Domain::Source));
                set.clips.push(clip_index);
                row += 1;
            }
        }
        self.backends.clear();
        for (section, (set, train_clips)) in sets {
            let model = InlierModel::fit(&self.ctx, &set, &self.config.inlier)?;
            self.backends
                .insert(section, SectionBackend { model, train_clips });
        }
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> Result<Vec<f64>> {
        let frames = self.config.net.frames;
        let weighted = self.config.aggregation == Aggregation::PowerWeighted;
        let segments = clip_segments(&mut self.extractor, clips, frames, weighted)?;
        let embeddings = self.embed(&segments)?;
        if self.flow.is_some() && self.config.flow_detector == FlowDetector::Flow {
            self.flow_scores(&segments, &embeddings)
        } else {
            self.inlier_scores(clips, &segments, &embeddings)
        }
    }
}
