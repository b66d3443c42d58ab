// Mean squared error, per row and its gradient:
//   rows:     out[r] = mean_j (p[r, j] - t[r, j])^2   (the autoencoder's per-vector score; the
//             batch loss is the mean of these)
//   backward: g[i] = scale * 2 (p[i] - t[i]) / (rows * cols)   (d mean-loss / d p)
// `rows` walks a row in one thread (short rows, e.g. the autoencoder's 640); `rows_wide` gives
// a long row one workgroup (strided partial sums, then a tree), so that no invocation passes
// lavapipe's loop budget (README, "Portability: loop budget per invocation"); the launcher picks.
// CPU twin: src/cpu/loss/mse.rs.

// Keep in sync with MseParams in src/kernels/loss/mse.rs.
struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> prediction: array<f32>;
@group(0) @binding(2) var<storage, read> target_values: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = (wid.y * groups.x + wid.x) * WG + lid;
    if r >= params.rows {
        return;
    }
    var sum = 0.0;
    for (var j = 0u; j < params.cols; j++) {
        let d = prediction[r * params.cols + j] - target_values[r * params.cols + j];
        sum += d * d;
    }
    out[r] = sum / f32(params.cols);
}

@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.rows * params.cols {
        return;
    }
    let n = f32(params.rows) * f32(params.cols);
    out[i] = params.scale * 2.0 * (prediction[i] - target_values[i]) / n;
}

alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn rows_wide(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.y * groups.x + wid.x;
    if r >= params.rows {
        return;
    }
    var sum = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        let d = prediction[r * params.cols + j] - target_values[r * params.cols + j];
        sum += d * d;
    }
    tree_sum(lid, sum);
    if lid == 0u {
        out[r] = partial[0] / f32(params.cols);
    }
}
