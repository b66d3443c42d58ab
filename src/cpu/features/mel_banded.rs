//! CPU twin of `shaders/features/mel_banded.wgsl`: the mel filterbank as runs of non-zero
//! weights, summed in the shader's order (one fused multiply-add per bin of the run).

use crate::params::features::LogKind;

/// A filterbank `[n_mels, bins]` as one run of consecutive bins per filter: `runs[m] = (first
/// bin, length, offset of its first weight in weights, 0)`. A run spans from the filter's first
/// to its last non-zero weight (zeros inside are kept); an all-zero filter has length 0.
#[derive(Clone, Debug, PartialEq)]
pub struct MelRuns {
    pub bins: usize,
    pub runs: Vec<[u32; 4]>,
    pub weights: Vec<f32>,
}

impl MelRuns {
    /// The runs of the dense filters `[n_mels, bins]` (row-major).
    pub fn from_dense(filters: &[f32], bins: usize) -> Self {
        let mut runs = Vec::new();
        let mut weights = Vec::new();
        for row in filters.chunks(bins.max(1)) {
            let first = row.iter().position(|&w| w != 0.0);
            let last = row.iter().rposition(|&w| w != 0.0);
            match (first, last) {
                (Some(first), Some(last)) => {
                    runs.push([
                        first as u32,
                        (last - first + 1) as u32,
                        weights.len() as u32,
                        0,
                    ]);
                    weights.extend_from_slice(&row[first..=last]);
                }
                _ => runs.push([0, 0, weights.len() as u32, 0]),
            }
        }
        Self {
            bins,
            runs,
            weights,
        }
    }

    /// The longest run (the loop length of one invocation).
    pub fn longest(&self) -> usize {
        self.runs.iter().map(|r| r[1] as usize).max().unwrap_or(0)
    }

    /// `out[r, m] = log?(sum over the run of power[r, bin] * weight)`, `power` `[rows, bins]`.
    pub fn apply(&self, power: &[f32], log: Option<LogKind>) -> Vec<f32> {
        let mut out = Vec::with_capacity(power.len() / self.bins.max(1) * self.runs.len());
        for row in power.chunks(self.bins.max(1)) {
            for &[first, len, offset, _] in &self.runs {
                let (first, len, offset) = (first as usize, len as usize, offset as usize);
                let acc = row[first..first + len]
                    .iter()
                    .zip(&self.weights[offset..offset + len])
                    .fold(0.0f32, |acc, (&p, &w)| p.mul_add(w, acc));
                out.push(match log {
                    None => acc,
                    Some(LogKind::Decibel { eps }) => 10.0 * acc.max(eps).log10(),
                    Some(LogKind::Natural { eps }) => acc.max(eps).ln(),
                });
            }
        }
        out
    }
}
