// Lloyd's centroid update for k-means: each centroid becomes the mean of the points assigned to
// it,
//   out[c] = sum_{i : assign[i] == c} points[i] / count,
// and a centroid with no points keeps its previous value (centroids[c]). One workgroup per
// centroid; its threads stride over the dimensions and all walk the points in index order, so
// each mean is a sequential f32 sum in point order (the CPU twin adds in the same order). The
// assignments come straight from topk_select with k = 1 (its index list, one u32 per point).
// Cost O(clusters * points) assignment reads, O(points * dim) point reads in all.
// CPU twin: src/cpu/knn/centroid_update.rs.

// Keep in sync with CentroidParams in src/kernels/knn/centroid_update.rs.
struct Params {
    points: u32,
    clusters: u32,
    dim: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read> assign: array<u32>;
@group(0) @binding(3) var<storage, read> centroids: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = wid.y * groups.x + wid.x;
    if c >= params.clusters {
        return;
    }
    let dim = params.dim;
    for (var j = lid; j < dim; j += WG) {
        var sum = 0.0;
        var count = 0u;
        for (var i = 0u; i < params.points; i++) {
            if assign[i] == c {
                sum += points[i * dim + j];
                count += 1u;
            }
        }
        let at = c * dim + j;
        out[at] = select(centroids[at], sum / f32(count), count > 0u);
    }
}
