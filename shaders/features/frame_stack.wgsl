// Frame stacking (the DCASE autoencoder input): x is [batch, frames, bins]; output vector t of a
// clip concatenates frames t .. t + context - 1, giving [batch, frames - context + 1,
// context * bins] (5 x 128 = 640 dims for the DCASE baseline). One thread per output element.
// CPU twin: src/cpu/features/frame_stack.rs.

// Keep in sync with FrameStackParams in src/kernels/features/frame_stack.rs.
struct Params {
    batch: u32,
    frames: u32,
    bins: u32,
    context: u32,
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
    let vectors = params.frames - params.context + 1u;
    let width = params.context * params.bins;
    if i >= params.batch * vectors * width {
        return;
    }
    let b = i / (vectors * width);
    let t = (i / width) % vectors;
    let j = i % width;
    // Element j of vector t is bin (j % bins) of frame t + j / bins.
    out[i] = x[(b * params.frames + t + j / params.bins) * params.bins + j % params.bins];
}
