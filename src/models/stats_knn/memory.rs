//! One section's memory for one view: the standardisation fitted on its training clips, the
//! standardised training vectors split by domain (source and target memories, or one pooled
//! memory), and each memory's own scale (the mean leave-one-out k-NN cosine distance of its rows),
//! which makes a distance to the 5-clip target memory comparable with one to the 30-clip source
//! memory. A query's score is the smallest scaled k-NN distance over the memories. Searches go
//! through [`NeighbourSearch`]: the GPU [`CosineIndex`] in production, a brute-force CPU search as
//! the reference.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::knn::{CosineIndex, IndexOptions};

/// The k most similar rows of each query: (indices, cosine similarities), `[queries, k]` each,
/// most similar first.
pub trait NeighbourSearch {
    fn search(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)>;
}

/// The GPU search: hark's cosine top-k.
pub struct GpuSearch(CosineIndex);

impl NeighbourSearch for GpuSearch {
    fn search(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        self.0.search(queries, k)
    }
}

/// The reference search: every similarity in f64 ([`crate::cpu::knn::cosine_topk`]).
pub struct BruteForceSearch {
    rows: Vec<f32>,
    dim: usize,
}

impl NeighbourSearch for BruteForceSearch {
    fn search(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        Ok(crate::cpu::knn::cosine_topk(
            queries, &self.rows, self.dim, k,
        ))
    }
}

/// Where searches run.
#[derive(Clone, Debug)]
pub enum SearchDevice {
    Gpu(Context),
    /// Brute force on the CPU (the reference).
    Cpu,
}

impl SearchDevice {
    fn build(&self, rows: &[f32], dim: usize) -> Result<Box<dyn NeighbourSearch>> {
        Ok(match self {
            SearchDevice::Gpu(ctx) => Box::new(GpuSearch(CosineIndex::from_slice(
                ctx,
                rows,
                dim,
                IndexOptions::default(),
            )?)),
            SearchDevice::Cpu => Box::new(BruteForceSearch {
                rows: rows.to_vec(),
                dim,
            }),
        })
    }
}

/// Per-column mean and standard deviation of training vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fitted on `rows` (row-major, `dim` columns, at least one row). A column's standard
    /// deviation is floored at 1 % of the mean deviation over columns (and at 1e-6), so a column
    /// that barely moves on a handful of clips cannot dominate every distance.
    pub fn fit(rows: &[f32], dim: usize) -> Result<Self> {
        let n = rows.len().checked_div(dim).unwrap_or(0);
        if n == 0 || n * dim != rows.len() {
            return Err(HarkError::invalid(
                "stats-knn",
                format!("cannot standardise {} values as rows of {dim}", rows.len()),
            ));
        }
        let column = |j: usize| rows.iter().skip(j).step_by(dim).map(|&v| f64::from(v));
        let mean: Vec<f64> = (0..dim)
            .map(|j| column(j).sum::<f64>() / n as f64)
            .collect();
        let std: Vec<f64> = (0..dim)
            .map(|j| (column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt())
            .collect();
        let floor = (0.01 * std.iter().sum::<f64>() / dim as f64).max(1e-6);
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: std.iter().map(|&s| s.max(floor) as f32).collect(),
        })
    }

    /// `(x - mean) / std` for every row of `rows`.
    pub fn apply(&self, rows: &[f32]) -> Vec<f32> {
        let dim = self.mean.len().max(1);
        rows.chunks(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(&x, (&m, &s))| (x - m) / s)
            })
            .collect()
    }
}

/// The training vectors of one domain (or of both, pooled) and their scale.
pub struct DomainMemory {
    /// Standardised rows, `[clips, dim]`.
    pub rows: Vec<f32>,
    /// The clip of each row (a query that is one of them is not its own neighbour).
    pub clips: Vec<String>,
    /// Mean leave-one-out k-NN cosine distance of the rows (the divisor of every distance).
    pub scale: f32,
    search: Box<dyn NeighbourSearch>,
}

/// How a query's k-NN distance is taken and scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnnRule {
    /// Neighbours averaged (1 = nearest only).
    pub k: usize,
}

impl DomainMemory {
    /// A memory of `rows` (`clips.len()` standardised rows of `dim`); its scale is computed here,
    /// or taken from `scale` when given (a loaded checkpoint, or a memory too small to have one).
    pub fn new(
        device: &SearchDevice,
        rows: Vec<f32>,
        clips: Vec<String>,
        dim: usize,
        scale: Option<f32>,
        rule: KnnRule,
    ) -> Result<Self> {
        if clips.is_empty() || rows.len() != clips.len() * dim {
            return Err(HarkError::shape(
                "stats-knn",
                format!(
                    "{} values for {} clips of dim {dim}",
                    rows.len(),
                    clips.len()
                ),
            ));
        }
        let search = device.build(&rows, dim)?;
        let mut memory = Self {
            rows,
            clips,
            scale: scale.unwrap_or(1.0),
            search,
        };
        if scale.is_none() {
            let own = memory.distances(&memory.rows.clone(), &memory.clips.clone(), rule)?;
            let finite: Vec<f64> = own.iter().copied().filter(|d| d.is_finite()).collect();
            memory.scale = if finite.is_empty() {
                1.0
            } else {
                (finite.iter().sum::<f64>() / finite.len() as f64).max(1e-6) as f32
            };
        }
        Ok(memory)
    }

    /// Whether the leave-one-out scale rests on at least one neighbour per row.
    pub fn has_own_scale(&self, rule: KnnRule) -> bool {
        self.clips.len() > rule.k
    }

    /// Mean cosine distance (1 - similarity) of each query to its `k` nearest rows, leaving out
    /// the row of the query's own clip (`names`); infinite where no other row is left.
    pub fn distances(&self, queries: &[f32], names: &[String], rule: KnnRule) -> Result<Vec<f64>> {
        let want = (rule.k + 1).min(self.clips.len());
        let (indices, sims) = self.search.search(queries, want)?;
        Ok(names
            .iter()
            .enumerate()
            .map(|(q, name)| {
                let neighbours: Vec<f64> = (0..want)
                    .filter(|&j| {
                        let row = indices[q * want + j] as usize;
                        self.clips.get(row) != Some(name)
                    })
                    .take(rule.k)
                    .map(|j| 1.0 - f64::from(sims[q * want + j]))
                    .collect();
                if neighbours.is_empty() {
                    f64::INFINITY
                } else {
                    neighbours.iter().sum::<f64>() / neighbours.len() as f64
                }
            })
            .collect())
    }
}

/// One view of one section: its standardisation (if any) and its memories.
pub struct ViewMemory {
    pub dim: usize,
    pub standardizer: Option<Standardizer>,
    pub memories: Vec<DomainMemory>,
    pub rule: KnnRule,
}

impl ViewMemory {
    /// Scores of `queries` (raw vectors, row-major; `names` their clips): the smallest scaled
    /// distance over the memories. A query whose only neighbour is itself scores 0.
    pub fn score(&self, queries: &[f32], names: &[String]) -> Result<Vec<f64>> {
        if queries.len() != names.len() * self.dim {
            return Err(HarkError::shape(
                "stats-knn",
                format!(
                    "{} values for {} queries of dim {}",
                    queries.len(),
                    names.len(),
                    self.dim
                ),
            ));
        }
        let standardised = match &self.standardizer {
            Some(s) => s.apply(queries),
            None => queries.to_vec(),
        };
        let mut best = vec![f64::INFINITY; names.len()];
        for memory in &self.memories {
            let distances = memory.distances(&standardised, names, self.rule)?;
            for (b, d) in best.iter_mut().zip(distances) {
                *b = b.min(d / f64::from(memory.scale));
            }
        }
        Ok(best
            .into_iter()
            .map(|b| if b.is_finite() { b } else { 0.0 })
            .collect())
    }
}
