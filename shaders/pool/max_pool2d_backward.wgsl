// Gradient of 2-D max pooling, as a gather over inputs: one thread per input element sums the
// grad_out of every window that covers it and chose it (saved index == its flat position).
// Overlapping windows that pick the same input accumulate here without atomics.
// CPU twin: src/cpu/pool/max_pool2d_backward.rs.

// params.total: planes * h * w threads, one per input element.
#import common/pool_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> grad_input: array<f32>;

const WG: u32 = 256u;

// First output position whose window (start o * s - p, length k) reaches position `i`:
// the smallest o with o * s - p + k > i, i.e. ceil((i + p - k + 1) / s), at least 0.
fn first_window(i: u32, p: u32, k: u32, s: u32) -> u32 {
    let lo = i32(i + p) - i32(k) + 1;
    if lo <= 0 {
        return 0u;
    }
    return (u32(lo) + s - 1u) / s;
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.total {
        return;
    }
    let ix = i % params.w;
    var t = i / params.w;
    let iy = t % params.h;
    let plane = t / params.h;
    let k = iy * params.w + ix;
    // Windows that start at or before this element: o * s - p <= i.
    let oy_end = min((iy + params.ph) / params.sh + 1u, params.oh);
    let ox_end = min((ix + params.pw) / params.sw + 1u, params.ow);
    let base = plane * params.oh * params.ow;
    var acc = 0.0;
    for (var oy = first_window(iy, params.ph, params.kh, params.sh); oy < oy_end; oy++) {
        for (var ox = first_window(ix, params.pw, params.kw, params.sw); ox < ox_end; ox++) {
            let o = base + oy * params.ow + ox;
            if indices[o] == k {
                acc += grad_out[o];
            }
        }
    }
    grad_input[i] = acc;
}
