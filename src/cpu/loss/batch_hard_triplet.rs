//! CPU twin of `shaders/loss/batch_hard_triplet.wgsl`: Hermans et al.'s batch-hard triplet loss
//! (REFERENCE-SPECS §5) with Euclidean or cosine distance, and its subgradient.

use crate::error::{HarkError, Result};
use crate::params::loss::TripletMetric;

const KERNEL: &str = "batch_hard_triplet";
const NORM_EPS: f64 = 1e-12;
const DIST_EPS: f64 = 1e-12;
/// Labels are f32 values on the GPU: whole numbers below 2^24 are exact.
const MAX_LABEL: f64 = 16_777_216.0;

/// One anchor's hardest pair: indices (None when the anchor has no positive or no negative),
/// distances and its hinge value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TripletAnchor {
    pub positive: Option<usize>,
    pub negative: Option<usize>,
    pub d_positive: f64,
    pub d_negative: f64,
    pub loss: f64,
}

fn check(embeddings: &[f64], labels: &[f64], dim: usize, margin: f64) -> Result<usize> {
    if dim == 0 || embeddings.is_empty() {
        return Err(HarkError::invalid(KERNEL, "empty batch or dim"));
    }
    if !embeddings.len().is_multiple_of(dim) || embeddings.len() / dim != labels.len() {
        return Err(HarkError::shape(
            KERNEL,
            format!(
                "embeddings ({}) must be [{}, {dim}] for {} labels",
                embeddings.len(),
                labels.len(),
                labels.len()
            ),
        ));
    }
    if let Some(l) = labels
        .iter()
        .find(|l| !(**l >= 0.0 && **l < MAX_LABEL && l.floor() == **l))
    {
        return Err(HarkError::invalid(
            KERNEL,
            format!("label {l} is not a whole number in [0, 2^24)"),
        ));
    }
    if embeddings.iter().any(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            KERNEL,
            "NaN or infinity in the embeddings",
        ));
    }
    if !margin.is_finite() {
        return Err(HarkError::invalid(
            KERNEL,
            format!("margin {margin} is not finite"),
        ));
    }
    Ok(labels.len())
}

fn inv_norm(v: &[f64]) -> f64 {
    1.0 / v.iter().map(|a| a * a).sum::<f64>().max(NORM_EPS).sqrt()
}

fn distance(u: &[f64], v: &[f64], metric: TripletMetric) -> f64 {
    match metric {
        TripletMetric::Euclidean => {
            (u.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() + DIST_EPS).sqrt()
        }
        TripletMetric::Cosine => {
            let dot: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
            1.0 - dot * inv_norm(u) * inv_norm(v)
        }
    }
}

/// Entry `hardest`: every anchor's hardest positive and negative (ties to the lower index).
pub fn batch_hard_triplet_anchors(
    embeddings: &[f64],
    labels: &[f64],
    dim: usize,
    margin: f64,
    metric: TripletMetric,
) -> Result<Vec<TripletAnchor>> {
    let batch = check(embeddings, labels, dim, margin)?;
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    Ok((0..batch)
        .map(|a| {
            let mut pos: Option<(usize, f64)> = None;
            let mut neg: Option<(usize, f64)> = None;
            for b in 0..batch {
                let d = distance(row(a), row(b), metric);
                if labels[b] == labels[a] && b != a {
                    if pos.is_none_or(|(_, best)| d > best) {
                        pos = Some((b, d));
                    }
                } else if labels[b] != labels[a] && neg.is_none_or(|(_, best)| d < best) {
                    neg = Some((b, d));
                }
            }
            match (pos, neg) {
                (Some((p, dp)), Some((n, dn))) => TripletAnchor {
                    positive: Some(p),
                    negative: Some(n),
                    d_positive: dp,
                    d_negative: dn,
                    loss: (margin + dp - dn).max(0.0),
                },
                _ => TripletAnchor {
                    positive: None,
                    negative: None,
                    d_positive: 0.0,
                    d_negative: 0.0,
                    loss: 0.0,
                },
            }
        })
        .collect())
}

/// The loss: the mean hinge over the anchors that have a positive and a negative (0 when none
/// has), with the per-anchor selections.
pub fn batch_hard_triplet(
    embeddings: &[f64],
    labels: &[f64],
    dim: usize,
    margin: f64,
    metric: TripletMetric,
) -> Result<(Vec<TripletAnchor>, f64)> {
    let anchors = batch_hard_triplet_anchors(embeddings, labels, dim, margin, metric)?;
    let valid: Vec<f64> = anchors
        .iter()
        .filter(|r| r.positive.is_some())
        .map(|r| r.loss)
        .collect();
    let loss = if valid.is_empty() {
        0.0
    } else {
        super::loss_mean(&valid, 1.0 / valid.len() as f64)
    };
    Ok((anchors, loss))
}

/// d d(a, b) / d e_a (`toward_a`) or d e_b, element by element.
fn pair_grad(u: &[f64], v: &[f64], dist: f64, metric: TripletMetric, toward_a: bool) -> Vec<f64> {
    match metric {
        TripletMetric::Euclidean => u
            .iter()
            .zip(v)
            .map(|(a, b)| {
                if toward_a {
                    (a - b) / dist
                } else {
                    (b - a) / dist
                }
            })
            .collect(),
        TripletMetric::Cosine => {
            let (ia, ib) = (inv_norm(u), inv_norm(v));
            let cos = 1.0 - dist;
            u.iter()
                .zip(v)
                .map(|(a, b)| {
                    if toward_a {
                        (cos * a * ia - b * ib) * ia
                    } else {
                        (cos * b * ib - a * ia) * ib
                    }
                })
                .collect()
        }
    }
}

/// Subgradient of [`batch_hard_triplet`] with respect to the embeddings, times `upstream`,
/// through each active anchor's selected pair (an inactive hinge contributes 0).
pub fn batch_hard_triplet_backward(
    embeddings: &[f64],
    labels: &[f64],
    dim: usize,
    margin: f64,
    metric: TripletMetric,
    upstream: f64,
) -> Result<Vec<f64>> {
    let anchors = batch_hard_triplet_anchors(embeddings, labels, dim, margin, metric)?;
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    let mut grad = vec![0.0; embeddings.len()];
    let valid = anchors.iter().filter(|r| r.positive.is_some()).count();
    for (a, r) in anchors.iter().enumerate() {
        let (Some(p), Some(n)) = (r.positive, r.negative) else {
            continue;
        };
        if r.loss <= 0.0 {
            continue;
        }
        let scale = upstream / valid as f64;
        for (other, sign, dist) in [(p, 1.0, r.d_positive), (n, -1.0, r.d_negative)] {
            let ga = pair_grad(row(a), row(other), dist, metric, true);
            let gb = pair_grad(row(a), row(other), dist, metric, false);
            for d in 0..dim {
                grad[a * dim + d] += scale * sign * ga[d];
                grad[other * dim + d] += scale * sign * gb[d];
            }
        }
    }
    Ok(grad)
}
