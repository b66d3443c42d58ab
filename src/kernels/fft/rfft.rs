//! Batched real-input FFT (`rfft`): one-sided spectra of `n / 2 + 1` bins as complex, magnitude
//! or power, for any length `n`. Powers of two up to 8192 whose half fits the device's
//! workgroup memory run in one fused dispatch (`shaders/fft/rfft_workgroup.wgsl`); other lengths
//! (the 160000-point whole-clip spectrum, odd and prime lengths) run on the global-memory plan:
//! framing pass, Stockham or Bluestein stages, then `shaders/fft/rfft_post.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::plan::{threads_grid, to_u32, twiddle_table, ComplexFftPlan, Scratch};
use super::rfft_workgroup::{fits_workgroup, rfft_workgroup};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::stft::{stft_frame, Framing};
use crate::runtime::{Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::fft::rfft_bins;
pub use crate::params::fft::SpectrumKind;

pub use crate::params::fft::FftPath;

/// Options of [`rfft`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RfftOptions {
    pub kind: SpectrumKind,
    pub path: FftPath,
}

/// Keep in sync with `Params` in shaders/fft/rfft_post.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct RfftPostParams {
    n: u32,
    bins: u32,
    rows: u32,
    packed: u32,
    kind: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

static RFFT_POST: Kernel = Kernel {
    name: "rfft_post",
    shader: Shader::RfftPost,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

enum Path {
    Workgroup,
    Global {
        complex: Box<ComplexFftPlan>,
        /// Even n: the complex plan has n / 2 points fed by packed pairs.
        packed: bool,
        scratch: Scratch,
    },
}

/// A real FFT of one length with its tables on the GPU; build once, record many times.
pub struct RfftPlan {
    n: usize,
    /// `exp(-2 pi i k / n)`, `k < n`: post-processing twiddles and the Hann window.
    twiddles: Tensor,
    path: Path,
}

impl RfftPlan {
    /// Plans an `n`-point real FFT (`n >= 1`).
    pub fn new(ctx: &Context, n: usize, path: FftPath) -> Result<Self> {
        if n == 0 {
            return Err(HarkError::invalid("rfft", "transform length 0"));
        }
        let twiddles = Tensor::from_slice(ctx, &[n, 2], &twiddle_table(n))?;
        let path = if path.fused(ctx, n) {
            Path::Workgroup
        } else {
            let packed = n.is_multiple_of(2);
            let points = if packed { n / 2 } else { n };
            Path::Global {
                complex: Box::new(ComplexFftPlan::new(ctx, points)?),
                packed,
                scratch: Scratch::default(),
            }
        };
        Ok(Self { n, twiddles, path })
    }

    /// Transform length.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Output bins, `n / 2 + 1`.
    pub fn bins(&self) -> usize {
        rfft_bins(self.n)
    }

    /// Whether this plan runs in one fused workgroup-memory dispatch.
    pub fn is_workgroup(&self) -> bool {
        matches!(self.path, Path::Workgroup)
    }

    /// Whether this plan uses Bluestein's algorithm (a length with a prime factor above 5).
    pub fn is_bluestein(&self) -> bool {
        matches!(&self.path, Path::Global { complex, .. } if complex.is_bluestein())
    }

    /// Records the spectra of every frame of every clip: `out` holds
    /// `rows * frames * bins * kind.floats_per_bin()` floats, frame-major per clip.
    pub(crate) fn record_frames(
        &self,
        rec: &mut Recorder,
        signal: &Tensor,
        out: &Tensor,
        framing: &Framing,
        kind: SpectrumKind,
    ) -> Result<()> {
        let rows = framing.rows * framing.frames;
        if rows == 0 {
            return Ok(());
        }
        match &self.path {
            Path::Workgroup => rfft_workgroup(rec, signal, &self.twiddles, out, framing, kind),
            Path::Global {
                complex,
                packed,
                scratch,
            } => {
                let ctx = rec.context().clone();
                let (a, b) = scratch.get(&ctx, rows * complex.row_capacity())?;
                stft_frame(rec, signal, &self.twiddles, &a, framing, *packed)?;
                let cur = complex.record(rec, rows, [&a, &b], 0)?;
                let result = if cur == 0 { &a } else { &b };
                let bins = self.bins();
                let name = RFFT_POST.name;
                let params = RfftPostParams {
                    n: to_u32(name, self.n, "n")?,
                    bins: to_u32(name, bins, "bins")?,
                    rows: to_u32(name, rows, "rows")?,
                    packed: u32::from(*packed),
                    kind: kind.code(),
                    _pad0: 0,
                    _pad1: 0,
                    _pad2: 0,
                };
                to_u32(name, rows * bins * 2, "output floats")?;
                rec.dispatch(Launch::new(
                    &RFFT_POST,
                    &params,
                    &[&self.twiddles, result, out],
                    threads_grid(name, rows * bins)?,
                ))
            }
        }
    }

    /// Records the one-sided spectrum of each row of `input` (`[batch, n]` or `[n]`) into `out`
    /// (`[batch, bins]`, or `[batch, bins, 2]` for [`SpectrumKind::Complex`]; any shape with that
    /// many elements is accepted).
    pub fn record(
        &self,
        rec: &mut Recorder,
        input: &Tensor,
        out: &Tensor,
        kind: SpectrumKind,
    ) -> Result<()> {
        input.expect_dtype("rfft", DType::F32)?;
        out.expect_dtype("rfft", DType::F32)?;
        let (batch, n) = match *input.shape() {
            [n] => (1, n),
            [b, n] => (b, n),
            _ => {
                return Err(HarkError::shape(
                    "rfft",
                    format!("input must be [n] or [batch, n], got {:?}", input.shape()),
                ))
            }
        };
        if n != self.n {
            return Err(HarkError::shape(
                "rfft",
                format!("input rows have {n} samples, the plan is for {}", self.n),
            ));
        }
        let want = batch * self.bins() * kind.floats_per_bin();
        if out.numel() != want {
            return Err(HarkError::shape(
                "rfft",
                format!(
                    "output {:?} must hold batch {batch} x {} bins x {} = {want} floats",
                    out.shape(),
                    self.bins(),
                    kind.floats_per_bin()
                ),
            ));
        }
        self.record_frames(rec, input, out, &Framing::whole(batch, n), kind)
    }
}

/// Records the one-sided spectrum of every row of `input` (`[batch, n]` or `[n]`) into `out`
/// (`[batch, n/2 + 1]`, or `[batch, n/2 + 1, 2]` complex). Plans on every call (uploads the
/// twiddle tables); keep an [`RfftPlan`] to record the same size repeatedly.
pub fn rfft(rec: &mut Recorder, input: &Tensor, out: &Tensor, options: &RfftOptions) -> Result<()> {
    let n = input.shape().last().copied().unwrap_or(0);
    let plan = RfftPlan::new(rec.context(), n, options.path)?;
    plan.record(rec, input, out, options.kind)
}

impl FftPath {
    /// Whether a plan of `n` points on `ctx` runs the fused workgroup kernel.
    fn fused(self, ctx: &Context, n: usize) -> bool {
        match self {
            FftPath::Auto => !ctx.is_software() && fits_workgroup(ctx.limits(), n),
            FftPath::Workgroup => fits_workgroup(ctx.limits(), n),
            FftPath::Global => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<RfftPostParams>(Shader::RfftPost, "Params");
    }
}
