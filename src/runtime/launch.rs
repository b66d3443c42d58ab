//! What a launcher hands to the [`Recorder`](super::Recorder): which kernel, its override
//! constants, its parameter struct and its tensors, and how many workgroups.

use crate::shaders::Shader;
use crate::tensor::Tensor;

/// How a kernel uses a storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}

/// A kernel: one entry point of one shader with its binding layout. Binding 0 is always the
/// kernel's parameter struct (a uniform with a dynamic offset); storage bindings follow from 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    /// Kernel name, used in labels, errors and profiles.
    pub name: &'static str,
    pub shader: Shader,
    pub entry: &'static str,
    pub bindings: &'static [Access],
}

/// One dispatch.
pub(crate) struct Launch<'t> {
    pub kernel: &'static Kernel,
    /// WGSL `override` constants by name; part of the pipeline cache key.
    pub constants: Vec<(&'static str, f64)>,
    /// The kernel's `#[repr(C)]` parameter struct as bytes (at most 256).
    pub params: &'t [u8],
    /// Tensors in binding order (binding 1, 2, ...).
    pub tensors: &'t [&'t Tensor],
    pub workgroups: [u32; 3],
}

impl<'t> Launch<'t> {
    /// A launch without override constants: `kernel` with the parameter struct `params` (its
    /// bytes), `tensors` in binding order, over `workgroups`.
    pub(crate) fn new<P: bytemuck::Pod>(
        kernel: &'static Kernel,
        params: &'t P,
        tensors: &'t [&'t Tensor],
        workgroups: [u32; 3],
    ) -> Self {
        Self {
            kernel,
            constants: Vec::new(),
            params: bytemuck::bytes_of(params),
            tensors,
            workgroups,
        }
    }
}

/// Largest workgroup count per grid dimension that every WebGPU device accepts.
pub(crate) const MAX_GROUPS_PER_DIM: u32 = 65535;

/// Spreads `groups` workgroups over x and y so that neither exceeds the per-dimension limit.
/// Shaders rebuild the linear id as `wid.y * num_workgroups.x + wid.x` and skip ids past the end.
pub(crate) fn grid_1d(groups: u32) -> [u32; 3] {
    let groups = groups.max(1);
    if groups <= MAX_GROUPS_PER_DIM {
        [groups, 1, 1]
    } else {
        [MAX_GROUPS_PER_DIM, groups.div_ceil(MAX_GROUPS_PER_DIM), 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_group_within_limits() {
        for groups in [1u32, 2, 65535, 65536, 1 << 20, 4_000_000] {
            let [x, y, z] = grid_1d(groups);
            assert!(x <= MAX_GROUPS_PER_DIM && y <= MAX_GROUPS_PER_DIM && z == 1);
            assert!(u64::from(x) * u64::from(y) >= u64::from(groups));
        }
    }
}
