//! The mel filterbank on the GPU (`shaders/features/mel_banded.wgsl`): each filter is non-zero
//! on one run of consecutive bins, so the product with the power spectrogram `[rows, bins]` sums
//! only those runs (about 1/64 of a dense matmul's multiply-adds for 128 mels on 513 bins), with
//! the log optionally fused so that mel + log is one pass. [`MelFilterbank::apply_dense`] keeps
//! the dense matmul (transposed operand, log in its epilogue) for comparison.

use bytemuck::{Pod, Zeroable};

use super::to_u32;
use crate::context::Context;
use crate::cpu::features::MelRuns;
use crate::error::{HarkError, Result};
use crate::features::mel::{mel_filterbank, MelOptions};
use crate::kernels::features::LogKind;
use crate::kernels::matmul::{matmul, Activation, MatmulOptions};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/features/mel_banded.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MelParams {
    rows: u32,
    bins: u32,
    n_mels: u32,
    eps: f32,
}

static KERNEL: Kernel = Kernel {
    name: "mel_banded",
    shader: Shader::FeaturesMelBanded,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Longest filter run one invocation may loop over (lavapipe's loop budget per invocation is
/// ~65,535 iterations; README, "Portability").
const MAX_RUN: usize = 16_384;

/// A mel filterbank uploaded once and applied to many spectrograms.
#[derive(Clone, Debug)]
pub struct MelFilterbank {
    options: MelOptions,
    filters: Tensor,
    /// Per mel `(first bin, run length, weight offset, 0)`.
    runs: Tensor,
    /// The runs' weights, end to end.
    run_weights: Tensor,
}

impl MelFilterbank {
    /// Builds the filters (librosa conventions) and uploads them, dense and as runs.
    pub fn new(ctx: &Context, options: &MelOptions) -> Result<Self> {
        let weights = mel_filterbank(options)?;
        let bins = options.n_bins();
        let filters = Tensor::from_slice(ctx, &[options.n_mels, bins], &weights)?;
        let banded = MelRuns::from_dense(&weights, bins);
        if banded.longest() > MAX_RUN {
            return Err(HarkError::invalid(
                KERNEL.name,
                format!(
                    "a mel filter spans {} bins, more than the {MAX_RUN} one invocation may sum",
                    banded.longest()
                ),
            ));
        }
        // Tensors hold f32 words; the shader reads these as u32 (bit patterns kept).
        let runs: Vec<f32> = banded
            .runs
            .iter()
            .flatten()
            .map(|&u| f32::from_bits(u))
            .collect();
        let runs = Tensor::from_slice(ctx, &[options.n_mels, 4], &runs)?;
        // A filterbank of all-zero filters still needs a binding of one element.
        let mut packed = banded.weights;
        if packed.is_empty() {
            packed.push(0.0);
        }
        let run_weights = Tensor::from_slice(ctx, &[packed.len()], &packed)?;
        Ok(Self {
            options: *options,
            filters,
            runs,
            run_weights,
        })
    }

    pub fn options(&self) -> &MelOptions {
        &self.options
    }

    /// `(rows, bins, n_mels)` of a product of `power` into `out`.
    fn check(&self, power: &Tensor, out: &Tensor) -> Result<(usize, usize, usize)> {
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
        Ok((rows, bins, n_mels))
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
        let (rows, bins, n_mels) = self.check(power, out)?;
        let (mode, eps) = match log {
            None => (0u32, 1.0f32),
            Some(LogKind::Decibel { eps }) => (1, eps),
            Some(LogKind::Natural { eps }) => (2, eps),
        };
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(HarkError::invalid(
                KERNEL.name,
                format!("eps must be > 0, got {eps}"),
            ));
        }
        power.expect_dtype(KERNEL.name, DType::F32)?;
        out.expect_dtype(KERNEL.name, DType::F32)?;
        let outputs = to_u32(KERNEL.name, rows * n_mels)?;
        rec.dispatch(Launch {
            kernel: &KERNEL,
            constants: vec![("MODE", f64::from(mode))],
            params: bytemuck::bytes_of(&MelParams {
                rows: to_u32(KERNEL.name, rows)?,
                bins: to_u32(KERNEL.name, bins)?,
                n_mels: to_u32(KERNEL.name, n_mels)?,
                eps,
            }),
            tensors: &[&self.runs, &self.run_weights, power, out],
            workgroups: grid_1d(outputs.div_ceil(256)),
        })
    }

    /// The same product as a dense matmul with the filter matrix (transposed operand, the log in
    /// the matmul's epilogue): 64x the multiply-adds of [`MelFilterbank::apply`] at the DCASE
    /// shape; kept to compare against.
    pub fn apply_dense(
        &self,
        rec: &mut Recorder,
        power: &Tensor,
        out: &Tensor,
        log: Option<LogKind>,
    ) -> Result<()> {
        let (rows, bins, n_mels) = self.check(power, out)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MelParams>(Shader::FeaturesMelBanded, "Params");
    }
}
