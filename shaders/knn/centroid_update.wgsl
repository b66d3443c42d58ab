// Lloyd's centroid update for k-means: each centroid becomes the mean of the points assigned to
// it,
//   out[c] = sum_{i : assign[i] == c} points[i] / count,
// and a centroid with no points keeps its previous value (centroids[c]). The assignments come
// straight from topk_select with k = 1 (its index list, one u32 per point).
//
// Two entries, so that no invocation loops over more than CHUNK points (lavapipe ends the loops
// of an invocation after ~65,535 iterations in all; README, "Portability: loop budget per
// invocation"):
//   partial_sums: one workgroup per (cluster, chunk of CHUNK points, 64 dimensions); each thread
//     sums its dimension over the chunk's points of that cluster, in index order, into
//     partials[(c * chunks + chunk) * (dim + 1) + j]; the chunk's point count (a u32) goes to
//     slot dim.
//   finish: one thread per (cluster, dimension) adds its chunks' partials in chunk order (the
//     launcher keeps chunks <= CHUNK) and divides by the count.
// The sum order is fixed, so the result is deterministic. Cost O(clusters * points) assignment
// reads, O(points * dim) point reads in all.
// CPU twin: src/cpu/knn/centroid_update.rs.

// Keep in sync with CentroidParams in src/kernels/knn/centroid_update.rs.
struct Params {
    points: u32,
    clusters: u32,
    dim: u32,
    // Points per chunk (CHUNK in the launcher) and chunks.
    chunk: u32,
    chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read> assign: array<u32>;
@group(0) @binding(3) var<storage, read> centroids: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn partial_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = wid.y * groups.x + wid.x;
    let dim = params.dim;
    let dim_blocks = (dim + WG - 1u) / WG;
    let block = id % dim_blocks;
    let t = id / dim_blocks;
    let chunk = t % params.chunks;
    let c = t / params.chunks;
    if c >= params.clusters {
        return;
    }
    let j = block * WG + lid;
    let start = chunk * params.chunk;
    let end = min(start + params.chunk, params.points);
    var sum = 0.0;
    var count = 0u;
    for (var i = start; i < end; i++) {
        if assign[i] == c {
            count += 1u;
            if j < dim {
                sum += points[i * dim + j];
            }
        }
    }
    let slot = (c * params.chunks + chunk) * (dim + 1u);
    if j < dim {
        partials[slot + j] = sum;
    }
    if j == 0u {
        partials[slot + dim] = bitcast<f32>(count);
    }
}

@compute @workgroup_size(64)
fn finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let at = (wid.y * groups.x + wid.x) * WG + lid;
    let dim = params.dim;
    if at >= params.clusters * dim {
        return;
    }
    let c = at / dim;
    let j = at % dim;
    var sum = 0.0;
    var count = 0u;
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        let slot = (c * params.chunks + chunk) * (dim + 1u);
        sum += partials[slot + j];
        count += bitcast<u32>(partials[slot + dim]);
    }
    out[at] = select(centroids[at], sum / f32(count), count > 0u);
}
