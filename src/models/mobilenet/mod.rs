//! The DCASE 2022 MobileNetV2 baseline (003 §4.1, REFERENCE-SPECS §3): 64-frame x 128-mel
//! log-mel patches every 8 frames, a width-0.5 MobileNetV2 classifying a machine type's
//! sections, and the clip score `mean over patches of log((1 - p) / p)` for the clip's section.

pub mod network;
pub mod patches;
pub mod system;
pub mod train;

pub use network::{inverted_residual, make_divisible, MobileNetV2, MobileNetV2Config};
pub use patches::{clip_score, log_odds_against, patch_starts};
pub use system::{
    checkpoint_path, clip_logmels, clip_scores, patch_logits, MobileNetConfig, MobileNetSystem,
    Patches, SectionClassifier,
};
pub use train::{train, train_resumable, StepReport};
