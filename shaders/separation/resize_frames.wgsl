// Pads with zeros or crops the last axis: out[r, t] = x[r, t] for t < min(len_in, len_out), 0
// for len_in <= t < len_out. Conv-TasNet pads its input at the end to a whole number of
// encoder strides and crops its output back; each is the other's backward.
// CPU twin: src/cpu/separation/resize_frames.rs.

// Keep in sync with ResizeFramesParams in src/kernels/separation/resize_frames.rs.
struct Params {
    // rows * len_out.
    n: u32,
    len_in: u32,
    len_out: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.n {
        return;
    }
    let r = i / params.len_out;
    let t = i % params.len_out;
    var v = 0.0;
    if t < params.len_in {
        v = x[r * params.len_in + t];
    }
    out[i] = v;
}
