//! The seed systems built from hark's layers.

pub mod autoencoder;
pub mod conv_tasnet;
pub mod embedding;
pub mod flow;
pub mod mobilenet;
pub mod oe;
pub mod separation;
pub mod ssc;
pub mod stats_knn;
