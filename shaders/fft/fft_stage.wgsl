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
// This stage's radix (2, 3, 4 or 5): a pipeline per radix, so each is straight-line code. The
// butterfly's values are named registers, not arrays indexed by a loop counter: with the radix
// read from the uniform and the values in such arrays, lavapipe (Mesa 22.3) kept about 150 KiB
// per dispatch until the device went (1 MiB per STFT batch; BENCHMARKS.md, live monitoring).
override RADIX: u32 = 4u;

const COS_2PI_5: f32 = 0.30901699437494745;
const COS_4PI_5: f32 = -0.8090169943749475;
const SIN_2PI_5: f32 = 0.9510565162951535;
const SIN_4PI_5: f32 = 0.5877852522924731;
const SIN_2PI_3: f32 = 0.8660254037844386;

#import common/cmul.wgsl

// i * z.
fn rot90(z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(-z.y, z.x);
}

// Input r of this thread's butterfly, twiddled: src[first + r * quarter] * w^(k r).
fn tap(first: u32, r: u32, quarter: u32, k: u32) -> vec2<f32> {
    var w = twiddles[k * r * params.twiddle_step];
    if params.inverse == 1u {
        w.y = -w.y;
    }
    return cmul(src[first + r * quarter], w);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let quarter = params.n / RADIX;
    let id = (wid.y * groups.x + wid.x) * WG + lid.x;
    if id >= params.rows * quarter {
        return;
    }
    let row = id / quarter;
    let j = id % quarter;
    let stride = params.stride;
    let k = j % stride;
    let first = row * params.n + j;
    let out = row * params.n + (j / stride) * stride * RADIX + k;
    // Forward: exp(-2 pi i / R) rotations; inverse: exp(+2 pi i / R).
    let s = select(-1.0, 1.0, params.inverse == 1u);
    let v0 = tap(first, 0u, quarter, k);
    let v1 = tap(first, 1u, quarter, k);
    if RADIX == 2u {
        dst[out] = v0 + v1;
        dst[out + stride] = v0 - v1;
    } else if RADIX == 3u {
        let v2 = tap(first, 2u, quarter, k);
        let t = v1 + v2;
        let u = rot90(v1 - v2) * (s * SIN_2PI_3);
        let m = v0 - 0.5 * t;
        dst[out] = v0 + t;
        dst[out + stride] = m + u;
        dst[out + 2u * stride] = m - u;
    } else if RADIX == 4u {
        let v2 = tap(first, 2u, quarter, k);
        let v3 = tap(first, 3u, quarter, k);
        let a = v0 + v2;
        let b = v0 - v2;
        let c = v1 + v3;
        let d = rot90(v1 - v3) * s;
        dst[out] = a + c;
        dst[out + stride] = b + d;
        dst[out + 2u * stride] = a - c;
        dst[out + 3u * stride] = b - d;
    } else {
        // Radix 5 with the symmetric pairs (1, 4) and (2, 3).
        let v2 = tap(first, 2u, quarter, k);
        let v3 = tap(first, 3u, quarter, k);
        let v4 = tap(first, 4u, quarter, k);
        let t1 = v1 + v4;
        let t2 = v2 + v3;
        let u1 = rot90(v1 - v4) * s;
        let u2 = rot90(v2 - v3) * s;
        let m1 = v0 + COS_2PI_5 * t1 + COS_4PI_5 * t2;
        let m2 = v0 + COS_4PI_5 * t1 + COS_2PI_5 * t2;
        let n1 = SIN_2PI_5 * u1 + SIN_4PI_5 * u2;
        let n2 = SIN_4PI_5 * u1 - SIN_2PI_5 * u2;
        dst[out] = v0 + t1 + t2;
        dst[out + stride] = m1 + n1;
        dst[out + 2u * stride] = m2 + n2;
        dst[out + 3u * stride] = m2 - n2;
        dst[out + 4u * stride] = m1 - n1;
    }
}
