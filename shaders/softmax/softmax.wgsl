// Softmax along one axis: out = exp(x - max) / sum(exp(x - max)), max-subtracted so that exp never
// overflows (logits of +-1000 are fine; every exponent is <= 0 and the largest term is exactly 1,
// so the sum is in [1, axis_len]). The input is viewed as [outer, axis_len, inner]; one workgroup
// per row of axis_len values, three strided passes over it: max, sum of exponentials, write.
// exp is recomputed in the last pass rather than stored and rescaled: a third read of x costs less
// than a write and a read of out. No subgroup operations (sizes differ: 8 on lavapipe, 32, 64).
// A row that is all -inf gives NaN, as torch.softmax does.
// CPU twin: src/cpu/softmax/softmax.rs.

// Keep in sync with SoftmaxParams in src/kernels/softmax/softmax.rs.
struct Params {
    // outer * inner: rows, one workgroup each.
    rows: u32,
    axis_len: u32,
    // Distance between consecutive axis elements (product of the dims after the axis).
    inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// A power of two for the halving trees; 256 is the largest workgroup every device accepts, and
// 313 frames or 640 features need only two strided steps per thread.
const WG: u32 = 256u;

var<workgroup> partial: array<f32, WG>;

// Combines the workgroup's partials into partial[0] (max when `is_max`, else sum) and returns it
// to every thread.
fn workgroup_reduce(lid: u32, is_max: bool) -> f32 {
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        // Every partial of the previous level is written before any thread reads it.
        workgroupBarrier();
        if lid < stride {
            let a = partial[lid];
            let b = partial[lid + stride];
            partial[lid] = select(a + b, max(a, b), is_max);
        }
    }
    // partial[0] (written by thread 0 in the last level) is final before all threads read it.
    workgroupBarrier();
    let total = partial[0];
    // Every thread has read partial[0] before any thread overwrites its slot in the next pass.
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Over 65535 rows the grid is 2-D (grid_1d); the row id is the linear workgroup id.
    let row = wid.y * groups.x + wid.x;
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let o = row / params.inner;
    let i = row % params.inner;
    let base = o * params.axis_len * params.inner + i;

    // Max starts from the row's first element rather than -inf (not a WGSL constant); threads with
    // no elements of their own then contribute a value already in the row.
    var m = x[base];
    for (var k = lid; k < params.axis_len; k += WG) {
        m = max(m, x[base + k * params.inner]);
    }
    partial[lid] = m;
    let row_max = workgroup_reduce(lid, true);

    var s = 0.0;
    for (var k = lid; k < params.axis_len; k += WG) {
        s += exp(x[base + k * params.inner] - row_max);
    }
    partial[lid] = s;
    let total = workgroup_reduce(lid, false);

    for (var k = lid; k < params.axis_len; k += WG) {
        let j = base + k * params.inner;
        out[j] = exp(x[j] - row_max) / total;
    }
}
