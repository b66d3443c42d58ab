// Batched tiled matmul on 16-byte vectors: the product, parameters, split-K layout and epilogue
// of matmul.wgsl, for operands whose stored rows are whole vec4s:
//   out[b] = act(op(A[b]) x op(B[b]) + bias)
// The launcher takes this path when A's and B's stored row lengths and N are multiples of 4 and
// every binding starts on a 16-byte boundary; matmul.wgsl (scalar loads) takes the rest.
//
// Global memory is read and written only as vec4 (one 16-byte transaction per invocation and
// load). Workgroup memory holds BK-deep slices k-major with 4 consecutive rows (of A) or columns
// (of B) per vec4, whatever the stored layout: operands stored with K contiguous ([M, K] A, [N, K]
// B) are staged as 4 x 4 blocks and transposed in registers on the way in, so the inner loop is
// the same outer product for all four layouts. Each thread owns TM / 4 quads of rows and TN / 4
// quads of columns, strided across the workgroup: neighbouring threads read neighbouring vec4s of
// tile_b (no bank conflicts) and one broadcast vec4 of tile_a, and store neighbouring vec4s of out.
// TM and TN are 4, 8 or 16 with TM x TN <= 128 (accumulators in registers); every loop bound is an override
// constant, so after specialisation the driver sees constant trip counts and unrolls.
//
// Summation order per output is K ascending with one fma per step, as in matmul.wgsl: both paths
// give bit-identical results for the same K split.
// CPU twin: src/cpu/matmul/matmul.rs.

#import common/matmul_common.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

// tile_a[kk * (BM / 4) + q] = rows 4q..4q+3 of the slice at depth kk; tile_b likewise columns.
var<workgroup> tile_a: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> tile_b: array<vec4<f32>, BK * BN / 4u>;

// Rows `row`..`row + 3` (those below `rows`) of a row-major matrix with `stride4` vec4s per row,
// vec4 column `quad`, from vec4 `base`; zeros for rows past the end and when `inside` is false.
fn load_block(
    src_is_a: bool,
    base: u32,
    row: u32,
    rows: u32,
    quad: u32,
    stride4: u32,
    inside: bool,
) -> array<vec4<f32>, 4> {
    var r: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
        var v = vec4<f32>(0.0);
        if inside && row + t < rows {
            let index = base + (row + t) * stride4 + quad;
            if src_is_a {
                v = a[index];
            } else {
                v = b[index];
            }
        }
        r[t] = v;
    }
    return r;
}

// Stages the BK x BM slice of op(A) starting at depth k0 (zeros past M and past k_end).
fn stage_a(tid: u32, threads: u32, base: u32, row0: u32, k0: u32, k_end: u32) {
    let m = params.m;
    if TRANS_A {
        // Stored [K, M]: a slice row is BM / 4 consecutive vec4s of one stored row.
        for (var e = tid; e < BK * BM / 4u; e += threads) {
            let q = e % (BM / 4u);
            let kk = e / (BM / 4u);
            let row = row0 + 4u * q;
            let kg = k0 + kk;
            var v = vec4<f32>(0.0);
            if row < m && kg < k_end {
                v = a[base + kg * (m / 4u) + row / 4u];
            }
            tile_a[kk * (BM / 4u) + q] = v;
        }
    } else {
        // Stored [M, K]: 4 rows x 4 depths per block, transposed into 4 k-major vec4s.
        // Consecutive threads take consecutive depth quads of one row quad (coalesced reads).
        for (var e = tid; e < BK * BM / 16u; e += threads) {
            let kq = e % (BK / 4u);
            let q = e / (BK / 4u);
            let kg = k0 + 4u * kq;
            let r = load_block(true, base, row0 + 4u * q, m, kg / 4u, params.k / 4u, kg < k_end);
            let t0 = 4u * kq * (BM / 4u) + q;
            tile_a[t0] = vec4<f32>(r[0].x, r[1].x, r[2].x, r[3].x);
            tile_a[t0 + BM / 4u] = vec4<f32>(r[0].y, r[1].y, r[2].y, r[3].y);
            tile_a[t0 + 2u * (BM / 4u)] = vec4<f32>(r[0].z, r[1].z, r[2].z, r[3].z);
            tile_a[t0 + 3u * (BM / 4u)] = vec4<f32>(r[0].w, r[1].w, r[2].w, r[3].w);
        }
    }
}

// Stages the BK x BN slice of op(B) starting at depth k0 (zeros past N and past k_end).
fn stage_b(tid: u32, threads: u32, base: u32, col0: u32, k0: u32, k_end: u32) {
    let n = params.n;
    if TRANS_B {
        // Stored [N, K]: blocks of 4 columns x 4 depths, transposed.
        for (var e = tid; e < BK * BN / 16u; e += threads) {
            let kq = e % (BK / 4u);
            let q = e / (BK / 4u);
            let kg = k0 + 4u * kq;
            let r = load_block(false, base, col0 + 4u * q, n, kg / 4u, params.k / 4u, kg < k_end);
            let t0 = 4u * kq * (BN / 4u) + q;
            tile_b[t0] = vec4<f32>(r[0].x, r[1].x, r[2].x, r[3].x);
            tile_b[t0 + BN / 4u] = vec4<f32>(r[0].y, r[1].y, r[2].y, r[3].y);
            tile_b[t0 + 2u * (BN / 4u)] = vec4<f32>(r[0].z, r[1].z, r[2].z, r[3].z);
            tile_b[t0 + 3u * (BN / 4u)] = vec4<f32>(r[0].w, r[1].w, r[2].w, r[3].w);
        }
    } else {
        // Stored [K, N]: a slice row is BN / 4 consecutive vec4s of one stored row.
        for (var e = tid; e < BK * BN / 4u; e += threads) {
            let q = e % (BN / 4u);
            let kk = e / (BN / 4u);
            let col = col0 + 4u * q;
            let kg = k0 + kk;
            var v = vec4<f32>(0.0);
            if col < n && kg < k_end {
                v = b[base + kg * (n / 4u) + col / 4u];
            }
            tile_b[kk * (BN / 4u) + q] = v;
        }
    }
}

@compute @workgroup_size(BN / TN, BM / TM, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let threads = (BM / TM) * (BN / TN);
    let batch = wid.z / params.splits;
    let k_begin = (wid.z % params.splits) * params.k_chunk;
    let k_end = min(params.k, k_begin + params.k_chunk);
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    // Offsets and batch strides are multiples of 4 on this path (the launcher checks).
    let base_a = (params.offset_a + batch * params.batch_stride_a) / 4u;
    let base_b = (params.offset_b + batch * params.batch_stride_b) / 4u;

    // acc[(i * 4 + r) * (TN / 4) + j]: row quad i, row r within it, column quad j.
    var acc: array<vec4<f32>, 32>;
    for (var i = 0u; i < TM * TN / 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    var reg_a: array<vec4<f32>, 4>;
    var reg_b: array<vec4<f32>, 4>;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        stage_a(tid, threads, base_a, row0, k0, k_end);
        stage_b(tid, threads, base_b, col0, k0, k_end);
        // The tiles are complete before anyone reads them.
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < TM / 4u; i++) {
                reg_a[i] = tile_a[kk * (BM / 4u) + lid.y + i * (BM / TM)];
            }
            for (var j = 0u; j < TN / 4u; j++) {
                reg_b[j] = tile_b[kk * (BN / 4u) + lid.x + j * (BN / TN)];
            }
            for (var i = 0u; i < TM / 4u; i++) {
                for (var r = 0u; r < 4u; r++) {
                    let av = vec4<f32>(reg_a[i][r]);
                    for (var j = 0u; j < TN / 4u; j++) {
                        let slot = (i * 4u + r) * (TN / 4u) + j;
                        acc[slot] = fma(av, reg_b[j], acc[slot]);
                    }
                }
            }
        }
        // Everyone is done reading before the next slice overwrites the tiles.
        workgroupBarrier();
    }

    let m = params.m;
    let n4 = params.n / 4u;
    // Split K: raw partial sums into slice wid.z of [batch, splits, M, N].
    let split_mode = params.splits > 1u;
    let base_out = select(batch, wid.z, split_mode) * m * n4;
    for (var i = 0u; i < TM / 4u; i++) {
        for (var r = 0u; r < 4u; r++) {
            let row = row0 + 4u * (lid.y + i * (BM / TM)) + r;
            if row < m {
                for (var j = 0u; j < TN / 4u; j++) {
                    let q = col0 / 4u + lid.x + j * (BN / TN);
                    if q < n4 {
                        let v = acc[(i * 4u + r) * (TN / 4u) + j];
                        if split_mode {
                            out[base_out + row * n4 + q] = v;
                        } else {
                            out[base_out + row * n4 + q] = epilogue(v, row, 4u * q);
                        }
                    }
                }
            }
        }
    }
}

fn epilogue(x: vec4<f32>, row: u32, col: u32) -> vec4<f32> {
    var v = x;
    if params.has_bias == 1u {
        v += vec4<f32>(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u]);
    } else if params.has_bias == 2u {
        v += vec4<f32>(bias[row]);
    }
    return vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}
