//! The seed systems built from hark's layers.

pub mod autoencoder;
pub mod conv_tasnet;
pub mod flow;
pub mod oe;
pub mod embedding;
pub mod mobilenet;
pub mod separation;
