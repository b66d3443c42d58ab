// Log compression of a power (or magnitude) spectrogram:
//   MODE 0: out = 10 * log10(max(x, eps))   (the DCASE log-mel, in dB)
//   MODE 1: out = ln(max(x, eps))
// WGSL has no log10: 10 * log10(v) = log2(v) * 10 * log10(2).
// CPU twin: src/cpu/features/log_compress.rs.

// Keep in sync with LogParams in src/kernels/features/log_compress.rs.
struct Params {
    n: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override MODE: u32 = 0u;
const WG: u32 = 256u;
const TEN_LOG10_2: f32 = 3.0102999566398120;

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
    let v = max(x[i], params.eps);
    if MODE == 0u {
        out[i] = log2(v) * TEN_LOG10_2;
    } else {
        out[i] = log(v);
    }
}
