//! One section's stats-knn model: a [`ViewMemory`] per view, fitted on the section's training
//! embeddings; a clip's score is the mean over views of its scaled k-NN distance.

use crate::audio::dataset::Domain;
use crate::error::{HarkError, Result};

use super::extract::ClipEmbedding;
use super::memory::{DomainMemory, KnnRule, Metric, SearchDevice, Standardizer, ViewMemory};

/// How the training clips of a section are split into memories.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DomainMemories {
    /// A source memory and a target memory, each scaled by its own neighbour distances; a query
    /// scores the smaller of its two scaled distances (the DCASE 2023-2025 kNN back ends' rule).
    #[default]
    Separate,
    /// One memory of all training clips.
    Pooled,
}

impl DomainMemories {
    pub fn name(self) -> &'static str {
        match self {
            DomainMemories::Separate => "separate",
            DomainMemories::Pooled => "pooled",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "separate" => Ok(DomainMemories::Separate),
            "pooled" => Ok(DomainMemories::Pooled),
            _ => Err(HarkError::invalid(
                "stats-knn",
                format!("unknown domain memories '{name}' (expected separate or pooled)"),
            )),
        }
    }
}

/// How each view is standardised on the section's training clips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Standardization {
    /// Every column to zero mean and unit deviation.
    Columns,
    /// Columns centred, the whole view divided by one value (the mean column deviation).
    View,
    /// Raw statistics (the default: on the few-shot tuning set, per-column standardisation cost
    /// 6 points, see BENCHMARKS.md).
    #[default]
    None,
}

impl Standardization {
    pub fn name(self) -> &'static str {
        match self {
            Standardization::Columns => "columns",
            Standardization::View => "view",
            Standardization::None => "none",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "columns" => Ok(Standardization::Columns),
            "view" => Ok(Standardization::View),
            "none" => Ok(Standardization::None),
            _ => Err(HarkError::invalid(
                "stats-knn",
                format!("unknown standardisation '{name}' (expected columns, view or none)"),
            )),
        }
    }
}

/// The back end's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackEnd {
    /// How each view is standardised on the section's training clips before the search.
    pub standardize: Standardization,
    pub domains: DomainMemories,
    pub rule: KnnRule,
}

impl Default for BackEnd {
    fn default() -> Self {
        Self {
            standardize: Standardization::default(),
            domains: DomainMemories::Separate,
            rule: KnnRule {
                k: 1,
                metric: Metric::Cosine,
            },
        }
    }
}

/// A training clip as the memories see it.
pub struct TrainingClip<'a> {
    pub name: &'a str,
    /// `None` (names without a domain) counts as source.
    pub domain: Option<Domain>,
    pub embedding: &'a ClipEmbedding,
}

/// The per-view memories of one section.
pub struct SectionModel {
    pub views: Vec<ViewMemory>,
}

/// Row-major rows of view `v` of `clips`.
fn view_rows<'a>(clips: impl Iterator<Item = &'a ClipEmbedding>, v: usize) -> Vec<f32> {
    clips.flat_map(|e| e[v].iter().copied()).collect()
}

impl SectionModel {
    /// Fits the memories of every view on `clips` (at least one; every embedding with the views
    /// of `dims`, in order).
    pub fn fit(
        device: &SearchDevice,
        back_end: BackEnd,
        dims: &[usize],
        clips: &[TrainingClip],
    ) -> Result<Self> {
        if clips.is_empty() {
            return Err(HarkError::invalid(
                "stats-knn",
                "a section has no training clips",
            ));
        }
        if back_end.rule.k == 0 {
            return Err(HarkError::invalid("stats-knn", "k must be at least 1"));
        }
        for clip in clips {
            let ok = clip.embedding.len() == dims.len()
                && clip.embedding.iter().zip(dims).all(|(e, &d)| e.len() == d);
            if !ok {
                return Err(HarkError::shape(
                    "stats-knn",
                    format!(
                        "clip {} does not have the views of dims {dims:?}",
                        clip.name
                    ),
                ));
            }
        }
        let groups: Vec<Vec<&TrainingClip>> = match back_end.domains {
            DomainMemories::Pooled => vec![clips.iter().collect()],
            DomainMemories::Separate => {
                let is_target = |c: &&TrainingClip| c.domain == Some(Domain::Target);
                let target: Vec<&TrainingClip> = clips.iter().filter(is_target).collect();
                let source: Vec<&TrainingClip> = clips.iter().filter(|c| !is_target(c)).collect();
                [source, target]
                    .into_iter()
                    .filter(|g| !g.is_empty())
                    .collect()
            }
        };
        let rule = back_end.rule;
        let mut views = Vec::with_capacity(dims.len());
        for (v, &dim) in dims.iter().enumerate() {
            let all_rows = view_rows(clips.iter().map(|c| c.embedding), v);
            let standardizer = match back_end.standardize {
                Standardization::Columns => Some(Standardizer::fit(&all_rows, dim)?),
                Standardization::View => Some(Standardizer::fit_view(&all_rows, dim)?),
                Standardization::None => None,
            };
            let standardise = |rows: Vec<f32>| match &standardizer {
                Some(s) => s.apply(&rows),
                None => rows,
            };
            let names = |group: &[&TrainingClip]| -> Vec<String> {
                group.iter().map(|c| c.name.to_string()).collect()
            };
            // A memory with k rows or fewer has no leave-one-out scale of its own: it borrows the
            // scale of all the section's clips pooled.
            let pooled_scale = if groups.iter().any(|g| g.len() <= rule.k) {
                let all: Vec<&TrainingClip> = clips.iter().collect();
                let pooled = DomainMemory::new(
                    device,
                    standardise(all_rows.clone()),
                    names(&all),
                    dim,
                    None,
                    rule,
                )?;
                Some(pooled.scale)
            } else {
                None
            };
            let memories = groups
                .iter()
                .map(|group| {
                    let rows = standardise(view_rows(group.iter().map(|c| c.embedding), v));
                    let scale = if group.len() <= rule.k {
                        pooled_scale
                    } else {
                        None
                    };
                    DomainMemory::new(device, rows, names(group), dim, scale, rule)
                })
                .collect::<Result<Vec<_>>>()?;
            views.push(ViewMemory {
                dim,
                standardizer,
                memories,
                rule,
            });
        }
        Ok(Self { views })
    }

    /// Scores of clips (`names` and their embeddings): the mean over views of the view scores.
    pub fn score(&self, names: &[String], embeddings: &[&ClipEmbedding]) -> Result<Vec<f64>> {
        let mut total = vec![0.0f64; names.len()];
        for (v, view) in self.views.iter().enumerate() {
            let mut queries = Vec::with_capacity(names.len() * view.dim);
            for (name, e) in names.iter().zip(embeddings) {
                let row = e.get(v).filter(|r| r.len() == view.dim).ok_or_else(|| {
                    HarkError::shape(
                        "stats-knn",
                        format!("clip {name}: view {v} is not a vector of {}", view.dim),
                    )
                })?;
                queries.extend_from_slice(row);
            }
            for (t, s) in total.iter_mut().zip(view.score(&queries, names)?) {
                *t += s;
            }
        }
        let views = self.views.len().max(1) as f64;
        Ok(total.into_iter().map(|t| t / views).collect())
    }
}
