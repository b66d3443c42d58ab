//! The seed systems built from hark's layers.

pub mod autoencoder;
pub mod conv_tasnet;
pub mod separation;
pub mod ssc;
