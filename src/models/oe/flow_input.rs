//! Per-channel standardisation of the OE embeddings in front of OE-Flow's flow:
//! `y = (x - mean) / std` with statistics of the normal training embeddings.
//!
//! Why: a coupling flow starts near the identity, so an untrained or briefly trained flow's NLL
//! is about `0.5 ||x||^2`, the distance from the origin, not from the data. The OE embeddings
//! are far from centred (norms 7-9 where the spread is ~1), and with few training steps the flow
//! never learns the offset: it then scores rows by their norm, and anomalies whose embeddings
//! are shorter than the normal ones get the higher likelihood (OE-Flow inverted bearing section
//! 01 of the synthetic study this way, AUC 0.05 where a Gaussian gets 0.74). FastFlow normalises
//! its features before the flow for the same reason, and hark's `flow` system standardises its
//! vectors with training statistics.
//!
//! During joint training the statistics are running moments of each batch's clean rows (read
//! back after the step, so a step uses the statistics of the steps before it; the first ones
//! once [`MIN_FIRST_ROWS`] clean rows have been seen, and the flow sits out until then); after
//! training the
//! system refits them exactly on the eval-mode embeddings of all normal training segments. The
//! statistics are constants to the gradient (`dx = dy / std`) and the transform's log-det,
//! `-sum log std`, is the same for every row.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::{add, mul};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Smallest standard deviation used (a channel that never varies is shifted, not blown up).
pub const MIN_STD: f64 = 1e-3;

/// Weight of the newest batch in the running moments.
pub const MOMENTUM: f64 = 0.1;

/// Clean rows pooled (over as many batches as it takes) before the first statistics are set:
/// a batch of one or two clean rows would give near-zero standard deviations, and the flow's
/// input (and its gradient into the backbone) a thousandfold scale.
pub const MIN_FIRST_ROWS: usize = 8;

/// The standardisation in front of the flow.
pub struct InputStandardizer {
    /// `-mean`, `[D]`.
    shift: Tensor,
    /// `1 / std`, `[D]`.
    inv_std: Tensor,
    /// Running first and second moments (host side), `None` until [`MIN_FIRST_ROWS`] clean
    /// rows have been seen.
    moments: Option<(Vec<f64>, Vec<f64>)>,
    /// Sums, squares and count of the clean rows seen before the first statistics.
    pending: (Vec<f64>, Vec<f64>, usize),
    /// The `1 / std` values on the device, as uploaded (the log-det is computed from them, so
    /// that a reloaded standardiser gives bit-identical NLLs).
    uploaded_inv_std: Vec<f32>,
    /// Scratch for the shifted rows.
    centred: Option<Tensor>,
    dim: usize,
}

/// Per-channel sums and sums of squares of the rows of `values` (`[rows, dim]`) picked by
/// `keep`, and their count.
fn sums_of(
    values: &[f32],
    dim: usize,
    keep: impl Fn(usize) -> bool,
) -> (Vec<f64>, Vec<f64>, usize) {
    let mut sum = vec![0.0f64; dim];
    let mut square = vec![0.0f64; dim];
    let mut count = 0usize;
    for (r, row) in values.chunks_exact(dim).enumerate() {
        if !keep(r) {
            continue;
        }
        count += 1;
        for ((s, q), &v) in sum.iter_mut().zip(square.iter_mut()).zip(row) {
            let v = f64::from(v);
            *s += v;
            *q += v * v;
        }
    }
    (sum, square, count)
}

/// Mean and mean square from sums over `count` rows.
fn averages(sum: &[f64], square: &[f64], count: usize) -> (Vec<f64>, Vec<f64>) {
    let n = count.max(1) as f64;
    (
        sum.iter().map(|s| s / n).collect(),
        square.iter().map(|q| q / n).collect(),
    )
}

impl InputStandardizer {
    /// The identity on `dim` channels until statistics arrive.
    pub fn new(ctx: &Context, dim: usize) -> Result<Self> {
        Ok(Self {
            shift: Tensor::from_slice(ctx, &[dim], &vec![0.0; dim])?,
            inv_std: Tensor::from_slice(ctx, &[dim], &vec![1.0; dim])?,
            moments: None,
            pending: (vec![0.0; dim], vec![0.0; dim], 0),
            uploaded_inv_std: vec![1.0; dim],
            centred: None,
            dim,
        })
    }

    /// Whether statistics have been set (by a batch, a fit or a checkpoint).
    pub fn is_fitted(&self) -> bool {
        self.moments.is_some()
    }

    /// Channel means and standard deviations (floored at [`MIN_STD`]).
    pub fn mean_std(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let (mean, square) = self.moments.as_ref()?;
        let std = mean
            .iter()
            .zip(square)
            .map(|(m, q)| (q - m * m).max(0.0).sqrt().max(MIN_STD))
            .collect();
        Some((mean.clone(), std))
    }

    /// Folds the clean rows of a batch (`[rows, dim]` values) into the running moments and
    /// uploads the new statistics. The first statistics are those of the first
    /// [`MIN_FIRST_ROWS`] clean rows (pooled over batches); later batches are blended in with
    /// weight [`MOMENTUM`].
    pub fn update(&mut self, ctx: &Context, values: &[f32], clean: &[bool]) -> Result<()> {
        self.check(values)?;
        let (sum, square, count) =
            sums_of(values, self.dim, |r| clean.get(r).copied().unwrap_or(false));
        if count == 0 {
            return Ok(());
        }
        self.moments = Some(match self.moments.take() {
            None => {
                let (pending_sum, pending_square, pending_count) = &mut self.pending;
                for (p, s) in pending_sum.iter_mut().zip(&sum) {
                    *p += s;
                }
                for (p, q) in pending_square.iter_mut().zip(&square) {
                    *p += q;
                }
                *pending_count += count;
                if *pending_count < MIN_FIRST_ROWS {
                    return Ok(());
                }
                averages(pending_sum, pending_square, *pending_count)
            }
            Some((old_mean, old_square)) => {
                let (mean, square) = averages(&sum, &square, count);
                let blend = |old: Vec<f64>, new: Vec<f64>| -> Vec<f64> {
                    old.iter()
                        .zip(&new)
                        .map(|(o, n)| (1.0 - MOMENTUM) * o + MOMENTUM * n)
                        .collect()
                };
                (blend(old_mean, mean), blend(old_square, square))
            }
        });
        self.upload(ctx)
    }

    /// Sets the statistics to those of all rows of `values` (`[rows, dim]`); on an error the
    /// standardiser is left as it was.
    pub fn fit(&mut self, ctx: &Context, values: &[f32]) -> Result<()> {
        self.check(values)?;
        let (sum, square, count) = sums_of(values, self.dim, |_| true);
        if count == 0 {
            return Err(HarkError::invalid(
                "oe-flow",
                "no embeddings to standardise the flow's input with",
            ));
        }
        self.moments = Some(averages(&sum, &square, count));
        self.upload(ctx)
    }

    fn check(&self, values: &[f32]) -> Result<()> {
        if !values.len().is_multiple_of(self.dim) {
            return Err(HarkError::shape(
                "oe-flow input",
                format!("{} values in rows of {}", values.len(), self.dim),
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(HarkError::invalid(
                "oe-flow input",
                "non-finite embedding (the feature extractor diverged)",
            ));
        }
        Ok(())
    }

    fn upload(&mut self, ctx: &Context) -> Result<()> {
        let Some((mean, std)) = self.mean_std() else {
            return Ok(());
        };
        let shift: Vec<f32> = mean.iter().map(|&m| -m as f32).collect();
        let inv: Vec<f32> = std.iter().map(|&s| (1.0 / s) as f32).collect();
        self.shift.write(ctx, &shift)?;
        self.inv_std.write(ctx, &inv)?;
        self.uploaded_inv_std = inv;
        Ok(())
    }

    /// `log|det dy/dx|` of the standardisation as the device applies it, the same for every
    /// row: `sum log (1 / std)` (0 before statistics).
    pub fn log_det(&self) -> f64 {
        self.uploaded_inv_std
            .iter()
            .map(|&i| f64::from(i).ln())
            .sum()
    }

    /// Records `out = (x - mean) / std` for `x` `[N, dim]`.
    pub fn forward(&mut self, rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
        let centred = crate::nn::reuse(rec.context(), &mut self.centred, x.shape())?;
        add(rec, x, &self.shift, &centred)?;
        mul(rec, &centred, &self.inv_std, out)
    }

    /// Records `grad_x = grad_y / std` (the statistics are constants).
    pub fn backward(&self, rec: &mut Recorder, grad_y: &Tensor, grad_x: &Tensor) -> Result<()> {
        mul(rec, grad_y, &self.inv_std, grad_x)
    }

    /// The statistics as checkpoint entries (`-mean`, `1 / std`).
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        vec![
            ("input_norm.shift".to_string(), &self.shift),
            ("input_norm.inv_std".to_string(), &self.inv_std),
        ]
    }

    /// Rebuilds the host-side statistics after a checkpoint load wrote the tensors.
    pub fn refresh_from_tensors(&mut self, ctx: &Context) -> Result<()> {
        let shift = self.shift.to_vec(ctx)?;
        let inv = self.inv_std.to_vec(ctx)?;
        if inv.iter().any(|&v| !(v.is_finite() && v > 0.0)) || shift.iter().any(|v| !v.is_finite())
        {
            return Err(HarkError::invalid(
                "oe-flow",
                "the checkpoint's input standardisation is not finite or has a non-positive scale",
            ));
        }
        let mean: Vec<f64> = shift.iter().map(|&s| -f64::from(s)).collect();
        let square = mean
            .iter()
            .zip(&inv)
            .map(|(m, &i)| {
                let std = 1.0 / f64::from(i);
                std * std + m * m
            })
            .collect();
        self.moments = Some((mean, square));
        self.uploaded_inv_std = inv;
        Ok(())
    }
}
