//! Wilkinghoff's embedding system (paper 001, REFERENCE-SPECS §4): a two-branch network
//! ([`network`]) trained with sub-cluster AdaCos and mixup on classes of section x attributes x
//! domain ([`train`]), a k-means + target-sample cosine back end per section ([`backend`]), and
//! the whole through the scoring contract with seed ensembles ([`system`]).

pub mod backend;
pub mod model;
pub mod network;
pub mod system;
pub mod train;

pub use backend::SectionBackend;
pub use model::EmbeddingModel;
pub use network::{Branches, EmbeddingNet, EmbeddingNetConfig};
pub use system::{checkpoint_path, EmbeddingConfig, EmbeddingSystem};
pub use train::{embed, train_embedding, EmbedTrainConfig, EpochReport, TrainStep};
