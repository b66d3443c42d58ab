//! A Gaussian mixture with full covariances fitted by EM on the host in f64, following
//! scikit-learn's `GaussianMixture(covariance_type="full")` step for step (E-step on the
//! Cholesky factors of the precisions, M-step with `reg_covar` added to every diagonal,
//! convergence when the mean log-likelihood changes by less than `tol`), so that the same
//! initialisation gives the same fit. The anomaly score of an inlier model is the negative
//! log-likelihood (paper 004).

use crate::error::{HarkError, Result};
use crate::knn::{kmeans_plus_plus, Distance, KMeansOptions};

const WHAT: &str = "gmm";

/// EM settings; the defaults are scikit-learn's.
#[derive(Clone, Copy, Debug)]
pub struct GmmOptions {
    pub components: usize,
    /// Added to every covariance diagonal (scikit-learn's `reg_covar`).
    pub reg_covar: f64,
    pub max_iter: usize,
    pub tol: f64,
    /// Seed of the k-means++ initialisation.
    pub seed: u64,
    /// Lloyd iterations of the k-means initialisation.
    pub kmeans_iterations: usize,
}

impl Default for GmmOptions {
    fn default() -> Self {
        Self {
            components: 1,
            reg_covar: 1e-6,
            max_iter: 100,
            tol: 1e-3,
            seed: 0,
            kmeans_iterations: 10,
        }
    }
}

/// Starting parameters, as scikit-learn's `weights_init`, `means_init`, `precisions_init`.
#[derive(Clone, Debug)]
pub struct GmmInit {
    pub weights: Vec<f64>,
    /// `[components, dim]`.
    pub means: Vec<f64>,
    /// `[components, dim, dim]`, each symmetric positive definite.
    pub precisions: Vec<f64>,
}

/// A fitted mixture.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    pub dim: usize,
    pub weights: Vec<f64>,
    /// `[components, dim]`.
    pub means: Vec<f64>,
    /// `[components, dim, dim]` (with `reg_covar` on the diagonal).
    pub covariances: Vec<f64>,
    /// Lower Cholesky factor of every covariance, `[components, dim, dim]`.
    chol: Vec<f64>,
    /// EM iterations run, and whether the last one met `tol`.
    pub n_iter: usize,
    pub converged: bool,
    /// Mean log-likelihood of the training data at the last iteration.
    pub lower_bound: f64,
}

fn rows_of(data: &[f64], dim: usize) -> Result<usize> {
    if dim == 0 || data.is_empty() || !data.len().is_multiple_of(dim) {
        return Err(HarkError::shape(
            WHAT,
            format!(
                "{} values are not whole non-empty rows of dim {dim}",
                data.len()
            ),
        ));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(HarkError::invalid(WHAT, format!("value {i} is not finite")));
    }
    Ok(data.len() / dim)
}

/// Lower Cholesky factor of the `dim x dim` matrix `a` (lower triangle read).
fn cholesky(a: &[f64], dim: usize, component: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * dim + p] * l[j * dim + p]).sum();
            let v = a[i * dim + j] - s;
            if i == j {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(HarkError::invalid(
                        WHAT,
                        format!(
                            "the covariance of component {component} is not positive definite \
                             (pivot {i} is {v:e}); raise reg_covar or use fewer components"
                        ),
                    ));
                }
                l[i * dim + i] = v.sqrt();
            } else {
                l[i * dim + j] = v / l[j * dim + j];
            }
        }
    }
    Ok(l)
}

/// `log(sum(exp(v)))` without overflow.
fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

impl GaussianMixture {
    /// Fits `options.components` components to `data` `[rows, dim]`, initialised like
    /// scikit-learn's `init_params="kmeans"`: k-means (k-means++ seeds, seeded, then Lloyd) gives
    /// hard responsibilities, and one M-step turns them into the starting parameters.
    pub fn fit(data: &[f64], dim: usize, options: &GmmOptions) -> Result<Self> {
        let rows = rows_of(data, dim)?;
        let k = options.components;
        if k == 0 || k > rows {
            return Err(HarkError::invalid(
                WHAT,
                format!("{k} components for {rows} points (need 1 to {rows})"),
            ));
        }
        let labels = kmeans_labels(data, dim, k, options)?;
        let mut resp = vec![0.0; rows * k];
        for (i, &label) in labels.iter().enumerate() {
            resp[i * k + label] = 1.0;
        }
        let mut model = Self::empty(dim, k);
        model.m_step(data, &resp, options.reg_covar)?;
        model.em(data, options)?;
        Ok(model)
    }

    /// Fits from given starting parameters (scikit-learn with `weights_init`, `means_init` and
    /// `precisions_init`): deterministic, for comparing against scikit-learn.
    pub fn fit_from(
        data: &[f64],
        dim: usize,
        init: &GmmInit,
        options: &GmmOptions,
    ) -> Result<Self> {
        rows_of(data, dim)?;
        let k = init.weights.len();
        if k == 0 || init.means.len() != k * dim || init.precisions.len() != k * dim * dim {
            return Err(HarkError::shape(
                WHAT,
                format!(
                    "init of {k} weights, {} mean values and {} precision values for dim {dim}",
                    init.means.len(),
                    init.precisions.len()
                ),
            ));
        }
        let mut model = Self::empty(dim, k);
        model.weights = init.weights.clone();
        model.means = init.means.clone();
        for c in 0..k {
            // The covariance is the precision's inverse: from the precision's Cholesky factor
            // P = U U^T, S = (U^T)^-1 U^-1.
            let p = cholesky(&init.precisions[c * dim * dim..(c + 1) * dim * dim], dim, c)?;
            let p_inv = lower_inverse(&p, dim);
            let mut cov = vec![0.0; dim * dim];
            for i in 0..dim {
                for j in 0..dim {
                    cov[i * dim + j] = (0..dim)
                        .map(|r| p_inv[r * dim + i] * p_inv[r * dim + j])
                        .sum();
                }
            }
            model.chol[c * dim * dim..(c + 1) * dim * dim]
                .copy_from_slice(&cholesky(&cov, dim, c)?);
            model.covariances[c * dim * dim..(c + 1) * dim * dim].copy_from_slice(&cov);
        }
        model.em(data, options)?;
        Ok(model)
    }

    fn empty(dim: usize, k: usize) -> Self {
        Self {
            dim,
            weights: vec![0.0; k],
            means: vec![0.0; k * dim],
            covariances: vec![0.0; k * dim * dim],
            chol: vec![0.0; k * dim * dim],
            n_iter: 0,
            converged: false,
            lower_bound: f64::NEG_INFINITY,
        }
    }

    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// scikit-learn's EM loop: E-step, M-step, stop when the mean log-likelihood of the E-step
    /// changed by less than `tol`.
    fn em(&mut self, data: &[f64], options: &GmmOptions) -> Result<()> {
        let mut lower_bound = f64::NEG_INFINITY;
        for iteration in 1..=options.max_iter.max(1) {
            let previous = lower_bound;
            let (mean_log_prob, resp) = self.e_step(data);
            self.m_step(data, &resp, options.reg_covar)?;
            lower_bound = mean_log_prob;
            self.n_iter = iteration;
            self.lower_bound = lower_bound;
            if (lower_bound - previous).abs() < options.tol {
                self.converged = true;
                break;
            }
        }
        Ok(())
    }

    /// `log(weight_k) + log N(x | k)` for every row and component, `[rows, k]`.
    fn weighted_log_prob(&self, data: &[f64]) -> Vec<f64> {
        let dim = self.dim;
        let k = self.components();
        let rows = data.len() / dim;
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let mut out = vec![0.0; rows * k];
        let mut z = vec![0.0; dim];
        for c in 0..k {
            let l = &self.chol[c * dim * dim..(c + 1) * dim * dim];
            let mean = &self.means[c * dim..(c + 1) * dim];
            let log_det: f64 = (0..dim).map(|i| l[i * dim + i].ln()).sum();
            let log_weight = self.weights[c].ln();
            for (r, x) in data.chunks(dim).enumerate() {
                // Solve L z = x - mean; the Mahalanobis term is |z|^2.
                for i in 0..dim {
                    let s: f64 = (0..i).map(|p| l[i * dim + p] * z[p]).sum();
                    z[i] = (x[i] - mean[i] - s) / l[i * dim + i];
                }
                let m: f64 = z.iter().map(|v| v * v).sum();
                out[r * k + c] = log_weight - 0.5 * (dim as f64 * log_2pi + m) - log_det;
            }
        }
        out
    }

    /// Mean log-likelihood and the responsibilities `[rows, k]`.
    fn e_step(&self, data: &[f64]) -> (f64, Vec<f64>) {
        let k = self.components();
        let mut resp = self.weighted_log_prob(data);
        let mut total = 0.0;
        let rows = resp.len() / k;
        for row in resp.chunks_mut(k) {
            let norm = log_sum_exp(row);
            total += norm;
            row.iter_mut().for_each(|v| *v = (*v - norm).exp());
        }
        (total / rows as f64, resp)
    }

    fn m_step(&mut self, data: &[f64], resp: &[f64], reg_covar: f64) -> Result<()> {
        let dim = self.dim;
        let k = self.components();
        let rows = data.len() / dim;
        for c in 0..k {
            // scikit-learn adds 10 machine epsilons so that an empty component keeps a weight.
            let nk: f64 = (0..rows).map(|r| resp[r * k + c]).sum::<f64>() + 10.0 * f64::EPSILON;
            let mut mean = vec![0.0; dim];
            for (r, x) in data.chunks(dim).enumerate() {
                let w = resp[r * k + c];
                for (m, v) in mean.iter_mut().zip(x) {
                    *m += w * v;
                }
            }
            mean.iter_mut().for_each(|m| *m /= nk);
            let mut cov = vec![0.0; dim * dim];
            let mut diff = vec![0.0; dim];
            for (r, x) in data.chunks(dim).enumerate() {
                let w = resp[r * k + c];
                for i in 0..dim {
                    diff[i] = x[i] - mean[i];
                }
                for i in 0..dim {
                    let wi = w * diff[i];
                    for j in 0..=i {
                        cov[i * dim + j] += wi * diff[j];
                    }
                }
            }
            for i in 0..dim {
                for j in 0..=i {
                    cov[i * dim + j] /= nk;
                    cov[j * dim + i] = cov[i * dim + j];
                }
                cov[i * dim + i] += reg_covar;
            }
            self.weights[c] = nk / rows as f64;
            self.means[c * dim..(c + 1) * dim].copy_from_slice(&mean);
            self.chol[c * dim * dim..(c + 1) * dim * dim].copy_from_slice(&cholesky(&cov, dim, c)?);
            self.covariances[c * dim * dim..(c + 1) * dim * dim].copy_from_slice(&cov);
        }
        Ok(())
    }

    /// Log-likelihood of every row of `data` `[rows, dim]` (scikit-learn's `score_samples`).
    pub fn score_samples(&self, data: &[f64]) -> Result<Vec<f64>> {
        let rows = rows_of(data, self.dim)?;
        let k = self.components();
        let weighted = self.weighted_log_prob(data);
        Ok((0..rows)
            .map(|r| log_sum_exp(&weighted[r * k..(r + 1) * k]))
            .collect())
    }

    /// Anomaly scores: the negative log-likelihood of every row.
    pub fn negative_log_likelihood(&self, data: &[f64]) -> Result<Vec<f64>> {
        Ok(self.score_samples(data)?.into_iter().map(|v| -v).collect())
    }
}

/// Inverse of a lower-triangular matrix by forward substitution.
fn lower_inverse(l: &[f64], dim: usize) -> Vec<f64> {
    let mut inv = vec![0.0; dim * dim];
    for c in 0..dim {
        for i in c..dim {
            let e = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (c..i).map(|p| l[i * dim + p] * inv[p * dim + c]).sum();
            inv[i * dim + c] = (e - s) / l[i * dim + i];
        }
    }
    inv
}

/// Cluster labels of Euclidean k-means: k-means++ seeds ([`kmeans_plus_plus`], seeded), then
/// Lloyd iterations in f64 (ties to the lower centroid; an emptied cluster keeps its centroid).
fn kmeans_labels(data: &[f64], dim: usize, k: usize, options: &GmmOptions) -> Result<Vec<usize>> {
    let as_f32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    let seeds = kmeans_plus_plus(
        &as_f32,
        dim,
        &KMeansOptions {
            clusters: k,
            iterations: options.kmeans_iterations,
            distance: Distance::Euclidean,
            seed: options.seed,
        },
    )?;
    let mut centroids: Vec<f64> = seeds
        .iter()
        .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let assign = |centroids: &[f64]| -> Vec<usize> {
        data.chunks(dim)
            .map(|x| {
                let mut best = (f64::INFINITY, 0);
                for (c, centre) in centroids.chunks(dim).enumerate() {
                    let d: f64 = x.iter().zip(centre).map(|(a, b)| (a - b) * (a - b)).sum();
                    if d < best.0 {
                        best = (d, c);
                    }
                }
                best.1
            })
            .collect()
    };
    let mut labels = assign(&centroids);
    for _ in 0..options.kmeans_iterations {
        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (x, &label) in data.chunks(dim).zip(&labels) {
            counts[label] += 1;
            for (s, v) in sums[label * dim..(label + 1) * dim].iter_mut().zip(x) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for i in 0..dim {
                    centroids[c * dim + i] = sums[c * dim + i] / counts[c] as f64;
                }
            }
        }
        let next = assign(&centroids);
        if next == labels {
            break;
        }
        labels = next;
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    fn two_blobs(rows_each: usize, seed: u64) -> Vec<f64> {
        let mut rng = SeededRng::new(seed);
        let mut data = Vec::new();
        for centre in [-4.0, 4.0] {
            for _ in 0..rows_each {
                data.push(centre + f64::from(rng.uniform(-1.0, 1.0)));
                data.push(f64::from(rng.uniform(-1.0, 1.0)));
            }
        }
        data
    }

    #[test]
    fn one_component_is_the_sample_gaussian() {
        let data = two_blobs(50, 3);
        let gmm = GaussianMixture::fit(&data, 2, &GmmOptions::default()).unwrap();
        let n = 100.0;
        let mean_x: f64 = data.chunks(2).map(|r| r[0]).sum::<f64>() / n;
        let var_x: f64 = data.chunks(2).map(|r| (r[0] - mean_x).powi(2)).sum::<f64>() / n;
        assert!((gmm.means[0] - mean_x).abs() < 1e-12);
        assert!((gmm.covariances[0] - var_x - 1e-6).abs() < 1e-9);
        // The log-likelihood of the mean is that of a 2-D Gaussian at its centre.
        let det = gmm.covariances[0] * gmm.covariances[3] - gmm.covariances[1].powi(2);
        let expected = -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln();
        let at_mean = gmm.score_samples(&gmm.means.clone()).unwrap()[0];
        assert!((at_mean - expected).abs() < 1e-9, "{at_mean} vs {expected}");
    }

    #[test]
    fn two_components_find_the_two_blobs_and_score_outliers_higher() {
        let data = two_blobs(60, 5);
        let options = GmmOptions {
            components: 2,
            ..Default::default()
        };
        let gmm = GaussianMixture::fit(&data, 2, &options).unwrap();
        let mut xs = [gmm.means[0], gmm.means[2]];
        xs.sort_by(f64::total_cmp);
        assert!(
            (xs[0] + 4.0).abs() < 0.3 && (xs[1] - 4.0).abs() < 0.3,
            "{xs:?}"
        );
        assert!((gmm.weights[0] - 0.5).abs() < 1e-9);
        let nll = gmm
            .negative_log_likelihood(&[-4.0, 0.0, 0.0, 0.0, 4.0, 0.0])
            .unwrap();
        assert!(nll[1] > nll[0] + 5.0 && nll[1] > nll[2] + 5.0, "{nll:?}");
    }

    #[test]
    fn refuses_bad_inputs() {
        let data = two_blobs(3, 1);
        let too_many = GmmOptions {
            components: 7,
            ..Default::default()
        };
        assert!(GaussianMixture::fit(&data, 2, &too_many).is_err());
        assert!(GaussianMixture::fit(&data[..5], 2, &GmmOptions::default()).is_err());
        let mut nan = data.clone();
        nan[2] = f64::NAN;
        assert!(GaussianMixture::fit(&nan, 2, &GmmOptions::default()).is_err());
        // A duplicated point in 2-D without a ridge has a singular covariance.
        let singular = GmmOptions {
            reg_covar: 0.0,
            ..Default::default()
        };
        assert!(GaussianMixture::fit(&[1.0, 2.0, 1.0, 2.0], 2, &singular).is_err());
    }
}
