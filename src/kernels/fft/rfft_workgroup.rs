//! Launcher for `shaders/fft/rfft_workgroup.wgsl`: framing + window + power-of-two real FFT +
//! one-sided output in workgroup memory, one workgroup per frame.

use bytemuck::{Pod, Zeroable};

use super::plan::to_u32;
use super::rfft::SpectrumKind;
use crate::error::Result;
use crate::kernels::stft::Framing;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Largest `n_fft` the kernel's register array covers (MAX_REGS in the shader).
pub(crate) const MAX_WORKGROUP_N: usize = 8192;

/// Keep in sync with `Params` in shaders/fft/rfft_workgroup.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct RfftWorkgroupParams {
    len: u32,
    n_fft: u32,
    hop: u32,
    frames: u32,
    rows: u32,
    pad: u32,
    reflect: u32,
    hann: u32,
    kind: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

static KERNEL: Kernel = Kernel {
    name: "rfft_workgroup",
    shader: Shader::RfftWorkgroup,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Threads per workgroup for `n_fft`: a quarter of the L = n_fft / 2 complex points (one
/// radix-4 butterfly each), at most 256 (the WebGPU minimum).
fn threads(n_fft: usize) -> u32 {
    (n_fft / 8).clamp(1, 256) as u32
}

/// Whether the workgroup kernel can run `n_fft` on a device with `limits`: a power of two from 2
/// to [`MAX_WORKGROUP_N`] whose `n_fft / 2` complex f32 fit in workgroup memory.
pub(crate) fn fits_workgroup(limits: &wgpu::Limits, n_fft: usize) -> bool {
    n_fft.is_power_of_two()
        && (2..=MAX_WORKGROUP_N).contains(&n_fft)
        && (n_fft / 2 * 8) as u64 <= u64::from(limits.max_compute_workgroup_storage_size)
        && threads(n_fft) <= limits.max_compute_invocations_per_workgroup
}

pub(crate) fn rfft_workgroup(
    rec: &mut Recorder,
    signal: &Tensor,
    twiddles: &Tensor,
    out: &Tensor,
    framing: &Framing,
    kind: SpectrumKind,
) -> Result<()> {
    let name = KERNEL.name;
    framing.check_i32(name)?;
    let params = RfftWorkgroupParams {
        len: to_u32(name, framing.len, "clip length")?,
        n_fft: to_u32(name, framing.n_fft, "n_fft")?,
        hop: to_u32(name, framing.hop, "hop")?,
        frames: to_u32(name, framing.frames, "frames")?,
        rows: to_u32(name, framing.rows, "clips")?,
        pad: to_u32(name, framing.pad, "padding")?,
        reflect: u32::from(framing.reflect),
        hann: u32::from(framing.hann),
        kind: kind.code(),
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let groups = to_u32(name, framing.rows * framing.frames, "frames")?;
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![
            ("L", (framing.n_fft / 2) as f64),
            ("WG", f64::from(threads(framing.n_fft))),
        ],
        params: bytemuck::bytes_of(&params),
        tensors: &[signal, twiddles, out],
        workgroups: grid_1d(groups),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<RfftWorkgroupParams>(Shader::RfftWorkgroup, "Params");
    }
}
