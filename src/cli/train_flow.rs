//! `hark train --system flow` and the flow scorer of `hark score --system flow`: one
//! normalizing flow per machine type on the DCASE 640-dim vectors, saved as
//! `<models>/flow_<machine>.safetensors`.

use std::path::{Path, PathBuf};

use super::progress::{train_each_machine, TrainProgress};
use hark::audio::dataset::Dataset;
use hark::detect::contract::AnomalyScorer;
use hark::features::pipeline::FeatureSpec;
use hark::models::flow::{checkpoint_path, FlowSystem, FlowSystemConfig, FlowTrainConfig};
use hark::Context;

/// The `hark train` options the flow reads.
/// Settings of `--system flow` (ignored by the other systems).
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// flow: coupling blocks.
    #[arg(long, default_value_t = 4, value_parser = super::values::positive_usize)]
    pub blocks: usize,
    /// flow: hidden width of each block's subnet.
    #[arg(long, default_value_t = 256, value_parser = super::values::positive_usize)]
    pub hidden: usize,
}

pub struct FlowTrainArgs<'a> {
    pub dataset: &'a Dataset,
    pub models: &'a PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    /// Continue from the training states in the models folder (`hark train --resume`).
    pub resume: bool,
    pub blocks: usize,
    pub hidden: usize,
    pub features: FeatureSpec,
}

pub fn train(args: &FlowTrainArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let dataset = args.dataset;
    let config = FlowSystemConfig {
        blocks: args.blocks,
        hidden: args.hidden,
        train: FlowTrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
        },
        features: args.features,
    };
    let mut system = FlowSystem::new(&ctx, config)?;
    system.save_to = Some(args.models.clone());
    system.resume = args.resume;
    let bar = TrainProgress::new((dataset.machines.len() * args.epochs) as u64, "epochs");
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, report| {
        shown.epoch_step(
            report.epoch,
            format!("{machine}: NLL/dim {:.4}", report.loss),
        );
    }));
    train_each_machine(
        &mut system,
        dataset,
        &bar,
        |machine| checkpoint_path(args.models, machine),
        "",
    )
}

/// The flow system loading its models from `models` (shapes from each file's metadata).
pub fn system(ctx: &Context, models: &Path, features: FeatureSpec) -> hark::Result<FlowSystem> {
    let mut system = FlowSystem::new(
        ctx,
        FlowSystemConfig {
            features,
            ..FlowSystemConfig::default()
        },
    )?;
    system.load_from = Some(models.to_path_buf());
    Ok(system)
}

/// [`system`] through the scoring contract (`hark score`).
pub fn scorer(
    ctx: &Context,
    models: &Path,
    features: FeatureSpec,
) -> hark::Result<Box<dyn AnomalyScorer>> {
    Ok(Box::new(system(ctx, models, features)?))
}
