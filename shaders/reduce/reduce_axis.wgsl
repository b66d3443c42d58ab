// Sum, mean or max along one axis. The input is viewed as [outer, axis_len, inner] and the output
// as [outer, inner]; each output element reduces one strided "row" of axis_len values.
// Two entry points, chosen by the launcher from the axis length:
// - `main`, one workgroup per row: its 256 threads stride over the axis, then combine their
//   partials with a tree in workgroup memory. No subgroup operations: subgroup sizes differ
//   between devices (8 on lavapipe, 32, 64) and not every device has them.
// - `serial`, one thread per row, for short axes (sum over a batch of 32, a [70000, 3] tensor):
//   a workgroup per row would leave most of its 256 threads idle and pay 8 barrier levels for a
//   handful of values, and along an outer axis neighbouring threads read neighbouring addresses.
// - `chunked`, for long axes: one workgroup per (row, chunk of `chunk` axis values) writes the
//   chunk's sum (divided by axis_len for a mean) or max to `out` viewed as [outer, chunks,
//   inner]; the launcher then reduces that over its chunks axis with `main` or `serial` (sum or
//   max). Many workgroups share a long row, and no invocation passes lavapipe's loop budget
//   (README, "Portability: loop budget per invocation").
// CPU twin: src/cpu/reduce/reduce_axis.rs.

// Keep in sync with ReduceParams in src/kernels/reduce/reduce_axis.rs.
struct Params {
    // outer * inner: output elements, one workgroup each.
    rows: u32,
    axis_len: u32,
    // Distance between consecutive axis elements (product of the dims after the axis).
    inner: u32,
    // `chunked` only: axis values per chunk, chunks per row.
    chunk: u32,
    chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// 0 = sum, 1 = mean, 2 = max.
override OP: u32 = 0u;
// A power of two (the tree halves it); 256 is the largest workgroup every WebGPU device accepts,
// and a full one keeps 256 loads in flight along a long axis.
const WG: u32 = 256u;

var<workgroup> partial: array<f32, WG>;

fn combine(a: f32, b: f32) -> f32 {
    if OP == 2u {
        return max(a, b);
    }
    return a + b;
}

// Mean divides the row's sum by its length; sum and max are final as they are.
fn finish(r: f32) -> f32 {
    if OP == 1u {
        return r / f32(params.axis_len);
    }
    return r;
}

// Index of element 0 of `row` in x.
fn row_base(row: u32) -> u32 {
    let o = row / params.inner;
    let i = row % params.inner;
    return o * params.axis_len * params.inner + i;
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Over 65535 rows the grid is 2-D (grid_1d); the row id is the linear workgroup id.
    let row = wid.y * groups.x + wid.x;
    // Uniform across the workgroup (built from workgroup ids and uniforms), so the barriers below
    // stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let base = row_base(row);

    // Max starts from the row's first element rather than -inf (which WGSL cannot spell as a
    // constant): max is idempotent, so threads with no elements of their own add nothing.
    var acc = 0.0;
    if OP == 2u {
        acc = x[base];
    }
    for (var k = lid; k < params.axis_len; k += WG) {
        acc = combine(acc, x[base + k * params.inner]);
    }
    partial[lid] = acc;

    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        // Every partial of the previous level is written before any thread reads it.
        workgroupBarrier();
        if lid < stride {
            partial[lid] = combine(partial[lid], partial[lid + stride]);
        }
    }
    if lid == 0u {
        out[row] = finish(partial[0]);
    }
}

@compute @workgroup_size(256)
fn serial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = (wid.y * groups.x + wid.x) * WG + lid;
    if row >= params.rows {
        return;
    }
    let base = row_base(row);
    // Same start as `main`'s threads: 0, or the row's first element for max.
    var acc = 0.0;
    if OP == 2u {
        acc = x[base];
    }
    for (var k = 0u; k < params.axis_len; k++) {
        acc = combine(acc, x[base + k * params.inner]);
    }
    out[row] = finish(acc);
}

@compute @workgroup_size(256)
fn chunked(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let id = wid.y * groups.x + wid.x;
    let chunk = id % params.chunks;
    let row = id / params.chunks;
    if row >= params.rows {
        return;
    }
    let base = row_base(row);
    let start = chunk * params.chunk;
    let end = min(start + params.chunk, params.axis_len);
    var acc = 0.0;
    if OP == 2u {
        acc = x[base + start * params.inner];
    }
    for (var k = start + lid; k < end; k += WG) {
        acc = combine(acc, x[base + k * params.inner]);
    }
    partial[lid] = acc;
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if lid < stride {
            partial[lid] = combine(partial[lid], partial[lid + stride]);
        }
    }
    if lid == 0u {
        var r = partial[0];
        if OP == 1u {
            r /= f32(params.axis_len);
        }
        let o = row / params.inner;
        let i = row % params.inner;
        out[(o * params.chunks + chunk) * params.inner + i] = r;
    }
}
