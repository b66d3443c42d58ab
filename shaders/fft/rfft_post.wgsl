// Turns a batch of complex FFTs into one-sided real-input spectra (n/2 + 1 bins) as complex,
// magnitude or power.
// Even n: the rows hold the n/2-point FFT Z of z[m] = x[2m] + i x[2m+1] (the real-input trick:
// half the work of an n-point complex FFT); bin k is split back into the spectra of the even and
// odd samples, E = (Z[k] + conj Z[n/2-k]) / 2 and O = (Z[k] - conj Z[n/2-k]) / 2i, and
// X[k] = E + exp(-2 pi i k / n) O.
// Odd n: the rows hold the full n-point FFT of x (imaginary part 0); bins 0..=n/2 are copied.
// CPU twin: src/cpu/fft/rfft_post.rs.

// Keep in sync with RfftPostParams in src/kernels/fft/rfft.rs.
struct Params {
    // Real points per transform.
    n: u32,
    // Output bins per row: n / 2 + 1.
    bins: u32,
    rows: u32,
    // 1: rows hold the packed n/2-point FFT (even n); 0: the full n-point FFT.
    packed: u32,
    // 0 complex (re, im interleaved), 1 magnitude, 2 power.
    kind: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// twiddles[i] = exp(-2 pi i i / n), i < n.
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;

#import common/cmul.wgsl

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = (wid.y * groups.x + wid.x) * WG + lid.x;
    let bins = params.bins;
    if id >= params.rows * bins {
        return;
    }
    let row = id / bins;
    let k = id % bins;
    var x: vec2<f32>;
    if params.packed == 1u {
        let half = params.n / 2u;
        let zk = src[row * half + k % half];
        let zm = src[row * half + (half - k) % half];
        let zc = vec2<f32>(zm.x, -zm.y);
        let e = 0.5 * (zk + zc);
        let d = 0.5 * (zk - zc);
        // d / i = (d.y, -d.x).
        let o = vec2<f32>(d.y, -d.x);
        x = e + cmul(twiddles[k], o);
    } else {
        x = src[row * params.n + k];
    }
    switch params.kind {
        case 0u: {
            out[2u * id] = x.x;
            out[2u * id + 1u] = x.y;
        }
        case 1u: {
            out[id] = length(x);
        }
        default: {
            out[id] = dot(x, x);
        }
    }
}
