// Batched tiled matmul with a fused epilogue:
//   out[b] = act(op(A[b]) x op(B[b]) + bias)
// op(A) is M x K (A stored [M, K], or [K, M] when TRANS_A); op(B) is K x N (B stored [K, N], or
// [N, K] when TRANS_B). A batch stride of 0 broadcasts one operand over the batch.
//
// One workgroup computes a BM x BN tile of out with (BM / TM) x (BN / TN) threads; each thread
// accumulates a TM x TN block in registers (2-D register blocking) from BK-deep slices of A and B
// staged in workgroup memory. Tile sizes are override constants so that the launcher can pick
// a shape per problem without a new shader. TM and TN are at most 8 (the register arrays below);
// every loop bound is an override constant, so after specialisation the driver sees constant trip
// counts and can unroll and keep the arrays in registers.
//
// Split K: with `splits` > 1 the grid's z is batch x splits and each workgroup accumulates only
// its `k_chunk` slice of K into `out` laid out [batch, splits, M, N] (no epilogue); the second
// entry point, `reduce_splits`, sums the slices in split order (deterministic) and applies bias
// and activation. The launcher splits K when few tiles would leave the GPU idle (thin weight
// gradients: M x N small, K = batch x positions) and always when one workgroup's K loop would
// exceed the loop budget of software drivers (lavapipe ends every loop of an invocation after
// 65,535 iterations in total, silently).
// CPU twin: src/cpu/matmul/matmul.rs.

#import common/matmul_common.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const MAX_T: u32 = 8u;

// Slices of A and B, k-major: tile_a[kk * BM + mm], tile_b[kk * BN + nn].
// A thread owns rows lid.y + i * (BM / TM) and columns lid.x + j * (BN / TN) of the tile (strided,
// not contiguous blocks): neighbouring threads then read neighbouring words of tile_b (no bank
// conflicts), share one broadcast word of tile_a, and write neighbouring words of out.
var<workgroup> tile_a: array<f32, BK * BM>;
var<workgroup> tile_b: array<f32, BK * BN>;

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
    let base_a = params.offset_a + batch * params.batch_stride_a;
    let base_b = params.offset_b + batch * params.batch_stride_b;
    let m = params.m;
    let n = params.n;
    let k = params.k;

    var acc: array<f32, 64>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = 0.0;
    }
    var reg_a: array<f32, MAX_T>;
    var reg_b: array<f32, MAX_T>;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // Stage A: consecutive threads take consecutive addresses of global memory
        // (along k for [M, K], along m for [K, M]).
        for (var e = tid; e < BM * BK; e += threads) {
            var mm: u32;
            var kk: u32;
            if TRANS_A {
                mm = e % BM;
                kk = e / BM;
            } else {
                kk = e % BK;
                mm = e / BK;
            }
            let row = row0 + mm;
            let kg = k0 + kk;
            var v = 0.0;
            if row < m && kg < k_end {
                if TRANS_A {
                    v = a[base_a + kg * m + row];
                } else {
                    v = a[base_a + row * k + kg];
                }
            }
            tile_a[kk * BM + mm] = v;
        }
        // Stage B likewise (along n for [K, N], along k for [N, K]).
        for (var e = tid; e < BN * BK; e += threads) {
            var nn: u32;
            var kk: u32;
            if TRANS_B {
                kk = e % BK;
                nn = e / BK;
            } else {
                nn = e % BN;
                kk = e / BN;
            }
            let col = col0 + nn;
            let kg = k0 + kk;
            var v = 0.0;
            if col < n && kg < k_end {
                if TRANS_B {
                    v = b[base_b + col * k + kg];
                } else {
                    v = b[base_b + kg * n + col];
                }
            }
            tile_b[kk * BN + nn] = v;
        }
        // The tiles are complete before anyone reads them.
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < TM; i++) {
                reg_a[i] = tile_a[kk * BM + lid.y + i * (BM / TM)];
            }
            for (var j = 0u; j < TN; j++) {
                reg_b[j] = tile_b[kk * BN + lid.x + j * (BN / TN)];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(reg_a[i], reg_b[j], acc[i * TN + j]);
                }
            }
        }
        // Everyone is done reading before the next slice overwrites the tiles.
        workgroupBarrier();
    }

    // Split K: this workgroup's raw partial sums, slice wid.z of [batch, splits, M, N].
    let split_mode = params.splits > 1u;
    let base_out = select(batch * m * n, wid.z * m * n, split_mode);
    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y + i * (BM / TM);
        if row >= m {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + lid.x + j * (BN / TN);
            if col < n {
                let v = acc[i * TN + j];
                if split_mode {
                    out[base_out + row * n + col] = v;
                } else {
                    out[base_out + row * n + col] = epilogue(v, row, col);
                }
            }
        }
    }
}

fn epilogue(x: f32, row: u32, col: u32) -> f32 {
    var v = x;
    if params.has_bias == 1u {
        v += bias[col];
    } else if params.has_bias == 2u {
        v += bias[row];
    }
    return activate(v);
}

// Sums the split slices of `a` ([batch, splits, M, N]) into `out` ([batch, M, N]) with the
// epilogue; one thread per output element, the grid spread over x and y.
@compute @workgroup_size(256, 1, 1)
fn reduce_splits(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let mn = params.m * params.n;
    let index = (wid.y * groups.x + wid.x) * 256u + tid;
    if index >= params.batch * mn {
        return;
    }
    let batch = index / mn;
    let within = index % mn;
    var sum = 0.0;
    for (var s = 0u; s < params.splits; s++) {
        sum += a[(batch * params.splits + s) * mn + within];
    }
    out[index] = epilogue(sum, within / params.n, within % params.n);
}
