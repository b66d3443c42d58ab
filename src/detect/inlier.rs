//! Inlier models on embeddings (paper 004 §2, §4.2): a GMM scored by negative log-likelihood
//! ([`crate::detect::gmm`]) or kNN with the Mahalanobis distance ([`MahalanobisIndex`]), with
//! components / neighbours in {1, 2, 4, 16, 32}, fitted per section on the training embeddings:
//! the source domain only, both domains, or both plus pseudo-target embeddings made by mixup of
//! source and target embeddings (004 §3.1).

use crate::audio::dataset::Domain;
use crate::context::Context;
use crate::detect::gmm::{GaussianMixture, GmmOptions};
use crate::error::{HarkError, Result};
use crate::knn::{IndexOptions, MahalanobisIndex};
use crate::rng::SeededRng;

/// The hyper-parameter values of 004.
pub const INLIER_SIZES: [usize; 5] = [1, 2, 4, 16, 32];

/// Which inlier model, with its size (GMM components or kNN neighbours).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InlierKind {
    Gmm { components: usize },
    Knn { k: usize },
}

/// Which training embeddings the inlier model sees (a hyper-parameter in 004).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InlierData {
    SourceOnly,
    #[default]
    BothDomains,
    /// Both domains plus as many source-target mixup rows as there are source rows.
    PseudoTarget,
}

/// Inlier-model settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InlierOptions {
    pub kind: InlierKind,
    pub data: InlierData,
    /// GMM `reg_covar`; for kNN, the covariance ridge as a fraction of the mean variance.
    pub regularisation: f64,
    pub seed: u64,
}

impl Default for InlierOptions {
    fn default() -> Self {
        Self {
            kind: InlierKind::Gmm { components: 1 },
            data: InlierData::BothDomains,
            regularisation: 1e-3,
            seed: 0,
        }
    }
}

/// Embeddings of one section's training segments, each row with its domain and the clip it
/// came from.
#[derive(Clone, Debug, Default)]
pub struct EmbeddingSet {
    pub dim: usize,
    /// `[rows, dim]`.
    pub rows: Vec<f32>,
    pub domains: Vec<Domain>,
    pub clips: Vec<usize>,
}

impl EmbeddingSet {
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }
}

/// `count` rows `lambda s + (1 - lambda) t`, `s` a random row of `source`, `t` of `target`
/// (`[rows, dim]` each), `lambda ~ U(0, 1)`, seeded. Each row also names its two parents.
pub fn pseudo_target_mixup(
    source: &[&[f32]],
    target: &[&[f32]],
    count: usize,
    seed: u64,
) -> Result<Vec<(Vec<f32>, usize, usize)>> {
    if source.is_empty() || target.is_empty() {
        return Err(HarkError::invalid(
            "pseudo-target mixup",
            "needs source and target embeddings",
        ));
    }
    let mut rng = SeededRng::new(seed);
    Ok((0..count)
        .map(|_| {
            let i = (rng.next_u64() % source.len() as u64) as usize;
            let j = (rng.next_u64() % target.len() as u64) as usize;
            let lambda = rng.uniform(0.0, 1.0);
            let row = source[i]
                .iter()
                .zip(target[j])
                .map(|(s, t)| lambda * s + (1.0 - lambda) * t)
                .collect();
            (row, i, j)
        })
        .collect())
}

/// A fitted inlier model.
pub enum InlierModel {
    Gmm(GaussianMixture),
    Knn {
        ctx: Context,
        index: MahalanobisIndex,
        k: usize,
        /// The clips each database row came from (two for a mixup row).
        owners: Vec<[usize; 2]>,
    },
}

impl InlierModel {
    /// Fits the model to `set` as `options` say. The GMM's components and kNN's k are capped at
    /// the number of training rows.
    pub fn fit(ctx: &Context, set: &EmbeddingSet, options: &InlierOptions) -> Result<Self> {
        let dim = set.dim;
        if dim == 0 || set.rows.len() != set.len() * dim || set.clips.len() != set.len() {
            return Err(HarkError::shape(
                "inlier model",
                format!(
                    "{} values, {} domains and {} clip indices for rows of {dim}",
                    set.rows.len(),
                    set.len(),
                    set.clips.len()
                ),
            ));
        }
        let mut rows: Vec<f32> = Vec::new();
        let mut owners: Vec<[usize; 2]> = Vec::new();
        for i in 0..set.len() {
            if options.data == InlierData::SourceOnly && set.domains[i] != Domain::Source {
                continue;
            }
            rows.extend_from_slice(set.row(i));
            owners.push([set.clips[i], set.clips[i]]);
        }
        if options.data == InlierData::PseudoTarget {
            let pick = |d: Domain| -> Vec<usize> {
                (0..set.len()).filter(|&i| set.domains[i] == d).collect()
            };
            let (source, target) = (pick(Domain::Source), pick(Domain::Target));
            let s: Vec<&[f32]> = source.iter().map(|&i| set.row(i)).collect();
            let t: Vec<&[f32]> = target.iter().map(|&i| set.row(i)).collect();
            // A section without target clips has nothing to mix with: both domains only.
            if !s.is_empty() && !t.is_empty() {
                for (row, i, j) in pseudo_target_mixup(&s, &t, s.len(), options.seed)? {
                    rows.extend(row);
                    owners.push([set.clips[source[i]], set.clips[target[j]]]);
                }
            }
        }
        let n = owners.len();
        if n < 2 {
            return Err(HarkError::invalid(
                "inlier model",
                format!("{n} training embeddings; need at least 2"),
            ));
        }
        match options.kind {
            InlierKind::Gmm { components } => {
                let data: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
                let gmm = GaussianMixture::fit(
                    &data,
                    dim,
                    &GmmOptions {
                        components: components.clamp(1, n),
                        reg_covar: options.regularisation,
                        seed: options.seed,
                        ..Default::default()
                    },
                )?;
                Ok(Self::Gmm(gmm))
            }
            InlierKind::Knn { k } => {
                let index = MahalanobisIndex::from_slice(
                    ctx,
                    &rows,
                    dim,
                    options.regularisation,
                    IndexOptions::default(),
                )?;
                Ok(Self::Knn {
                    ctx: ctx.clone(),
                    index,
                    k: k.clamp(1, n),
                    owners,
                })
            }
        }
    }

    /// Scores of `queries` (`[rows, dim]`, rows of one clip), higher = more anomalous: the GMM's
    /// negative log-likelihood, or the mean Mahalanobis distance to the `k` nearest training
    /// rows. `own_clip` names the training clip the queries came from, if any: kNN then skips
    /// the database rows made from that clip, so that training scores (for the decision
    /// threshold) are not all zero.
    pub fn score(&self, queries: &[f32], own_clip: Option<usize>) -> Result<Vec<f64>> {
        match self {
            Self::Gmm(gmm) => {
                let data: Vec<f64> = queries.iter().map(|&v| f64::from(v)).collect();
                gmm.negative_log_likelihood(&data)
            }
            Self::Knn {
                ctx,
                index,
                k,
                owners,
            } => {
                let excluded = own_clip
                    .map(|c| owners.iter().filter(|o| o.contains(&c)).count())
                    .unwrap_or(0);
                let limit = crate::kernels::knn::max_k(ctx.limits());
                let wanted = (*k + excluded).min(index.len()).min(limit);
                let (indices, distances) = index.search(queries, wanted)?;
                let mut scores = Vec::with_capacity(indices.len() / wanted.max(1));
                for (idx, dist) in indices.chunks(wanted).zip(distances.chunks(wanted)) {
                    let kept: Vec<f64> = idx
                        .iter()
                        .zip(dist)
                        .filter(|(&i, _)| own_clip.is_none_or(|c| !owners[i as usize].contains(&c)))
                        .take(*k)
                        .map(|(_, &d)| f64::from(d.max(0.0)).sqrt())
                        .collect();
                    if kept.is_empty() {
                        return Err(HarkError::invalid(
                            "inlier model",
                            "every neighbour came from the query's own clip",
                        ));
                    }
                    scores.push(kept.iter().sum::<f64>() / kept.len() as f64);
                }
                Ok(scores)
            }
        }
    }
}
