//! Shared parameters of the `knn` kernels (see [`crate::params`]).

use crate::error::{HarkError, Result};

/// What a score means; larger is always nearer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    /// `q . x`: cosine similarity when both sides are L2-normalised.
    #[default]
    Dot,
    /// `-||q - x||^2`.
    NegSquaredL2,
}

impl Metric {
    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::Dot => 0,
            Metric::NegSquaredL2 => 1,
        }
    }
}

/// Index of an empty slot: returned only when fewer than k scores are finite.
pub const EMPTY_INDEX: u32 = u32::MAX;

/// Rows of a row-major host matrix of `len` values with `dim` columns.
pub(crate) fn host_rows(what: &'static str, len: usize, dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(HarkError::invalid(what, "dim must be at least 1"));
    }
    if !len.is_multiple_of(dim) {
        return Err(HarkError::shape(
            what,
            format!("{len} values are not whole rows of dim {dim}"),
        ));
    }
    Ok(len / dim)
}

/// `x -> transform (x - mean)` with `transform = L^-1`, `L L^T` the (ridged) covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct Whitening {
    pub dim: usize,
    pub mean: Vec<f64>,
    /// Row-major `[dim, dim]`, lower triangular.
    pub transform: Vec<f64>,
}

impl Whitening {
    /// Fits the whitening of `data` `[rows, dim]`: the mean, the unbiased covariance
    /// (`numpy.cov`'s, divided by rows - 1) plus `ridge * trace / dim` on the diagonal (so that
    /// fewer rows than dims still give a positive definite matrix when `ridge > 0`), its
    /// Cholesky factor and that factor's inverse. Errors: fewer than 2 rows, or a covariance that
    /// is not positive definite (raise `ridge`).
    pub fn fit(data: &[f32], dim: usize, ridge: f64) -> Result<Self> {
        let what = "mahalanobis whitening";
        let rows = host_rows(what, data.len(), dim)?;
        if rows < 2 {
            return Err(HarkError::invalid(
                what,
                format!("a covariance needs at least 2 rows, got {rows}"),
            ));
        }
        let mut mean = vec![0.0f64; dim];
        for row in data.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut cov = vec![0.0f64; dim * dim];
        for row in data.chunks(dim) {
            let centred: Vec<f64> = row
                .iter()
                .zip(&mean)
                .map(|(&v, m)| f64::from(v) - m)
                .collect();
            for i in 0..dim {
                for j in 0..=i {
                    cov[i * dim + j] += centred[i] * centred[j];
                }
            }
        }
        let trace: f64 = (0..dim).map(|i| cov[i * dim + i]).sum::<f64>() / (rows - 1) as f64;
        for i in 0..dim {
            for j in 0..=i {
                cov[i * dim + j] /= (rows - 1) as f64;
            }
            cov[i * dim + i] += ridge * trace / dim as f64;
        }
        // Cholesky (lower), reading only the lower triangle.
        let mut l = vec![0.0f64; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                let s: f64 = (0..j).map(|p| l[i * dim + p] * l[j * dim + p]).sum();
                let v = cov[i * dim + j] - s;
                if i == j {
                    if !(v > 0.0 && v.is_finite()) {
                        return Err(HarkError::invalid(
                            what,
                            format!(
                                "the covariance of {rows} rows x {dim} dims is not positive \
                                 definite (pivot {i} is {v:e}); raise the ridge (now {ridge:e})"
                            ),
                        ));
                    }
                    l[i * dim + i] = v.sqrt();
                } else {
                    l[i * dim + j] = v / l[j * dim + j];
                }
            }
        }
        // L^-1 by forward substitution, one column of the identity at a time.
        let mut inv = vec![0.0f64; dim * dim];
        for c in 0..dim {
            for i in c..dim {
                let e = if i == c { 1.0 } else { 0.0 };
                let s: f64 = (c..i).map(|p| l[i * dim + p] * inv[p * dim + c]).sum();
                inv[i * dim + c] = (e - s) / l[i * dim + i];
            }
        }
        Ok(Self {
            dim,
            mean,
            transform: inv,
        })
    }

    /// Whitens `x` `[rows, dim]` on the CPU in f64.
    pub fn apply(&self, x: &[f32]) -> Vec<f64> {
        let dim = self.dim.max(1);
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(dim) {
            let centred: Vec<f64> = row
                .iter()
                .zip(&self.mean)
                .map(|(&v, m)| f64::from(v) - m)
                .collect();
            for r in 0..dim {
                out.push(
                    (0..=r)
                        .map(|c| self.transform[r * dim + c] * centred[c])
                        .sum(),
                );
            }
        }
        out
    }
}
