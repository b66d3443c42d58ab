//! Complex FFT plans in global memory: Stockham stages of radix 4, 2, 3, 5
//! (`shaders/fft/fft_stage.wgsl`, one dispatch per stage for the whole batch) for lengths whose
//! only prime factors are 2, 3 and 5, and Bluestein's algorithm (`shaders/fft/bluestein.wgsl`
//! around a power-of-two plan) for every other length.

use bytemuck::{Pod, Zeroable};

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Threads per workgroup of the global-memory kernels (the WebGPU minimum of 256 invocations).
pub(crate) const WG: u32 = 256;

pub use crate::params::fft::bluestein_chirp;
pub use crate::params::fft::bluestein_length;
pub use crate::params::fft::bluestein_spectrum;
pub use crate::params::fft::fft_radices;
pub use crate::params::fft::twiddle_table;

/// Keep in sync with `Params` in shaders/fft/fft_stage.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct FftStageParams {
    pub n: u32,
    pub radix: u32,
    pub stride: u32,
    pub rows: u32,
    pub twiddle_step: u32,
    pub inverse: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Keep in sync with `Params` in shaders/fft/bluestein.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct BluesteinParams {
    pub n: u32,
    pub m: u32,
    pub rows: u32,
    pub _pad: u32,
}

static FFT_STAGE: Kernel = Kernel {
    name: "fft_stage",
    shader: Shader::FftStage,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static BLUESTEIN_PREMUL: Kernel = Kernel {
    name: "bluestein_premul",
    shader: Shader::Bluestein,
    entry: "premul",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static BLUESTEIN_POINTWISE: Kernel = Kernel {
    name: "bluestein_pointwise",
    shader: Shader::Bluestein,
    entry: "pointwise",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static BLUESTEIN_POSTMUL: Kernel = Kernel {
    name: "bluestein_postmul",
    shader: Shader::Bluestein,
    entry: "postmul",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

pub(crate) fn to_u32(kernel: &'static str, value: usize, what: &str) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| HarkError::invalid(kernel, format!("{what} = {value} exceeds u32")))
}

/// A 1-D dispatch of `threads` invocations in workgroups of [`WG`].
pub(crate) fn threads_grid(kernel: &'static str, threads: usize) -> Result<[u32; 3]> {
    Ok(grid_1d(to_u32(
        kernel,
        threads.div_ceil(WG as usize),
        "workgroups",
    )?))
}

/// Stockham stages of a smooth length.
struct Stockham {
    n: usize,
    radices: Vec<u32>,
    /// `exp(-2 pi i k / n)`, `k < n`.
    twiddles: Tensor,
}

impl Stockham {
    fn new(ctx: &Context, n: usize, radices: Vec<u32>) -> Result<Self> {
        Ok(Self {
            n,
            radices,
            twiddles: Tensor::from_slice(ctx, &[n, 2], &twiddle_table(n))?,
        })
    }

    /// Records every stage over `rows` transforms, starting in `bufs[cur]`; returns the index of
    /// the buffer holding the result.
    fn record(
        &self,
        rec: &mut Recorder,
        rows: usize,
        bufs: [&Tensor; 2],
        mut cur: usize,
        inverse: bool,
    ) -> Result<usize> {
        let n = to_u32(FFT_STAGE.name, self.n, "n")?;
        let mut stride = 1u32;
        for &radix in &self.radices {
            let params = FftStageParams {
                n,
                radix,
                stride,
                rows: to_u32(FFT_STAGE.name, rows, "rows")?,
                twiddle_step: n / (stride * radix),
                inverse: u32::from(inverse),
                _pad0: 0,
                _pad1: 0,
            };
            rec.dispatch(Launch {
                kernel: &FFT_STAGE,
                constants: vec![("RADIX", f64::from(radix))],
                params: bytemuck::bytes_of(&params),
                tensors: &[&self.twiddles, bufs[cur], bufs[1 - cur]],
                workgroups: threads_grid(FFT_STAGE.name, rows * self.n / radix as usize)?,
            })?;
            cur = 1 - cur;
            stride *= radix;
        }
        Ok(cur)
    }
}

enum Method {
    Stockham(Stockham),
    Bluestein {
        m: usize,
        inner: Stockham,
        chirp: Tensor,
        spectrum: Tensor,
    },
}

/// A batched forward complex FFT of one length, its tables uploaded once.
pub(crate) struct ComplexFftPlan {
    n: usize,
    method: Method,
}

impl ComplexFftPlan {
    pub fn new(ctx: &Context, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(HarkError::invalid("fft", "transform length 0"));
        }
        let method = match fft_radices(n) {
            Some(radices) => Method::Stockham(Stockham::new(ctx, n, radices)?),
            None => {
                let m = bluestein_length(n);
                let radices = fft_radices(m).unwrap_or_default();
                Method::Bluestein {
                    m,
                    inner: Stockham::new(ctx, m, radices)?,
                    chirp: Tensor::from_slice(ctx, &[n, 2], &bluestein_chirp(n))?,
                    spectrum: Tensor::from_slice(ctx, &[m, 2], &bluestein_spectrum(n, m))?,
                }
            }
        };
        Ok(Self { n, method })
    }

    /// Complex points per row each work buffer must hold.
    pub fn row_capacity(&self) -> usize {
        match &self.method {
            Method::Stockham(_) => self.n,
            Method::Bluestein { m, .. } => *m,
        }
    }

    /// Whether this length goes through Bluestein.
    pub fn is_bluestein(&self) -> bool {
        matches!(self.method, Method::Bluestein { .. })
    }

    /// Transforms `rows` rows of `n` points held in `bufs[cur]`; returns which buffer holds the
    /// result (rows of `n` points from its start).
    pub fn record(
        &self,
        rec: &mut Recorder,
        rows: usize,
        bufs: [&Tensor; 2],
        cur: usize,
    ) -> Result<usize> {
        match &self.method {
            Method::Stockham(stages) => stages.record(rec, rows, bufs, cur, false),
            Method::Bluestein {
                m,
                inner,
                chirp,
                spectrum,
            } => {
                let params = BluesteinParams {
                    n: to_u32(BLUESTEIN_PREMUL.name, self.n, "n")?,
                    m: to_u32(BLUESTEIN_PREMUL.name, *m, "m")?,
                    rows: to_u32(BLUESTEIN_PREMUL.name, rows, "rows")?,
                    _pad: 0,
                };
                let padded = threads_grid(BLUESTEIN_PREMUL.name, rows * m)?;
                let bytes = bytemuck::bytes_of(&params);
                rec.dispatch(Launch {
                    kernel: &BLUESTEIN_PREMUL,
                    constants: Vec::new(),
                    params: bytes,
                    tensors: &[chirp, bufs[cur], bufs[1 - cur]],
                    workgroups: padded,
                })?;
                let cur = inner.record(rec, rows, bufs, 1 - cur, false)?;
                rec.dispatch(Launch {
                    kernel: &BLUESTEIN_POINTWISE,
                    constants: Vec::new(),
                    params: bytes,
                    tensors: &[spectrum, bufs[cur], bufs[1 - cur]],
                    workgroups: padded,
                })?;
                let cur = inner.record(rec, rows, bufs, 1 - cur, true)?;
                rec.dispatch(Launch {
                    kernel: &BLUESTEIN_POSTMUL,
                    constants: Vec::new(),
                    params: bytes,
                    tensors: &[chirp, bufs[cur], bufs[1 - cur]],
                    workgroups: threads_grid(BLUESTEIN_POSTMUL.name, rows * self.n)?,
                })?;
                Ok(1 - cur)
            }
        }
    }
}

/// Two work buffers of `rows * row_capacity` complex points, reused while the size fits.
#[derive(Default)]
pub(crate) struct Scratch {
    buffers: std::sync::Mutex<Option<(usize, Tensor, Tensor)>>,
}

impl Scratch {
    pub fn get(&self, ctx: &Context, points: usize) -> Result<(Tensor, Tensor)> {
        let mut slot = self
            .buffers
            .lock()
            .map_err(|_| HarkError::invalid("fft", "scratch lock poisoned"))?;
        if let Some((have, a, b)) = slot.as_ref() {
            if *have >= points {
                return Ok((a.clone(), b.clone()));
            }
        }
        let floats = points.max(1) * 2;
        let a = Tensor::zeros(ctx, &[floats], DType::F32)?;
        let b = Tensor::zeros(ctx, &[floats], DType::F32)?;
        *slot = Some((points, a.clone(), b.clone()));
        Ok((a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_structs() {
        use crate::shaders::wgsl_struct_size;
        assert_eq!(
            Some(std::mem::size_of::<FftStageParams>()),
            wgsl_struct_size(Shader::FftStage, "Params")
        );
        assert_eq!(
            Some(std::mem::size_of::<BluesteinParams>()),
            wgsl_struct_size(Shader::Bluestein, "Params")
        );
    }

    #[test]
    fn radices_factor_smooth_lengths_only() {
        assert_eq!(fft_radices(1), Some(vec![]));
        assert_eq!(fft_radices(8), Some(vec![4, 2]));
        assert_eq!(fft_radices(80000), Some(vec![4, 4, 4, 2, 5, 5, 5, 5]));
        assert_eq!(fft_radices(15), Some(vec![3, 5]));
        assert_eq!(fft_radices(1021), None);
        assert_eq!(fft_radices(0), None);
    }
}
