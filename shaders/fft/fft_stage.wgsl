// One radix-R stage (R in 2, 3, 4, 5) of a batched Stockham autosort FFT in global memory.
// Each of the `rows` transforms has `n` complex points; `stride` is the product of the radices of
// the stages already done. Thread j of a row reads its R inputs n/R apart, twiddles them, does a
// length-R DFT and writes the results `stride` apart (Stockham: out-of-place, so no bit-reversal
// pass and no hazards inside a stage; the launcher ping-pongs two buffers between stages).
// This is the path for sizes too large for workgroup memory (the 160000-point whole-clip
// spectrum) and for the power-of-two transforms inside Bluestein; one dispatch per stage covers
// every row of the batch.
// CPU twin: src/cpu/fft/fft_stage.rs.

// Keep in sync with FftStageParams in src/kernels/fft/plan.rs.
struct Params {
    // Complex points per transform.
    n: u32,
    radix: u32,
    // Product of the radices of earlier stages (Ns).
    stride: u32,
    // Transforms in the batch.
    rows: u32,
    // n / (stride * radix): twiddle-table index per unit of k * r.
    twiddle_step: u32,
    // 1: inverse transform (conjugate twiddles, +i rotations), unnormalised.
    inverse: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// twiddles[i] = exp(-2 pi i i / n), computed on the host in f64 (sin/cos of f32 angles would
// lose about log2(n) bits at n = 80000).
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;

override WG: u32 = 256u;

const COS_2PI_5: f32 = 0.30901699437494745;
const COS_4PI_5: f32 = -0.8090169943749475;
const SIN_2PI_5: f32 = 0.9510565162951535;
const SIN_4PI_5: f32 = 0.5877852522924731;
const SIN_2PI_3: f32 = 0.8660254037844386;

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// i * z.
fn rot90(z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(-z.y, z.x);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let radix = params.radix;
    let quarter = params.n / radix;
    let id = (wid.y * groups.x + wid.x) * WG + lid.x;
    if id >= params.rows * quarter {
        return;
    }
    let row = id / quarter;
    let j = id % quarter;
    let stride = params.stride;
    let k = j % stride;
    let base = row * params.n;
    // Forward: exp(-2 pi i / R) rotations; inverse: exp(+2 pi i / R).
    let s = select(-1.0, 1.0, params.inverse == 1u);

    var v: array<vec2<f32>, 5>;
    for (var r = 0u; r < radix; r++) {
        var w = twiddles[k * r * params.twiddle_step];
        if params.inverse == 1u {
            w.y = -w.y;
        }
        v[r] = cmul(src[base + j + r * quarter], w);
    }

    var y: array<vec2<f32>, 5>;
    switch radix {
        case 2u: {
            y[0] = v[0] + v[1];
            y[1] = v[0] - v[1];
        }
        case 3u: {
            let t = v[1] + v[2];
            let u = rot90(v[1] - v[2]) * (s * SIN_2PI_3);
            let m = v[0] - 0.5 * t;
            y[0] = v[0] + t;
            y[1] = m + u;
            y[2] = m - u;
        }
        case 4u: {
            let a = v[0] + v[2];
            let b = v[0] - v[2];
            let c = v[1] + v[3];
            let d = rot90(v[1] - v[3]) * s;
            y[0] = a + c;
            y[1] = b + d;
            y[2] = a - c;
            y[3] = b - d;
        }
        default: {
            // Radix 5 with the symmetric pairs (1, 4) and (2, 3).
            let t1 = v[1] + v[4];
            let t2 = v[2] + v[3];
            let u1 = rot90(v[1] - v[4]) * s;
            let u2 = rot90(v[2] - v[3]) * s;
            let m1 = v[0] + COS_2PI_5 * t1 + COS_4PI_5 * t2;
            let m2 = v[0] + COS_4PI_5 * t1 + COS_2PI_5 * t2;
            let n1 = SIN_2PI_5 * u1 + SIN_4PI_5 * u2;
            let n2 = SIN_4PI_5 * u1 - SIN_2PI_5 * u2;
            y[0] = v[0] + t1 + t2;
            y[1] = m1 + n1;
            y[4] = m1 - n1;
            y[2] = m2 + n2;
            y[3] = m2 - n2;
        }
    }

    let out = base + (j / stride) * stride * radix + k;
    for (var q = 0u; q < radix; q++) {
        dst[out + q * stride] = y[q];
    }
}
