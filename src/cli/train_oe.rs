//! `hark train --system oe` and `hark score --system oe`: the outlier-exposure system of paper
//! 004 (network per machine type saved as `oe_<machine>.safetensors`; the inlier models are
//! refitted from the training clips when scoring, so `score` must get the same --oe-* settings).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hark::audio::dataset::Dataset;
use hark::detect::aggregate::Aggregation;
use hark::detect::contract::{run_system, SectionReport};
use hark::detect::inlier::{InlierData, InlierKind};
use hark::models::oe::{
    ClassLabels, FlowDetector, OeConfig, OeFlowConfig, OeFlowVariant, OeNetConfig, OeSystem,
};
use hark::Context;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Backend {
    /// Gaussian mixture, score = negative log-likelihood.
    Gmm,
    /// Mean Mahalanobis distance to the k nearest training embeddings.
    Knn,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendData {
    Source,
    Both,
    /// Both domains plus source-target mixup embeddings.
    PseudoTarget,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Aggregate {
    Mean,
    /// Weighted by the high-passed (3.5-4 kHz edge) signal power of each segment.
    Power,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Labels {
    Section,
    Attribute,
}

/// Settings of `--system oe` (ignored by other systems).
#[derive(Debug, Args)]
pub struct OeArgs {
    /// Log-mel bands of the OE network's input.
    #[arg(long, default_value_t = 64, value_parser = super::values::positive_usize)]
    oe_mels: usize,
    /// Frames per segment (hop 512 at 16 kHz: 32 frames ~ 1 s); segments overlap by 75 %.
    #[arg(long, default_value_t = 32, value_parser = super::values::positive_usize)]
    oe_frames: usize,
    /// Channels of the stem and of each ResNet stage, comma-separated.
    #[arg(long, default_value = "8,16,32", value_delimiter = ',', value_parser = super::values::positive_usize)]
    oe_channels: Vec<usize>,
    /// Basic blocks per stage.
    #[arg(long, default_value_t = 1, value_parser = super::values::positive_usize)]
    oe_blocks: usize,
    #[arg(long, default_value_t = 64, value_parser = super::values::positive_usize)]
    oe_embedding: usize,
    /// What the class head predicts.
    #[arg(long, value_enum, default_value_t = Labels::Attribute)]
    oe_labels: Labels,
    /// Weight of the class loss (004: 5).
    #[arg(long, default_value_t = 5.0, value_parser = super::values::non_negative_f32)]
    oe_class_weight: f32,
    /// Probability of mixing a row with its mirror row (normal with pseudo-anomaly).
    #[arg(long, default_value_t = 0.5, value_parser = super::values::unit_f32)]
    oe_mixup: f32,
    /// At most this many pseudo-anomalous clips per machine type (default: all).
    #[arg(long, value_parser = super::values::positive_usize)]
    oe_pseudo_clips: Option<usize>,
    /// More pseudo-anomalies: every clip of this dataset root whose machine type is not the one
    /// being trained (any split or label); needed when --data has a single machine type
    /// (training only).
    #[arg(long)]
    pub oe_pseudo_data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Gmm)]
    oe_backend: Backend,
    /// GMM components or kNN neighbours (004: 1, 2, 4, 16 or 32).
    #[arg(long, default_value_t = 1, value_parser = super::values::positive_usize)]
    oe_backend_size: usize,
    #[arg(long, value_enum, default_value_t = BackendData::Both)]
    oe_backend_data: BackendData,
    /// GMM reg_covar / kNN covariance ridge.
    #[arg(long, default_value_t = 1e-3, value_parser = super::values::non_negative_f64)]
    oe_backend_reg: f64,
    #[arg(long, value_enum, default_value_t = Aggregate::Mean)]
    oe_aggregation: Aggregate,
    /// oe-flow: coupling blocks of the flow on the embeddings.
    #[arg(long, default_value_t = 4, value_parser = super::values::positive_usize)]
    oe_flow_blocks: usize,
    /// oe-flow: hidden width of each block's dense subnet.
    #[arg(long, default_value_t = 64, value_parser = super::values::positive_usize)]
    oe_flow_hidden: usize,
    /// oe-flow: OE-Flow (`flow`) or OE-DFlow (`dflow`: domain-invariant latent from the clip's
    /// physical parameter, score from z_c only); train and score must agree.
    #[arg(long, value_enum, default_value_t = FlowVariant::Flow)]
    oe_flow_variant: FlowVariant,
    /// oe-flow dflow: latent channels z_d that follow N(k v, 1) (004: 8 of 512).
    #[arg(long, default_value_t = 8, value_parser = super::values::positive_usize)]
    oe_dflow_channels: usize,
    /// oe-flow: what scores the clips: the flow, or the inlier model (--oe-backend) on the
    /// jointly trained embeddings (004 Table 2: OE-Flow used the inlier models and the flow,
    /// OE-DFlow the inlier models only; `hark ensemble` sums the two). Only `hark score` reads it.
    #[arg(long, value_enum, default_value_t = Detector::Flow)]
    oe_flow_detector: Detector,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Detector {
    /// The flow's NLL (OE-DFlow: -log p(z_c)).
    Flow,
    /// The inlier model of --oe-backend on the jointly trained embeddings.
    Inlier,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FlowVariant {
    Flow,
    #[value(name = "dflow")]
    DFlow,
}

/// `--system oe-flow`: the OE configuration with OE-Flow's jointly trained flow.
pub fn flow_config(args: &OeArgs, epochs: usize, batch: usize, lr: f32, seed: u64) -> OeConfig {
    let mut config = config(args, epochs, batch, lr, seed);
    config.flow = Some(OeFlowConfig {
        blocks: args.oe_flow_blocks,
        hidden: args.oe_flow_hidden,
    });
    config.flow_variant = match args.oe_flow_variant {
        FlowVariant::Flow => OeFlowVariant::Flow,
        FlowVariant::DFlow => OeFlowVariant::DFlow {
            domain_channels: args.oe_dflow_channels,
        },
    };
    config.flow_detector = match args.oe_flow_detector {
        Detector::Flow => FlowDetector::Flow,
        Detector::Inlier => FlowDetector::InlierModel,
    };
    config
}

/// The OE configuration from the command line.
pub fn config(args: &OeArgs, epochs: usize, batch: usize, lr: f32, seed: u64) -> OeConfig {
    let mut config = OeConfig::new(OeNetConfig {
        mels: args.oe_mels,
        frames: args.oe_frames,
        channels: args.oe_channels.clone(),
        blocks: args.oe_blocks,
        embedding: args.oe_embedding,
    });
    config.train.epochs = epochs;
    config.train.batch_size = batch;
    config.train.lr = lr;
    config.train.seed = seed;
    config.train.class_weight = args.oe_class_weight;
    config.train.mixup_prob = args.oe_mixup;
    config.labels = match args.oe_labels {
        Labels::Section => ClassLabels::Section,
        Labels::Attribute => ClassLabels::Attribute,
    };
    config.pseudo_clips = args.oe_pseudo_clips;
    config.inlier.kind = match args.oe_backend {
        Backend::Gmm => InlierKind::Gmm {
            components: args.oe_backend_size,
        },
        Backend::Knn => InlierKind::Knn {
            k: args.oe_backend_size,
        },
    };
    config.inlier.data = match args.oe_backend_data {
        BackendData::Source => InlierData::SourceOnly,
        BackendData::Both => InlierData::BothDomains,
        BackendData::PseudoTarget => InlierData::PseudoTarget,
    };
    config.inlier.regularisation = args.oe_backend_reg;
    config.inlier.seed = seed;
    config.aggregation = match args.oe_aggregation {
        Aggregate::Mean => Aggregation::Mean,
        Aggregate::Power => Aggregation::PowerWeighted,
    };
    config
}

/// Trains and saves one network per machine type, printing the loss per epoch.
pub fn train(
    ctx: &Context,
    dataset: &Dataset,
    config: OeConfig,
    models: &Path,
    pseudo_data: Option<&Path>,
) -> hark::Result<()> {
    use hark::detect::contract::AnomalyScorer;
    std::fs::create_dir_all(models).map_err(|source| hark::HarkError::Io {
        path: models.display().to_string(),
        source,
    })?;
    let mut system = OeSystem::new(ctx, config, dataset)?;
    if let Some(root) = pseudo_data {
        let collection = hark::audio::dataset::read_dataset(root)?;
        collection.require_no_problems()?;
        system.add_pseudo_anomalies(&collection);
    }
    system.save_to = Some(models.to_path_buf());
    system.on_epoch = Some(Box::new(|machine, r| {
        let flow = r
            .extra_loss
            .map(|v| format!(", flow NLL {v:.2}"))
            .unwrap_or_default();
        eprintln!(
            "{machine}: epoch {}/{} loss {:.4} (machine {:.4}, class {:.4}{flow})",
            r.epoch, r.epochs, r.loss, r.machine_loss, r.class_loss
        );
    }));
    for machine in &dataset.machines {
        let clips: Vec<_> = machine.split(hark::audio::dataset::Split::Train).collect();
        system.train(machine, &clips)?;
        for (name, choice) in &system.dflow_parameters {
            if name == &machine.machine {
                eprintln!("{name} (oe-dflow): {choice}");
            }
        }
        println!(
            "{}: {} training clips -> {}",
            machine.machine,
            clips.len(),
            hark::models::oe::oe_checkpoint_path(models, &machine.machine).display()
        );
    }
    Ok(())
}

/// Scores with the saved networks.
pub fn score(
    ctx: &Context,
    dataset: &Dataset,
    config: OeConfig,
    models: &Path,
    out: &Path,
    percentile: f64,
) -> hark::Result<Vec<SectionReport>> {
    let mut system = OeSystem::new(ctx, config, dataset)?;
    system.load_from = Some(models.to_path_buf());
    run_system(&mut system, dataset, out, percentile)
}
