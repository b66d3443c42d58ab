//! The back end of Wilkinghoff's system, per section: the section's training embeddings
//! length-normalised, their k-means (16, cosine) centroids plus every target-domain training
//! embedding as centres, and a clip's score `1 - max cosine similarity` to them (the minimum
//! cosine distance; higher is more anomalous).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::knn::{kmeans, CosineIndex, Distance, IndexOptions, KMeansOptions};

/// Lloyd iterations of the back end's k-means (scikit-learn stops earlier on convergence; a
/// fixed count keeps the GPU path one submit).
const KMEANS_ITERATIONS: usize = 30;

/// The centres of one section.
pub struct SectionBackend {
    index: CosineIndex,
}

impl SectionBackend {
    /// Centres from `embeddings` (`[rows, dim]`, the section's training clips) and which rows
    /// are target-domain clips; `clusters` k-means centroids (fewer when there are fewer clips).
    pub fn fit(
        ctx: &Context,
        embeddings: &[f32],
        dim: usize,
        is_target: &[bool],
        clusters: usize,
        seed: u64,
    ) -> Result<Self> {
        let rows = embeddings.len() / dim.max(1);
        if rows == 0 || rows * dim != embeddings.len() || is_target.len() != rows {
            return Err(HarkError::invalid(
                "embedding_backend",
                format!(
                    "{} values of dim {dim} with {} domain flags",
                    embeddings.len(),
                    is_target.len()
                ),
            ));
        }
        let result = kmeans(
            ctx,
            embeddings,
            dim,
            &KMeansOptions {
                clusters: clusters.clamp(1, rows),
                iterations: KMEANS_ITERATIONS,
                distance: Distance::Cosine,
                seed,
            },
        )?;
        let mut centres = result.centroids;
        for (row, _) in is_target.iter().enumerate().filter(|(_, &t)| t) {
            centres.extend_from_slice(&embeddings[row * dim..(row + 1) * dim]);
        }
        Ok(Self {
            index: CosineIndex::from_slice(ctx, &centres, dim, IndexOptions::default())?,
        })
    }

    /// Number of centres (k-means centroids plus target clips).
    pub fn centres(&self) -> usize {
        self.index.len()
    }

    /// `1 - max cosine similarity` of each query row to the centres.
    pub fn scores(&self, queries: &[f32]) -> Result<Vec<f64>> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let (_, sims) = self.index.search(queries, 1)?;
        Ok(sims.iter().map(|&s| 1.0 - f64::from(s)).collect())
    }
}
