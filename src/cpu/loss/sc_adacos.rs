//! CPU twin of `shaders/loss/sc_adacos.wgsl`: sub-cluster AdaCos (REFERENCE-SPECS §4), its
//! adaptive scale and its gradients with respect to the embeddings and the centres.

use crate::error::{HarkError, Result};

const KERNEL: &str = "sc_adacos";
const NORM_EPS: f64 = 1e-12;
const KERAS_EPS: f64 = 1e-7;

/// The forward's results: cosines `[batch, classes * sub]`, the scale the loss used, row
/// losses `[batch]` and their mean.
#[derive(Clone, Debug)]
pub struct ScAdaCosForward {
    pub cosines: Vec<f64>,
    pub scale: f64,
    pub rows: Vec<f64>,
    pub loss: f64,
}

/// `[batch, dim, classes, sub]` of one call, checked.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    dim: usize,
    classes: usize,
    sub: usize,
}

impl Dims {
    fn logits(self) -> usize {
        self.classes * self.sub
    }
}

/// `sqrt(2) ln(classes * sub - 1)`, AdaCos's initial scale over all sub-cluster logits.
pub fn sc_adacos_initial_scale(classes: usize, sub: usize) -> f64 {
    std::f64::consts::SQRT_2 * ((classes * sub) as f64 - 1.0).ln()
}

fn check(x: &[f64], centres: &[f64], labels: &[f64], dim: usize, classes: usize) -> Result<Dims> {
    if dim == 0 || classes == 0 || x.is_empty() {
        return Err(HarkError::invalid(KERNEL, "empty batch, dim or classes"));
    }
    if !x.len().is_multiple_of(dim) || !centres.len().is_multiple_of(dim) {
        return Err(HarkError::shape(
            KERNEL,
            format!(
                "x ({}) and centres ({}) must be whole rows of dim {dim}",
                x.len(),
                centres.len()
            ),
        ));
    }
    let batch = x.len() / dim;
    let rows = centres.len() / dim;
    if !rows.is_multiple_of(classes) || rows / classes == 0 {
        return Err(HarkError::shape(
            KERNEL,
            format!("{rows} centres are not a whole number of sub-clusters for {classes} classes"),
        ));
    }
    if rows < 2 {
        return Err(HarkError::invalid(KERNEL, "needs at least 2 centres"));
    }
    if labels.len() != batch * classes {
        return Err(HarkError::shape(
            KERNEL,
            format!("labels ({}) must be [{batch}, {classes}]", labels.len()),
        ));
    }
    if let Some(bad) = labels
        .iter()
        .find(|y| y.is_nan() || **y < 0.0 || y.is_infinite())
    {
        return Err(HarkError::invalid(
            KERNEL,
            format!("labels must be finite and non-negative, got {bad}"),
        ));
    }
    if x.iter().chain(centres).any(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            KERNEL,
            "NaN or infinity in x or centres",
        ));
    }
    Ok(Dims {
        batch,
        dim,
        classes,
        sub: rows / classes,
    })
}

fn inv_norm(v: &[f64]) -> f64 {
    1.0 / v.iter().map(|a| a * a).sum::<f64>().max(NORM_EPS).sqrt()
}

/// Entry `cosine`: cosines `[batch, logits]` and inverse norms `[batch + logits]`.
fn cosine(x: &[f64], centres: &[f64], dims: Dims) -> (Vec<f64>, Vec<f64>) {
    let inv: Vec<f64> = x
        .chunks(dims.dim)
        .chain(centres.chunks(dims.dim))
        .map(inv_norm)
        .collect();
    let mut cos = Vec::with_capacity(dims.batch * dims.logits());
    for (i, xi) in x.chunks(dims.dim).enumerate() {
        for (j, wj) in centres.chunks(dims.dim).enumerate() {
            let dot: f64 = xi.iter().zip(wj).map(|(a, b)| a * b).sum();
            cos.push(dot * inv[i] * inv[dims.batch + j]);
        }
    }
    (cos, inv)
}

/// Entry `scale_update`: the new scale from the old one and this batch's cosines.
fn scale_update(cos: &[f64], labels: &[f64], dims: Dims, s: f64) -> f64 {
    let s_max = cos.iter().map(|c| s * c).fold(f64::NEG_INFINITY, f64::max);
    let b_avg = cos.iter().map(|c| (s * c - s_max).exp()).sum::<f64>() / dims.batch as f64;
    let mut theta: Vec<f64> = (0..dims.batch)
        .map(|i| {
            let y = &labels[i * dims.classes..(i + 1) * dims.classes];
            let nonzero = y.iter().filter(|v| **v != 0.0).count() as f64;
            let row = &cos[i * dims.logits()..(i + 1) * dims.logits()];
            let acc: f64 = row
                .iter()
                .enumerate()
                .map(|(j, c)| y[j / dims.sub] * c.clamp(-1.0 + KERAS_EPS, 1.0 - KERAS_EPS).acos())
                .sum();
            acc * nonzero
        })
        .collect();
    theta.sort_by(f64::total_cmp);
    let half_up = dims.batch - 1;
    let mut target = half_up / 2;
    if half_up % 2 == 1 {
        // Round half to even, as tf.round in tfp.stats.percentile's 'nearest'.
        target += target % 2;
    }
    let median = theta[target];
    (s_max + b_avg.ln()) / median.min(std::f64::consts::FRAC_PI_4).cos() + KERAS_EPS
}

/// Log-sum-exp of `s * cos` over one class's sub-clusters.
fn class_lse(row: &[f64], c: usize, sub: usize, s: f64) -> f64 {
    let z = &row[c * sub..(c + 1) * sub];
    let mc = z.iter().map(|v| s * v).fold(f64::NEG_INFINITY, f64::max);
    mc + z.iter().map(|v| (s * v - mc).exp()).sum::<f64>().ln()
}

/// `(lse over all logits, Y = sum_c y_c, sum_c y_c lse_c)` of one row.
fn row_stats(row: &[f64], y: &[f64], dims: Dims, s: f64) -> (f64, f64, f64) {
    let m = row.iter().map(|v| s * v).fold(f64::NEG_INFINITY, f64::max);
    let lse = m + row.iter().map(|v| (s * v - m).exp()).sum::<f64>().ln();
    let total_y = y.iter().sum();
    let weighted = (0..dims.classes)
        .filter(|&c| y[c] != 0.0)
        .map(|c| y[c] * class_lse(row, c, dims.sub, s))
        .sum();
    (lse, total_y, weighted)
}

/// Sub-cluster AdaCos of `x` `[batch, dim]` against `centres` `[classes * sub, dim]` with soft
/// labels `[batch, classes]` at scale `scale`; with `update_scale` the scale is first replaced
/// as in training (the returned `scale` is the one the loss used).
pub fn sc_adacos(
    x: &[f64],
    centres: &[f64],
    labels: &[f64],
    dim: usize,
    classes: usize,
    scale: f64,
    update_scale: bool,
) -> Result<ScAdaCosForward> {
    let dims = check(x, centres, labels, dim, classes)?;
    let (cosines, _) = cosine(x, centres, dims);
    let s = if update_scale {
        scale_update(&cosines, labels, dims, scale)
    } else {
        scale
    };
    let rows: Vec<f64> = cosines
        .chunks(dims.logits())
        .zip(labels.chunks(classes))
        .map(|(row, y)| {
            let (lse, total_y, weighted) = row_stats(row, y, dims, s);
            lse * total_y - weighted
        })
        .collect();
    let loss = super::loss_mean(&rows, 1.0 / dims.batch as f64);
    Ok(ScAdaCosForward {
        cosines,
        scale: s,
        rows,
        loss,
    })
}

/// Gradients of [`sc_adacos`] at a fixed `scale` (no gradient through it), times `upstream`:
/// `(d loss / d x, d loss / d centres)`.
pub fn sc_adacos_backward(
    x: &[f64],
    centres: &[f64],
    labels: &[f64],
    dim: usize,
    classes: usize,
    scale: f64,
    upstream: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let dims = check(x, centres, labels, dim, classes)?;
    let (cos, inv) = cosine(x, centres, dims);
    let (batch, logits) = (dims.batch, dims.logits());
    let s = scale;
    // Entry `logit_grad`: g = d loss / d cos.
    let mut g = vec![0.0; batch * logits];
    for i in 0..batch {
        let row = &cos[i * logits..(i + 1) * logits];
        let y = &labels[i * classes..(i + 1) * classes];
        let (lse, total_y, _) = row_stats(row, y, dims, s);
        for (c, &yc) in y.iter().enumerate() {
            let lse_c = class_lse(row, c, dims.sub, s);
            for k in 0..dims.sub {
                let j = c * dims.sub + k;
                let z = s * row[j];
                let (p, q) = ((z - lse).exp(), (z - lse_c).exp());
                g[i * logits + j] = upstream / batch as f64 * s * (total_y * p - yc * q);
            }
        }
    }
    // Entry `input_grad`.
    let mut grad_x = vec![0.0; batch * dim];
    for i in 0..batch {
        for d in 0..dim {
            let (mut toward, mut along) = (0.0, 0.0);
            for j in 0..logits {
                let gij = g[i * logits + j];
                toward += gij * centres[j * dim + d] * inv[batch + j];
                along += gij * cos[i * logits + j];
            }
            grad_x[i * dim + d] = inv[i] * (toward - along * x[i * dim + d] * inv[i]);
        }
    }
    // Entry `centre_grad`.
    let mut grad_w = vec![0.0; logits * dim];
    for j in 0..logits {
        for d in 0..dim {
            let (mut toward, mut along) = (0.0, 0.0);
            for i in 0..batch {
                let gij = g[i * logits + j];
                toward += gij * x[i * dim + d] * inv[i];
                along += gij * cos[i * logits + j];
            }
            let iw = inv[batch + j];
            grad_w[j * dim + d] = iw * (toward - along * centres[j * dim + d] * iw);
        }
    }
    Ok((grad_x, grad_w))
}
