//! Anomaly detection around the models: DCASE metrics, challenge output files and the scoring
//! contract every system implements.
pub mod aggregate;
pub mod contract;
pub mod ensemble;
pub mod gmm;
pub mod inlier;
pub mod metrics;
pub mod outputs;
pub mod plots;
