// PReLU as torch.nn.PReLU: out[i] = x[i] where x[i] >= 0, else weight[c] * x[i], with c the
// index along the channel axis. x is viewed as [outer, channels, inner]; one thread per element.
// A single shared slope is the case channels = 1.
// CPU twin: src/cpu/elementwise/prelu.rs.

// Keep in sync with PreluParams in src/kernels/elementwise/prelu.rs.
struct Params {
    n: u32,
    // Elements after the channel axis (product of dims 2..); 1 for [N, C] and [C].
    inner: u32,
    // Length of weight: the channel count, or 1 for one shared slope.
    channels: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

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
    let c = (i / params.inner) % params.channels;
    let v = x[i];
    out[i] = select(weight[c] * v, v, v >= 0.0);
}
