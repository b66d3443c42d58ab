//! The mel filterbank on the GPU: a matmul of the power spectrogram `[rows, bins]` with the
//! filter matrix `[n_mels, bins]` (transposed operand, no copy), with the log optionally fused
//! into the matmul's epilogue so that mel + log is one pass.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::features::mel::{mel_filterbank, MelOptions};
use crate::kernels::features::LogKind;
use crate::kernels::matmul::{matmul, Activation, MatmulOptions};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// A mel filterbank uploaded once and applied to many spectrograms.
#[derive(Clone, Debug)]
pub struct MelFilterbank {
    options: MelOptions,
    filters: Tensor,
}

impl MelFilterbank {
    /// Builds the filters (librosa conventions) and uploads them.
    pub fn new(ctx: &Context, options: &MelOptions) -> Result<Self> {
        let weights = mel_filterbank(options)?;
        let filters = Tensor::from_slice(ctx, &[options.n_mels, options.n_bins()], &weights)?;
        Ok(Self {
            options: *options,
            filters,
        })
    }

    pub fn options(&self) -> &MelOptions {
        &self.options
    }

    /// The filter matrix `[n_mels, n_bins]`.
    pub fn filters(&self) -> &Tensor {
        &self.filters
    }

    /// `out[.., m] = log?(sum_k power[.., k] * filters[m, k])`: `power` is `[.., bins]` (any
    /// leading dims), `out` the same leading dims with `n_mels` last.
    pub fn apply(
        &self,
        rec: &mut Recorder,
        power: &Tensor,
        out: &Tensor,
        log: Option<LogKind>,
    ) -> Result<()> {
        let bins = self.options.n_bins();
        let n_mels = self.options.n_mels;
        let last = power.shape().last().copied().unwrap_or(0);
        if last != bins || power.numel() == 0 {
            return Err(HarkError::shape(
                "mel_filterbank",
                format!("power {:?} must end in {bins} bins", power.shape()),
            ));
        }
        let rows = power.numel() / bins;
        if out.numel() != rows * n_mels {
            return Err(HarkError::shape(
                "mel_filterbank",
                format!("out {:?} should hold {rows} x {n_mels}", out.shape()),
            ));
        }
        let activation = match log {
            None => Activation::None,
            Some(LogKind::Decibel { eps }) => Activation::Decibel { eps },
            Some(LogKind::Natural { eps }) => Activation::LogNatural { eps },
        };
        let options = MatmulOptions {
            trans_b: true,
            activation,
            ..Default::default()
        };
        matmul(
            rec,
            &power.reshape(&[rows, bins])?,
            &self.filters,
            &out.reshape(&[rows, n_mels])?,
            &options,
        )
    }
}
