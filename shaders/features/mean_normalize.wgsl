// Temporal mean normalisation (Wilkinghoff 001): x is [batch, frames, bins]; every bin of every
// clip has its mean over the frames subtracted. One thread per (clip, bin): neighbouring threads
// read neighbouring bins of one frame, so both passes over the frames are coalesced.
// CPU twin: src/cpu/features/mean_normalize.rs.

// Keep in sync with MeanNormParams in src/kernels/features/mean_normalize.rs.
struct Params {
    batch: u32,
    frames: u32,
    bins: u32,
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
    let column = (wid.y * groups.x + wid.x) * WG + lid;
    if column >= params.batch * params.bins {
        return;
    }
    let b = column / params.bins;
    let f = column % params.bins;
    let base = b * params.frames * params.bins + f;
    var sum = 0.0;
    for (var t = 0u; t < params.frames; t++) {
        sum += x[base + t * params.bins];
    }
    let mean = sum / f32(params.frames);
    for (var t = 0u; t < params.frames; t++) {
        out[base + t * params.bins] = x[base + t * params.bins] - mean;
    }
}
