//! A normalizing flow of FrEIA `AllInOneBlock`s (REFERENCE-SPECS §6) as a density model: the
//! coupling blocks, the [`Flow`] stack (forward with per-sample log-det, backward, inverse,
//! checkpoints), its negative log-likelihood with the domain-invariant latent option, and the
//! `flow` system scoring DCASE log-mel vectors by their mean NLL.

mod block;
mod model;
mod nll;
mod system;
mod train;

pub use block::{CouplingBlock, Subnet, CLAMP};
pub use model::{Flow, FlowConfig};
pub use nll::{DomainLatent, FlowNll};
pub use system::{
    checkpoint_path, clip_nll, row_nll, FlowEpochCallback, FlowSystem, FlowSystemConfig,
};
pub use train::{train, train_resumable, FlowEpochReport, FlowTrainConfig};
