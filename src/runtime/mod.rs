//! Kernel machinery: compiled-once pipelines, reusable bind groups, per-dispatch parameters in a
//! ring of uniform slots, and the [`Recorder`] through which every launch is recorded.

mod bind_group_cache;
mod launch;
mod param_pool;
mod pipeline_cache;
mod recorder;

pub(crate) use bind_group_cache::BindGroupCache;
pub(crate) use launch::{grid_1d, Access, Kernel, Launch, MAX_GROUPS_PER_DIM};
pub(crate) use param_pool::ParamPool;
pub(crate) use pipeline_cache::PipelineCache;
pub use recorder::{DispatchTiming, Recorder};
