//! Batched short-time Fourier transform with librosa's conventions (REFERENCE-SPECS.md §1):
//! periodic Hann window with `win_length = n_fft`, `center` with zero (librosa >= 0.9) or reflect
//! padding of `n_fft / 2`, or no centring (TensorFlow `pad_end=False`); one-sided
//! `n_fft / 2 + 1` bins as complex, magnitude or power.
//!
//! Output layout `[batch, frames, bins]` (`[batch, frames, bins, 2]` complex): frames x bins
//! row-major per clip is what the mel filterbank matmul consumes (`[frames, bins] x [bins, mels]`)
//! and what the kernels write contiguously (one frame per workgroup or per row of the plan).

use super::stft_frame::Framing;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::fft::RfftPlan;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

pub use crate::params::stft::stft_frames;
pub use crate::params::stft::Centering;
pub use crate::params::stft::StftOptions;

/// An STFT of one configuration with its tables on the GPU; build once, record many batches.
pub struct StftPlan {
    options: StftOptions,
    rfft: RfftPlan,
}

impl StftPlan {
    pub fn new(ctx: &Context, options: &StftOptions) -> Result<Self> {
        if options.n_fft == 0 || options.hop == 0 {
            return Err(HarkError::invalid(
                "stft",
                format!(
                    "n_fft ({}) and hop ({}) must be at least 1",
                    options.n_fft, options.hop
                ),
            ));
        }
        Ok(Self {
            options: *options,
            rfft: RfftPlan::new(ctx, options.n_fft, options.path)?,
        })
    }

    /// The underlying real FFT plan.
    pub fn rfft_plan(&self) -> &RfftPlan {
        &self.rfft
    }

    /// Records the STFT of `input` (`[batch, len]` or `[len]`) into `out`, which must hold
    /// `batch * frames * (n_fft/2 + 1)` floats (twice that for complex), laid out
    /// `[batch, frames, bins]` (`[.., 2]` complex). A clip too short for one frame without
    /// centring gives 0 frames: `out` is then empty and nothing is recorded.
    pub fn record(&self, rec: &mut Recorder, input: &Tensor, out: &Tensor) -> Result<()> {
        let o = &self.options;
        input.expect_dtype("stft", DType::F32)?;
        out.expect_dtype("stft", DType::F32)?;
        let (batch, len) = match *input.shape() {
            [len] => (1, len),
            [b, len] => (b, len),
            _ => {
                return Err(HarkError::shape(
                    "stft",
                    format!(
                        "input must be [len] or [batch, len], got {:?}",
                        input.shape()
                    ),
                ))
            }
        };
        if o.center == Centering::Reflect && len == 0 {
            return Err(HarkError::invalid(
                "stft",
                "reflect padding of an empty clip",
            ));
        }
        let frames = stft_frames(len, o.n_fft, o.hop, o.center);
        let bins = self.rfft.bins();
        let want = batch * frames * bins * o.output.floats_per_bin();
        if out.numel() != want {
            return Err(HarkError::shape(
                "stft",
                format!(
                    "output {:?} must hold batch {batch} x {frames} frames x {bins} bins x {} = \
                     {want} floats",
                    out.shape(),
                    o.output.floats_per_bin()
                ),
            ));
        }
        let framing = Framing {
            len,
            n_fft: o.n_fft,
            hop: o.hop,
            frames,
            rows: batch,
            pad: match o.center {
                Centering::None => 0,
                _ => o.n_fft / 2,
            },
            reflect: o.center == Centering::Reflect,
            hann: true,
        };
        self.rfft.record_frames(rec, input, out, &framing, o.output)
    }
}

/// Records the STFT of `input` (`[batch, len]` or `[len]`) into `out` (`[batch, frames, bins]`,
/// `[batch, frames, bins, 2]` complex; see [`StftPlan::record`]). Plans on every call; keep an
/// [`StftPlan`] to record the same configuration repeatedly.
pub fn stft(rec: &mut Recorder, input: &Tensor, out: &Tensor, options: &StftOptions) -> Result<()> {
    StftPlan::new(rec.context(), options)?.record(rec, input, out)
}
