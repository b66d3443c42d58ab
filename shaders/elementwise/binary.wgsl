// Elementwise add / mul: out[i] = a[i] op b[i % b_len]. b of the same length as a is the plain
// case; a shorter b that divides a's length broadcasts over the leading axes (a bias, a scalar).
// CPU twin: src/cpu/elementwise/binary.rs.

// Keep in sync with BinaryParams in src/kernels/elementwise/binary.rs.
struct Params {
    n: u32,
    b_len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// 0 = add, 1 = mul.
override OP: u32 = 0u;
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
    let x = a[i];
    let y = b[i % params.b_len];
    if OP == 0u {
        out[i] = x + y;
    } else {
        out[i] = x * y;
    }
}
