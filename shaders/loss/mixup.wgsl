// Mixup of a batch with its reverse (REFERENCE-SPECS §4: the partner of sample b is B - 1 - b),
// one lambda per sample or one for the batch. MODE 0 (inputs, and soft labels of classic
// mixup): out = lambda x[b] + (1 - lambda) x[B-1-b]. MODE 1 (Wilkinghoff's labels):
// out = max(lambda y[b], (1 - lambda) y[B-1-b]). One thread per element of [batch, features].
// CPU twin: src/cpu/loss/mixup.rs.

// Keep in sync with MixupParams in src/kernels/loss/mixup.rs.
struct Params {
    batch: u32,
    features: u32,
    // 1 for one lambda shared by the batch, else batch.
    lambdas: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> lambda: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// 0 = linear mix, 1 = elementwise max of the weighted pair.
override MODE: u32 = 0u;
const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.batch * params.features {
        return;
    }
    let b = i / params.features;
    let partner = (params.batch - 1u - b) * params.features + i % params.features;
    let l = lambda[select(b, 0u, params.lambdas == 1u)];
    let own = l * x[i];
    let other = (1.0 - l) * x[partner];
    out[i] = select(own + other, max(own, other), MODE == 1u);
}
