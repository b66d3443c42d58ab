//! One section's memory for one view: the standardisation fitted on its training clips, the
//! standardised training vectors split by domain (source and target memories, or one pooled
//! memory), and each memory's own scale (the mean leave-one-out k-NN distance of its rows),
//! which makes a distance to the 5-clip target memory comparable with one to the 30-clip source
//! memory. A query's score is the smallest scaled k-NN distance over the memories. Searches go
//! through [`NeighbourSearch`]: the GPU [`CosineIndex`] in production (cosine, or Euclidean by a
//! norm-equalising lift), a brute-force CPU search as the reference.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::knn::{CosineIndex, IndexOptions};

/// The k nearest rows of each query: (indices, distances), `[queries, k]` each, nearest first.
pub trait NeighbourSearch {
    fn nearest(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f64>)>;
}

/// How distances are measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    /// `1 - cosine similarity`: right for raw statistics, whose direction carries the shape
    /// (the default: best on the few-shot tuning set).
    #[default]
    Cosine,
    /// Euclidean: right for centred statistics, where cosine would ignore how far a clip
    /// deviates and keep only the direction of its deviation.
    Euclidean,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cosine" => Ok(Metric::Cosine),
            "euclidean" => Ok(Metric::Euclidean),
            _ => Err(HarkError::invalid(
                "stats-knn",
                format!("unknown metric '{name}' (expected cosine or euclidean)"),
            )),
        }
    }
}

/// The GPU cosine search: hark's [`CosineIndex`] top-k.
pub struct GpuCosine(CosineIndex);

impl NeighbourSearch for GpuCosine {
    fn nearest(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f64>)> {
        let (indices, sims) = self.0.search(queries, k)?;
        Ok((indices, sims.iter().map(|&s| 1.0 - f64::from(s)).collect()))
    }
}

/// The GPU Euclidean search, exact, through the cosine index: a database row `x` is lifted to
/// `[x, |x|^2 / 2, sqrt(m - |x|^2 - |x|^4 / 4)]` (every lifted row has norm `sqrt(m)`) and a
/// query `q` to `[q, -1, 0]`, so `q'.x' = q.x - |x|^2 / 2` and the cosine ranks rows as
/// `-|q - x|^2` does; the distance is `|q|^2 - 2 cos |q'| sqrt(m)`.
pub struct GpuEuclidean {
    index: CosineIndex,
    dim: usize,
    /// The lifted rows' common squared norm.
    m: f64,
}

impl GpuEuclidean {
    fn new(ctx: &Context, rows: &[f32], dim: usize) -> Result<Self> {
        let norms: Vec<f64> = rows
            .chunks(dim.max(1))
            .map(|r| r.iter().map(|&v| f64::from(v).powi(2)).sum())
            .collect();
        let m = norms.iter().map(|n| n + n * n / 4.0).fold(1.0, f64::max) * (1.0 + 1e-6);
        let lifted: Vec<f32> = rows
            .chunks(dim.max(1))
            .zip(&norms)
            .flat_map(|(r, &n)| {
                let last = (m - n - n * n / 4.0).max(0.0).sqrt();
                r.iter()
                    .copied()
                    .chain([(n / 2.0) as f32, last as f32])
                    .collect::<Vec<f32>>()
            })
            .collect();
        let index = CosineIndex::from_slice(ctx, &lifted, dim + 2, IndexOptions::default())?;
        Ok(Self { index, dim, m })
    }
}

impl NeighbourSearch for GpuEuclidean {
    fn nearest(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f64>)> {
        let lifted: Vec<f32> = queries
            .chunks(self.dim.max(1))
            .flat_map(|q| q.iter().copied().chain([-1.0, 0.0]).collect::<Vec<f32>>())
            .collect();
        let (indices, sims) = self.index.search(&lifted, k)?;
        let mut distances = Vec::with_capacity(sims.len());
        for (i, q) in queries.chunks(self.dim.max(1)).enumerate() {
            let q2: f64 = q.iter().map(|&v| f64::from(v).powi(2)).sum();
            // |q'| sqrt(m): the cosine's denominator.
            let scale = 2.0 * (q2 + 1.0).sqrt() * self.m.sqrt();
            distances.extend(
                sims[i * k..(i + 1) * k]
                    .iter()
                    .map(|&s| (q2 - scale * f64::from(s)).max(0.0).sqrt()),
            );
        }
        Ok((indices, distances))
    }
}

/// The reference search: every distance in f64 by brute force.
pub struct BruteForceSearch {
    rows: Vec<f32>,
    dim: usize,
    metric: Metric,
}

impl NeighbourSearch for BruteForceSearch {
    fn nearest(&self, queries: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f64>)> {
        if self.metric == Metric::Cosine {
            let (indices, sims) = crate::cpu::knn::cosine_topk(queries, &self.rows, self.dim, k);
            return Ok((indices, sims.iter().map(|&s| 1.0 - f64::from(s)).collect()));
        }
        let mut indices = Vec::new();
        let mut distances = Vec::new();
        for q in queries.chunks(self.dim.max(1)) {
            let mut all: Vec<(f64, u32)> = self
                .rows
                .chunks(self.dim.max(1))
                .enumerate()
                .map(|(i, x)| {
                    let d2: f64 = q
                        .iter()
                        .zip(x)
                        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                        .sum();
                    (d2.sqrt(), i as u32)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(d, i) in all.iter().take(k) {
                indices.push(i);
                distances.push(d);
            }
        }
        Ok((indices, distances))
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
    fn build(&self, rows: &[f32], dim: usize, metric: Metric) -> Result<Box<dyn NeighbourSearch>> {
        Ok(match (self, metric) {
            (SearchDevice::Gpu(ctx), Metric::Cosine) => Box::new(GpuCosine(
                CosineIndex::from_slice(ctx, rows, dim, IndexOptions::default())?,
            )),
            (SearchDevice::Gpu(ctx), Metric::Euclidean) => {
                Box::new(GpuEuclidean::new(ctx, rows, dim)?)
            }
            (SearchDevice::Cpu, _) => Box::new(BruteForceSearch {
                rows: rows.to_vec(),
                dim,
                metric,
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

    /// Fitted on `rows` as one unit: each column centred on its mean, every column divided by
    /// the same value (the mean of the columns' standard deviations), so that the view's
    /// geometry (a dB is a dB in every band) is kept and only its size is normalised.
    pub fn fit_view(rows: &[f32], dim: usize) -> Result<Self> {
        let columns = Self::fit(rows, dim)?;
        let n = rows.len() / dim;
        let column = |j: usize| rows.iter().skip(j).step_by(dim).map(|&v| f64::from(v));
        let mean_std = (0..dim)
            .map(|j| {
                let m = f64::from(columns.mean[j]);
                (column(j).map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt()
            })
            .sum::<f64>()
            / dim as f64;
        Ok(Self {
            std: vec![mean_std.max(1e-6) as f32; dim],
            mean: columns.mean,
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
    /// Mean leave-one-out k-NN distance of the rows (the divisor of every distance).
    pub scale: f32,
    search: Box<dyn NeighbourSearch>,
}

/// How a query's k-NN distance is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnnRule {
    /// Neighbours averaged (1 = nearest only).
    pub k: usize,
    pub metric: Metric,
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
        let search = device.build(&rows, dim, rule.metric)?;
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

    /// Mean distance of each query to its `k` nearest rows, leaving out the row of the query's
    /// own clip (`names`); infinite where no other row is left.
    pub fn distances(&self, queries: &[f32], names: &[String], rule: KnnRule) -> Result<Vec<f64>> {
        let want = (rule.k + 1).min(self.clips.len());
        let (indices, found) = self.search.nearest(queries, want)?;
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
                    .map(|j| found[q * want + j])
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
