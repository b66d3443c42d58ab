//! Separation-based anomalous sound detection (000): Conv-TasNet separators trained on
//! mixtures of clean machine stems and noise (Type-Sep: the machine type; ID-Sep: one section),
//! used before the autoencoder (After-Sep) or compared with each other (separation-based OE).

pub mod mixtures;
pub mod study;
pub mod system;
pub mod train;

pub use mixtures::{MixtureSampler, SeparationTarget, StemSet};
pub use train::{
    separate, si_sdr_db, train_separator, SeparationLoss, SeparatorEpochReport,
    SeparatorTrainConfig,
};
