//! Outlier exposure (paper 004, REFERENCE-SPECS §6): a ResNet feature extractor on log-mel
//! segments trained to tell the target machine type from pseudo-anomalies (the other machine
//! types) and its sections or attributes apart, then inlier models (GMM, Mahalanobis kNN) on
//! the embeddings. The training loop takes an optional extra loss on the embeddings (the
//! normalizing flow's NLL of OE-Flow).

mod batch;
pub mod data;
pub mod flow_input;
pub mod flow_loss;
pub mod network;
pub mod parameter;
pub mod system;
pub mod train;

pub use flow_input::InputStandardizer;
pub use flow_loss::{FlowEmbeddingLoss, FLOW_BACKBONE_WEIGHT};
pub use network::{OeNetConfig, OeNetwork};
pub use parameter::{clip_parameters, ParameterChoice, ParameterSource, DFLOW_K};
pub use system::{
    oe_checkpoint_path, oe_flow_checkpoint_path, ClassLabels, FlowDetector, OeConfig,
    OeEpochCallback, OeFlowConfig, OeFlowVariant, OeSystem,
};
pub use train::{train_oe, EmbeddingLoss, OeEpochReport, OeStep, OeTrainConfig, OeTrainData};
