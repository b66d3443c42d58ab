//! Conv-TasNet (Luo & Mesgarani 2019) exactly as `torchaudio.models.ConvTasNet`, the separator of
//! the separation-based ASD paper (000): a learned encoder (strided conv), a temporal
//! convolution network of dilated depthwise conv blocks producing one mask per source, and a
//! transposed-conv decoder, with torchaudio's state-dict names so that its checkpoints load
//! here and back (REFERENCE-SPECS §2).

mod block;
mod config;
pub mod cpu_reference;
mod mask_generator;
mod model;
mod state_dict;

pub use config::{ConvTasNetConfig, MaskActivation};
pub use model::{ConfigOrigin, ConvTasNet};
pub use state_dict::{
    check_state_dict, infer_config, torchaudio_state_dict, InferredConfig, StateDictHints,
    TORCHAUDIO_LAYERS_PER_STACK,
};

use crate::nn::reuse;
