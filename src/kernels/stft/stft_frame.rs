//! Launcher for `shaders/stft/stft_frame.wgsl`: framing, padding and window of a batch of clips
//! into complex FFT input (the first pass of the global-memory FFT path).

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::fft::plan::{threads_grid, to_u32};
use crate::runtime::{Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// How frames are cut from each clip: frame `f` covers padded samples
/// `f * hop .. f * hop + n_fft`, padded sample `p` being clip sample `p - pad`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    /// Samples per clip.
    pub len: usize,
    pub n_fft: usize,
    pub hop: usize,
    pub frames: usize,
    /// Clips.
    pub rows: usize,
    pub pad: usize,
    pub reflect: bool,
    pub hann: bool,
}

impl Framing {
    /// The shaders index padded positions as i32: frame starts and the clip must stay below 2^31.
    pub fn check_i32(&self, kernel: &'static str) -> Result<()> {
        let reach = (self.frames * self.hop)
            .checked_add(self.n_fft + self.len + self.pad)
            .and_then(|r| i32::try_from(r).ok());
        match reach {
            Some(_) => Ok(()),
            None => Err(crate::error::HarkError::invalid(
                kernel,
                "clip too long for the shaders' i32 sample indexing",
            )),
        }
    }

    /// The whole-clip transform: one unwindowed frame of `n` samples per row.
    pub fn whole(rows: usize, n: usize) -> Self {
        Self {
            len: n,
            n_fft: n,
            hop: n,
            frames: 1,
            rows,
            pad: 0,
            reflect: false,
            hann: false,
        }
    }
}

/// Keep in sync with `Params` in shaders/stft/stft_frame.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct StftFrameParams {
    len: u32,
    n_fft: u32,
    hop: u32,
    frames: u32,
    rows: u32,
    pad: u32,
    reflect: u32,
    hann: u32,
    packed: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

static KERNEL: Kernel = Kernel {
    name: "stft_frame",
    shader: Shader::StftFrame,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Records the framing pass: `signal` `[rows, len]` into `dst` as `rows * frames` rows of
/// `n_fft / 2` packed pairs (`packed`, even `n_fft`) or `n_fft` points (imaginary part 0).
/// `twiddles` is the `n_fft`-point table (the window is read from its real part).
pub(crate) fn stft_frame(
    rec: &mut Recorder,
    signal: &Tensor,
    twiddles: &Tensor,
    dst: &Tensor,
    framing: &Framing,
    packed: bool,
) -> Result<()> {
    let name = KERNEL.name;
    let points = if packed {
        framing.n_fft / 2
    } else {
        framing.n_fft
    };
    let total = framing.rows * framing.frames * points;
    let params = StftFrameParams {
        len: to_u32(name, framing.len, "clip length")?,
        n_fft: to_u32(name, framing.n_fft, "n_fft")?,
        hop: to_u32(name, framing.hop, "hop")?,
        frames: to_u32(name, framing.frames, "frames")?,
        rows: to_u32(name, framing.rows, "clips")?,
        pad: to_u32(name, framing.pad, "padding")?,
        reflect: u32::from(framing.reflect),
        hann: u32::from(framing.hann),
        packed: u32::from(packed),
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    to_u32(name, total, "frames x points")?;
    framing.check_i32(name)?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[signal, twiddles, dst],
        threads_grid(name, total)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<StftFrameParams>(Shader::StftFrame, "Params");
    }
}
