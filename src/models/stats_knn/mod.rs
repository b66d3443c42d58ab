//! The training-free stats-knn system for few-shot detection: a clip is embedded by statistics of
//! the front end's outputs (log-mel moments, temporal change, whole-clip spectrum; one vector per
//! view), each view is standardised on the section's training clips, and a clip scores by its
//! k-NN distance (Euclidean or cosine, GPU top-k) to the section's source and target memories,
//! each scaled by its own neighbour distances, the smaller of the two, averaged over views.

mod checkpoint;
mod extract;
mod memory;
mod section;
mod system;
mod views;

pub use checkpoint::{
    load_stats_knn, read_settings, save_stats_knn, stats_knn_checkpoint_path, ModelSettings,
};
pub use extract::{embed_waves_cpu, ClipEmbedding, EmbeddingOptions, StatsEmbedder};
pub use memory::{
    BruteForceSearch, DomainMemory, GpuCosine, GpuEuclidean, KnnRule, Metric, NeighbourSearch,
    SearchDevice, Standardizer, ViewMemory,
};
pub use section::{BackEnd, DomainMemories, SectionModel, Standardization, TrainingClip};
pub use system::{StatsKnnConfig, StatsKnnSystem, DEFAULT_SPECTRUM_BANDS};
pub use views::{logmel_moments, spectrum_bands, temporal_change, View};
