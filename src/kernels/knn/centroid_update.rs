//! Launcher for `shaders/knn/centroid_update.wgsl`: k-means centroids as the means of their
//! assigned points (an empty cluster keeps its centroid).

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
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
}

static KERNEL: Kernel = Kernel {
    name: "centroid_update",
    shader: Shader::KnnCentroidUpdate,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// `out[c]` = mean of the rows of `points` `[n, dim]` whose `assign` (u32 words, `[n, 1]` as
/// [`topk_select`](super::topk_select) with k = 1 writes them) is `c`, or `centroids[c]` when no
/// point is; `centroids` and `out` are `[clusters, dim]`.
pub fn centroid_update(
    rec: &mut Recorder,
    points: &Tensor,
    assign: &Tensor,
    centroids: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let name = KERNEL.name;
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
    let params = CentroidParams {
        points: to_u32(name, n)?,
        clusters: to_u32(name, clusters)?,
        dim: to_u32(name, dim)?,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[points, assign, centroids, out],
        // One workgroup per centroid.
        workgroups: grid_1d(params.clusters),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        assert_eq!(
            Some(std::mem::size_of::<CentroidParams>()),
            crate::shaders::wgsl_struct_size(Shader::KnnCentroidUpdate, "Params")
        );
    }
}
