// L2 normalisation of the rows of x [rows, dim]: out = x / ||x||, and a zero row stays a zero
// vector (its inverse norm is taken as 0, so cosine similarity with it is 0, never NaN).
// Two entry points: `row_inv_norms` (one thread per row, sum of squares in f32) and `scale_rows`
// (one thread per output word). The output is bound as words so that one shader writes either
// f32 (one element per word, bitcast) or packed f16 (two elements per word, rounded to nearest
// even by bit operations in f32_to_f16, so f16 storage needs neither `enable f16` nor naga's
// FLOAT16_IN_FLOAT32 capability that pack2x16float wants). One thread owns a whole word: with an
// odd dim a word straddles two rows, which is why the norms are a pass of their own.
// CPU twin: src/cpu/knn/normalize_rows.rs.

// Keep in sync with NormalizeParams in src/kernels/knn/normalize_rows.rs.
struct Params {
    rows: u32,
    dim: u32,
    // Words of out: rows * dim (f32) or ceil(rows * dim / 2) (f16).
    words: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> inv_norms: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

// Output storage: false f32, true packed f16 (low half = even element, as little-endian f16
// arrays lay it out).
override OUT_F16: bool = false;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn row_inv_norms(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = (wid.y * groups.x + wid.x) * WG + lid;
    if row >= params.rows {
        return;
    }
    let base = row * params.dim;
    var ss = 0.0;
    for (var j = 0u; j < params.dim; j++) {
        let v = x[base + j];
        ss = fma(v, v, ss);
    }
    inv_norms[row] = select(inverseSqrt(ss), 0.0, ss == 0.0);
}

// f32 to IEEE binary16 bits, rounded to nearest even (as the `half` crate's f16::from_f32):
// overflow gives infinity, tiny values subnormals or zero, NaN stays NaN.
fn f32_to_f16(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    let sign = (b >> 16u) & 0x8000u;
    let biased = (b >> 23u) & 0xffu;
    let mantissa = b & 0x7fffffu;
    if biased == 255u {
        return sign | 0x7c00u | select(0u, 0x200u, mantissa != 0u);
    }
    let e = i32(biased) - 112;
    if e >= 31 {
        return sign | 0x7c00u;
    }
    var half: u32;
    var rest: u32;
    var halfway: u32;
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal: the implicit bit joins the mantissa, shifted right by 14 - e in all.
        let m = mantissa | 0x800000u;
        let shift = u32(14 - e);
        half = m >> shift;
        rest = m & ((1u << shift) - 1u);
        halfway = 1u << (shift - 1u);
    } else {
        half = (u32(e) << 10u) | (mantissa >> 13u);
        rest = mantissa & 0x1fffu;
        halfway = 0x1000u;
    }
    // A carry out of the mantissa moves into the exponent, which is the right rounding.
    if rest > halfway || (rest == halfway && (half & 1u) == 1u) {
        half += 1u;
    }
    return sign | half;
}

fn scaled(e: u32) -> f32 {
    if e >= params.rows * params.dim {
        return 0.0;
    }
    return x[e] * inv_norms[e / params.dim];
}

@compute @workgroup_size(64)
fn scale_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = (wid.y * groups.x + wid.x) * WG + lid;
    if w >= params.words {
        return;
    }
    if OUT_F16 {
        out[w] = f32_to_f16(scaled(2u * w)) | (f32_to_f16(scaled(2u * w + 1u)) << 16u);
    } else {
        out[w] = bitcast<u32>(scaled(w));
    }
}
