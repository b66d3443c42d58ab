//! DCASE task-2 metrics as the official evaluators compute them: ROC AUC, partial AUC at a maximum
//! false-positive rate with scikit-learn's McClish standardisation (`roc_auc_score(y, s,
//! max_fpr=p)`), per-domain AUCs of a section, and the official harmonic-mean score.

use crate::error::{HarkError, Result};

/// The DCASE 2022-2024 partial-AUC limit.
pub const PAUC_MAX_FPR: f64 = 0.1;

/// Floor for values entering the harmonic mean, so that one zero does not make it undefined
/// (the evaluators floor with machine epsilon).
pub const HARMONIC_MEAN_EPS: f64 = f64::EPSILON;

/// ROC curve points at the distinct score thresholds, highest threshold first, starting at
/// (0, 0): the points scikit-learn's `roc_curve(drop_intermediate=False)` gives. Tied scores
/// move both rates in one step, which is how ties count half in the area.
#[derive(Clone, Debug, PartialEq)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
}

fn check_inputs(metric: &'static str, is_anomaly: &[bool], scores: &[f64]) -> Result<(f64, f64)> {
    if is_anomaly.len() != scores.len() {
        return Err(HarkError::Metric {
            metric,
            detail: format!("{} labels but {} scores", is_anomaly.len(), scores.len()),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(HarkError::Metric {
            metric,
            detail: format!("score {i} is {} (scores must be finite)", scores[i]),
        });
    }
    let positives = is_anomaly.iter().filter(|&&a| a).count();
    let negatives = is_anomaly.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(HarkError::Metric {
            metric,
            detail: format!(
                "needs both normal and anomalous clips, got {negatives} normal and {positives} anomalous"
            ),
        });
    }
    Ok((positives as f64, negatives as f64))
}

/// The ROC curve of `scores` (higher = more anomalous) against `is_anomaly`.
pub fn roc_curve(is_anomaly: &[bool], scores: &[f64]) -> Result<RocCurve> {
    let (positives, negatives) = check_inputs("ROC curve", is_anomaly, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
    };
    let (mut true_positives, mut false_positives) = (0usize, 0usize);
    for (rank, &i) in order.iter().enumerate() {
        if is_anomaly[i] {
            true_positives += 1;
        } else {
            false_positives += 1;
        }
        // One point per distinct threshold: only after the last clip of a run of equal scores.
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            curve.fpr.push(false_positives as f64 / negatives);
            curve.tpr.push(true_positives as f64 / positives);
        }
    }
    Ok(curve)
}

/// Trapezoidal area under (x, y) points with non-decreasing x.
fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) * 0.5)
        .sum()
}

/// ROC AUC, equal to scikit-learn's `roc_auc_score(y, s)`.
pub fn auc(is_anomaly: &[bool], scores: &[f64]) -> Result<f64> {
    let curve = roc_curve(is_anomaly, scores)?;
    Ok(trapezoid(&curve.fpr, &curve.tpr))
}

/// Partial AUC up to false-positive rate `max_fpr`, McClish-standardised, equal to
/// scikit-learn's `roc_auc_score(y, s, max_fpr=max_fpr)`: the curve is cut at `max_fpr` with
/// linear interpolation between the two points around it, the area `A` is mapped by
/// `0.5 * (1 + (A - p²/2) / (p - p²/2))` so that chance gives 0.5 and perfect ranking 1.
pub fn pauc(is_anomaly: &[bool], scores: &[f64], max_fpr: f64) -> Result<f64> {
    if !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return Err(HarkError::Metric {
            metric: "pAUC",
            detail: format!("max_fpr must be in (0, 1], got {max_fpr}"),
        });
    }
    let curve = roc_curve(is_anomaly, scores)?;
    if max_fpr == 1.0 {
        return Ok(trapezoid(&curve.fpr, &curve.tpr));
    }
    // First point with fpr > max_fpr (numpy's searchsorted(side='right')); it exists because the
    // curve ends at fpr = 1 > max_fpr, and it is not the first point because that has fpr = 0.
    let stop = curve.fpr.partition_point(|&f| f <= max_fpr);
    let (x0, x1) = (curve.fpr[stop - 1], curve.fpr[stop]);
    let (y0, y1) = (curve.tpr[stop - 1], curve.tpr[stop]);
    let y_at_max = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0);
    let mut fpr = curve.fpr[..stop].to_vec();
    let mut tpr = curve.tpr[..stop].to_vec();
    fpr.push(max_fpr);
    tpr.push(y_at_max);
    let partial_area = trapezoid(&fpr, &tpr);
    let min_area = 0.5 * max_fpr * max_fpr;
    let max_area = max_fpr;
    Ok(0.5 * (1.0 + (partial_area - min_area) / (max_area - min_area)))
}

/// Harmonic mean with every value floored at [`HARMONIC_MEAN_EPS`].
pub fn harmonic_mean(values: &[f64]) -> Result<f64> {
    if values.is_empty() {
        return Err(HarkError::Metric {
            metric: "harmonic mean",
            detail: "no values".to_string(),
        });
    }
    let reciprocal_sum: f64 = values.iter().map(|&v| 1.0 / v.max(HARMONIC_MEAN_EPS)).sum();
    Ok(values.len() as f64 / reciprocal_sum)
}

/// One scored test clip of a section.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredClip {
    /// `None` for the 2020 layout, which has no domains.
    pub domain: Option<crate::audio::dataset::Domain>,
    pub is_anomaly: bool,
    pub score: f64,
}

/// AUC of one domain: that domain's normal clips against all anomalous clips of the section.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainMetrics {
    pub domain: Option<crate::audio::dataset::Domain>,
    pub auc: f64,
    /// pAUC of the same clip subset (reported for reference; the official pAUC is per section).
    pub pauc: f64,
}

/// The metrics of one section: one [`DomainMetrics`] per domain present, and the pAUC over every
/// clip of the section.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionMetrics {
    pub machine: String,
    pub section: u32,
    pub domains: Vec<DomainMetrics>,
    pub pauc: f64,
}

impl SectionMetrics {
    /// Computes the section's metrics as the DCASE 2022-2024 evaluators do.
    pub fn compute(machine: &str, section: u32, clips: &[ScoredClip]) -> Result<SectionMetrics> {
        let mut domains: Vec<Option<crate::audio::dataset::Domain>> = clips
            .iter()
            .filter(|c| !c.is_anomaly)
            .map(|c| c.domain)
            .collect();
        domains.sort();
        domains.dedup();
        let mut per_domain = Vec::new();
        for domain in domains {
            let subset: Vec<&ScoredClip> = clips
                .iter()
                .filter(|c| c.is_anomaly || c.domain == domain)
                .collect();
            let labels: Vec<bool> = subset.iter().map(|c| c.is_anomaly).collect();
            let scores: Vec<f64> = subset.iter().map(|c| c.score).collect();
            per_domain.push(DomainMetrics {
                domain,
                auc: auc(&labels, &scores)?,
                pauc: pauc(&labels, &scores, PAUC_MAX_FPR)?,
            });
        }
        let labels: Vec<bool> = clips.iter().map(|c| c.is_anomaly).collect();
        let scores: Vec<f64> = clips.iter().map(|c| c.score).collect();
        Ok(SectionMetrics {
            machine: machine.to_string(),
            section,
            domains: per_domain,
            pauc: pauc(&labels, &scores, PAUC_MAX_FPR)?,
        })
    }

    /// The values that enter the official score: every domain's AUC and the section pAUC.
    pub fn official_values(&self) -> Vec<f64> {
        let mut values: Vec<f64> = self.domains.iter().map(|d| d.auc).collect();
        values.push(self.pauc);
        values
    }
}

/// The official score: one harmonic mean over every AUC (per domain) and pAUC of every machine
/// type and section.
pub fn official_score(sections: &[SectionMetrics]) -> Result<f64> {
    let values: Vec<f64> = sections.iter().flat_map(|s| s.official_values()).collect();
    harmonic_mean(&values)
}
