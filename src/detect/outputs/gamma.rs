//! The gamma distribution the DCASE baselines fit to training anomaly scores: a maximum-likelihood
//! fit (shape by Newton's method on `ln a - ψ(a) = ln(mean) - mean(ln x)`, as scipy's
//! `gamma.fit(x, floc=0)`) and its quantile by bisection on the regularised incomplete gamma.

use crate::error::{HarkError, Result};

fn metric_error(detail: impl Into<String>) -> HarkError {
    HarkError::Metric {
        metric: "gamma fit",
        detail: detail.into(),
    }
}

/// Shifts `x` up to at least 10 with the recurrence, then applies Stirling's series (its error
/// there is below 1e-13).
fn ln_gamma(x: f64) -> f64 {
    let mut shift = 0.0;
    let mut z = x;
    while z < 10.0 {
        shift += z.ln();
        z += 1.0;
    }
    let z2 = z * z;
    let series = 1.0 / (12.0 * z) - 1.0 / (360.0 * z * z2) + 1.0 / (1260.0 * z * z2 * z2)
        - 1.0 / (1680.0 * z * z2 * z2 * z2);
    (z - 0.5) * z.ln() - z + 0.5 * (2.0 * std::f64::consts::PI).ln() + series - shift
}

/// ψ(x), by the recurrence up to 10 and the asymptotic series.
fn digamma(x: f64) -> f64 {
    let mut shift = 0.0;
    let mut z = x;
    while z < 10.0 {
        shift += 1.0 / z;
        z += 1.0;
    }
    let z2 = 1.0 / (z * z);
    z.ln()
        - 0.5 / z
        - z2 * (1.0 / 12.0 - z2 * (1.0 / 120.0 - z2 * (1.0 / 252.0 - z2 / 240.0)))
        - shift
}

/// ψ'(x), by the recurrence up to 10 and the asymptotic series.
fn trigamma(x: f64) -> f64 {
    let mut shift = 0.0;
    let mut z = x;
    while z < 10.0 {
        shift += 1.0 / (z * z);
        z += 1.0;
    }
    let inv = 1.0 / z;
    let inv2 = inv * inv;
    inv + 0.5 * inv2
        + inv * inv2 * (1.0 / 6.0 - inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 / 30.0)))
        + shift
}

/// P(a, x) = γ(a, x) / Γ(a): the series below x < a + 1, the continued fraction for Q above
/// (each converges fast on its side).
pub fn regularized_lower_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let log_prefactor = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        (sum * log_prefactor.exp()).min(1.0)
    } else {
        // Q(a, x) = e^-x x^a / Γ(a) · 1/(x+1-a- 1·(1-a)/(x+3-a- 2·(2-a)/(x+5-a- ...))),
        // evaluated with the modified Lentz method.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut fraction = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let step = d * c;
            fraction *= step;
            if (step - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (1.0 - log_prefactor.exp() * fraction).max(0.0)
    }
}

/// A gamma distribution `loc + Gamma(shape, scale)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaFit {
    pub shape: f64,
    pub scale: f64,
    pub loc: f64,
}

impl GammaFit {
    /// Maximum-likelihood fit with `loc = 0` when every score is positive (scipy's
    /// `gamma.fit(x, floc=0)`). Scores that reach zero or below (log-likelihoods, for example)
    /// are first shifted so the smallest sits at 1/n of the range above zero: the fit needs a
    /// positive support and this keeps the shift small against the spread. All scores equal
    /// gives a point mass (shape infinite) whose quantiles are that score.
    pub fn fit(scores: &[f64]) -> Result<GammaFit> {
        if scores.len() < 2 {
            return Err(metric_error(format!(
                "needs at least 2 training scores, got {}",
                scores.len()
            )));
        }
        if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
            return Err(metric_error(format!("training score {bad} is not finite")));
        }
        let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if min == max {
            return Ok(GammaFit {
                shape: f64::INFINITY,
                scale: 0.0,
                loc: min,
            });
        }
        let loc = if min > 0.0 {
            0.0
        } else {
            min - (max - min) / scores.len() as f64
        };
        let n = scores.len() as f64;
        let mean = scores.iter().map(|s| s - loc).sum::<f64>() / n;
        let mean_log = scores.iter().map(|s| (s - loc).ln()).sum::<f64>() / n;
        // s > 0 by Jensen's inequality when the scores are not all equal.
        let s = mean.ln() - mean_log;
        // Minka's closed-form start, then Newton on f(a) = ln a - ψ(a) - s, which is convex and
        // decreasing, so Newton from below the root converges monotonically.
        let mut shape = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
        for _ in 0..100 {
            let f = shape.ln() - digamma(shape) - s;
            let derivative = 1.0 / shape - trigamma(shape);
            let next = shape - f / derivative;
            let next = if next > 0.0 { next } else { shape * 0.5 };
            let converged = (next - shape).abs() <= 1e-14 * shape;
            shape = next;
            if converged {
                break;
            }
        }
        Ok(GammaFit {
            shape,
            scale: mean / shape,
            loc,
        })
    }

    /// Cumulative distribution at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        if self.shape.is_infinite() {
            return if x >= self.loc { 1.0 } else { 0.0 };
        }
        regularized_lower_gamma(self.shape, (x - self.loc) / self.scale)
    }

    /// The `q` quantile, `q` in (0, 1): bisection on the CDF (slow next to Newton, but it cannot
    /// diverge, and 200 halvings reach the f64 resolution of any bracket).
    pub fn quantile(&self, q: f64) -> Result<f64> {
        if !(q > 0.0 && q < 1.0) {
            return Err(metric_error(format!(
                "quantile level must be in (0, 1), got {q}"
            )));
        }
        if self.shape.is_infinite() {
            return Ok(self.loc);
        }
        let (mut lo, mut hi) = (0.0_f64, self.shape.max(1.0));
        while regularized_lower_gamma(self.shape, hi) < q {
            hi *= 2.0;
            if !hi.is_finite() {
                return Err(metric_error("quantile bracket overflowed"));
            }
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if regularized_lower_gamma(self.shape, mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(self.loc + 0.5 * (lo + hi) * self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions_match_known_values() {
        // Γ(5) = 24, Γ(0.5) = √π, ψ(1) = -γ, ψ'(1) = π²/6.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-12);
        assert!((trigamma(1.0) - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-11);
        // P(1, x) = 1 - e^-x on both sides of the series/fraction switch.
        for x in [0.1, 1.5, 2.5, 10.0] {
            let error = (regularized_lower_gamma(1.0, x) - (1.0 - (-x).exp())).abs();
            assert!(error < 1e-12, "P(1, {x}) off by {error}");
        }
    }
}
