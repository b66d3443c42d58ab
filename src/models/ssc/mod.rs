//! The self-supervised classification system of paper 002 (REFERENCE-SPECS §5): log-mel and
//! TgramNet inputs (plus optional user features in place of wav2vec 2.0), a TDNN classifier of
//! sections trained with cross-entropy, batch-hard triplet and attribute losses, and scores from
//! the section's softmax or the cosine distance to the training embeddings.

pub mod data;
pub mod network;
mod step;
pub mod system;
pub mod tgram;
pub mod train;

pub use network::{SscInputs, SscNetwork, SscOutputs, SscShape};
pub use system::{checkpoint_path, confidence_score, SscConfig, SscScore, SscSystem};
pub use train::{EpochReport, LossWeights, TrainSettings, TripletLabels};
