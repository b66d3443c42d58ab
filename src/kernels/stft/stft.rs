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
use crate::kernels::fft::{FftPath, RfftPlan, SpectrumKind};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// Padding of the clip before framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Centering {
    /// `n_fft / 2` zeros on both sides (librosa >= 0.9 `center=True`, the default).
    #[default]
    Zero,
    /// `n_fft / 2` reflected samples on both sides (numpy `reflect`, torch's default).
    Reflect,
    /// No padding, frames only where the clip covers all `n_fft` samples (TensorFlow
    /// `pad_end=False`).
    None,
}

/// Options of [`stft`].
#[derive(Clone, Copy, Debug)]
pub struct StftOptions {
    pub n_fft: usize,
    pub hop: usize,
    pub center: Centering,
    pub output: SpectrumKind,
    /// FFT implementation (default: the fused workgroup kernel where it fits).
    pub path: FftPath,
}

impl Default for StftOptions {
    /// The DCASE baseline's configuration: n_fft 1024, hop 512, zero-padded centring, power.
    fn default() -> Self {
        Self {
            n_fft: 1024,
            hop: 512,
            center: Centering::Zero,
            output: SpectrumKind::Power,
            path: FftPath::Auto,
        }
    }
}

/// Frames of an STFT of a `len`-sample clip, as librosa and TensorFlow count them: centred,
/// `1 + (len + 2 (n_fft / 2) - n_fft) / hop` (that is `1 + len / hop` for even `n_fft`, also when
/// the clip is shorter than a frame); not centred, `1 + (len - n_fft) / hop`, and 0 when
/// `len < n_fft`. `hop` must be at least 1.
pub fn stft_frames(len: usize, n_fft: usize, hop: usize, center: Centering) -> usize {
    let hop = hop.max(1);
    let padded = match center {
        Centering::Zero | Centering::Reflect => len + 2 * (n_fft / 2),
        Centering::None => len,
    };
    match padded.checked_sub(n_fft) {
        Some(rest) => 1 + rest / hop,
        None => 0,
    }
}

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
