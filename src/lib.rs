//! hark: hand-written WGSL compute kernels on wgpu for machine anomalous-sound detection.
//!
//! Start with a [`Context`] (or wrap your own device with [`Context::from_device`]), put data in
//! [`Tensor`]s, record kernels from [`kernels`] into a [`Recorder`] and submit it. Every kernel
//! has a plain-loop CPU twin in [`cpu`] that the tests hold it to.

pub mod audio;
pub mod context;
pub mod cpu;
pub mod detect;
pub mod error;
pub mod features;
pub mod io;
pub mod kernels;
pub mod knn;
pub mod models;
pub mod monitor;
pub mod nn;
pub mod params;
pub mod paths;
pub mod profiler;
pub mod rng;
pub mod runtime;
pub mod shaders;
pub mod tensor;
pub mod testing;
pub mod train;

pub use context::{Context, ContextOptions};
pub use error::{HarkError, Result};
pub use runtime::{DispatchTiming, Recorder};
pub use tensor::{DType, Tensor};
