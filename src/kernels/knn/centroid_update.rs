//! Launcher for `shaders/knn/centroid_update.wgsl`: k-means centroids as the means of their
//! assigned points (an empty cluster keeps its centroid), in two passes (per-chunk partial sums,
//! then their sum) so that no invocation loops over more than [`CHUNK`] points.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::{to_u32, LOOP_BUDGET};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/knn/centroid_update.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct CentroidParams {
    points: u32,
    clusters: u32,
    dim: u32,
    chunk: u32,
    chunks: u32,
}

/// Points one `partial_sums` invocation walks; `finish` walks at most this many chunks.
const CHUNK: usize = 4096;
const _: () = assert!(CHUNK <= LOOP_BUDGET);

const BINDINGS: &[Access] = &[
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
];

static PARTIALS: Kernel = Kernel {
    name: "centroid_update",
    shader: Shader::KnnCentroidUpdate,
    entry: "partial_sums",
    bindings: BINDINGS,
};

static FINISH: Kernel = Kernel {
    name: "centroid_update_finish",
    shader: Shader::KnnCentroidUpdate,
    entry: "finish",
    bindings: BINDINGS,
};

/// `out[c]` = mean of the rows of `points` `[n, dim]` whose `assign` (u32 words, `[n, 1]` as
/// [`topk_select`](super::topk_select) with k = 1 writes them) is `c`, or `centroids[c]` when no
/// point is; `centroids` and `out` are `[clusters, dim]`. Records two dispatches and allocates
/// a scratch of `clusters * ceil(n / 4096) * (dim + 1)` floats. Limit: at most
/// 4096 * 4096 = 16,777,216 points (the loop budget of the second pass); more is an
/// invalid-argument error, as is a scratch beyond the device's largest storage binding.
pub fn centroid_update(
    rec: &mut Recorder,
    points: &Tensor,
    assign: &Tensor,
    centroids: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let name = PARTIALS.name;
    for t in [points, assign, centroids, out] {
        t.expect_dtype(name, DType::F32)?;
    }
    let [n, dim] = *points.shape() else {
        return Err(HarkError::shape(
            name,
            format!("points must be [n, dim], got {:?}", points.shape()),
        ));
    };
    let clusters = match *centroids.shape() {
        [c, d] if d == dim => c,
        _ => {
            return Err(HarkError::shape(
                name,
                format!(
                    "centroids {:?} must be [clusters, {dim}]",
                    centroids.shape()
                ),
            ))
        }
    };
    if out.shape() != centroids.shape() || assign.numel() != n {
        return Err(HarkError::shape(
            name,
            format!(
                "points {:?}, assign {:?}, centroids {:?}, out {:?}",
                points.shape(),
                assign.shape(),
                centroids.shape(),
                out.shape()
            ),
        ));
    }
    if clusters == 0 || dim == 0 {
        return Ok(());
    }
    to_u32(name, n * dim)?;
    to_u32(name, clusters * dim)?;
    let chunks = n.div_ceil(CHUNK).max(1);
    if chunks > CHUNK {
        return Err(HarkError::invalid(
            name,
            format!(
                "{n} points: at most {} per update (the per-invocation loop budget)",
                CHUNK * CHUNK
            ),
        ));
    }
    let scratch = clusters * chunks * (dim + 1);
    let limit = rec.context().limits().max_storage_buffer_binding_size as usize;
    if scratch.saturating_mul(4) > limit {
        return Err(HarkError::invalid(
            name,
            format!(
                "{clusters} clusters x {chunks} chunks of {CHUNK} points x {} floats of partial \
                 sums exceed the device's {limit}-byte storage binding",
                dim + 1
            ),
        ));
    }
    let params = CentroidParams {
        points: to_u32(name, n)?,
        clusters: to_u32(name, clusters)?,
        dim: to_u32(name, dim)?,
        chunk: CHUNK as u32,
        chunks: chunks as u32,
    };
    let partials = Tensor::zeros(rec.context(), &[scratch], DType::F32)?;
    let tensors = [points, assign, centroids, &partials, out];
    // One workgroup per (cluster, chunk, 64 dimensions).
    let groups = clusters * chunks * dim.div_ceil(64);
    rec.dispatch(Launch::new(
        &PARTIALS,
        &params,
        &tensors,
        grid_1d(to_u32(name, groups)?),
    ))?;
    // One thread per centroid entry.
    rec.dispatch(Launch::new(
        &FINISH,
        &params,
        &tensors,
        grid_1d(to_u32(name, clusters * dim)?.div_ceil(64)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<CentroidParams>(Shader::KnnCentroidUpdate, "Params");
    }
}
