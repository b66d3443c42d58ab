// Score tile of a k-nearest-neighbour search: for a block of queries and a tile of database rows,
//   out[r, c] = score(queries[q0 + r], database[j0 + c])
// with score = the dot product (cosine similarity once both sides are L2-normalised, METRIC 0)
// or minus the squared Euclidean distance (METRIC 1), so that larger is always nearer and one
// selection kernel (topk_select.wgsl) serves both. The database is bound as words: f32 rows are
// read by bitcast, f16 rows are widened by bit operations (f16_to_f32 below), so f16 storage
// needs neither `enable f16` nor naga's FLOAT16_IN_FLOAT32 capability (unpack2x16float);
// accumulation is f32 either way.
//
// The tiling is matmul.wgsl's (A = queries [rows, dim], B = database stored [N, K]): a 64 x 64
// tile of out per workgroup, 4 x 4 outputs per thread held in registers, 16-deep slices of both
// operands staged in workgroup memory. Out-of-range elements are staged as 0, which adds 0 to a
// dot product and (0 - 0)^2 = 0 to a distance.
// CPU twin: src/cpu/knn/similarity.rs.

// Keep in sync with SimilarityParams in src/kernels/knn/similarity.rs.
struct Params {
    // Queries in the block and database rows in the tile (out is rows x cols).
    rows: u32,
    cols: u32,
    dim: u32,
    // First query row of the block, first database row of the tile.
    q0: u32,
    j0: u32,
    // Elements between consecutive rows of out.
    out_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read> database: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// 0: dot product, 1: minus the squared Euclidean distance.
override METRIC: u32 = 0u;
// Database storage: false f32, true packed f16.
override DB_F16: bool = false;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const THREADS: u32 = 256u;

// k-major slices, as in matmul.wgsl: tile_q[kk * BM + mm], tile_x[kk * BN + nn].
var<workgroup> tile_q: array<f32, 1024>;
var<workgroup> tile_x: array<f32, 1024>;

// IEEE binary16 bits (low 16 of h) to f32, exactly: every f16 value is an f32 value.
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let exponent = (h >> 10u) & 0x1fu;
    let mantissa = h & 0x3ffu;
    if exponent == 0u {
        // Zero or subnormal: mantissa * 2^-24, exact in f32.
        let magnitude = f32(mantissa) * 5.9604645e-8;
        return select(magnitude, -magnitude, sign != 0u);
    }
    if exponent == 31u {
        // Infinity or NaN.
        return bitcast<f32>(sign | 0x7f800000u | (mantissa << 13u));
    }
    return bitcast<f32>(sign | ((exponent + 112u) << 23u) | (mantissa << 13u));
}

fn database_at(e: u32) -> f32 {
    if DB_F16 {
        // Element e is the low half of word e / 2 when e is even (little-endian f16 arrays).
        return f16_to_f32(database[e >> 1u] >> (16u * (e & 1u)));
    }
    return bitcast<f32>(database[e]);
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let dim = params.dim;

    var acc: array<f32, 16>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = 0.0;
    }
    var reg_q: array<f32, 4>;
    var reg_x: array<f32, 4>;

    for (var k0 = 0u; k0 < dim; k0 += BK) {
        // Consecutive threads take consecutive addresses along the row (both are row-major).
        for (var e = tid; e < BM * BK; e += THREADS) {
            let kk = e % BK;
            let mm = e / BK;
            let row = row0 + mm;
            let kg = k0 + kk;
            var v = 0.0;
            if row < params.rows && kg < dim {
                v = queries[(params.q0 + row) * dim + kg];
            }
            tile_q[kk * BM + mm] = v;
        }
        for (var e = tid; e < BN * BK; e += THREADS) {
            let kk = e % BK;
            let nn = e / BK;
            let col = col0 + nn;
            let kg = k0 + kk;
            var v = 0.0;
            if col < params.cols && kg < dim {
                v = database_at((params.j0 + col) * dim + kg);
            }
            tile_x[kk * BN + nn] = v;
        }
        // The slices are complete before anyone reads them.
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < TM; i++) {
                reg_q[i] = tile_q[kk * BM + lid.y + i * (BM / TM)];
            }
            for (var j = 0u; j < TN; j++) {
                reg_x[j] = tile_x[kk * BN + lid.x + j * (BN / TN)];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    if METRIC == 0u {
                        acc[i * TN + j] = fma(reg_q[i], reg_x[j], acc[i * TN + j]);
                    } else {
                        let diff = reg_q[i] - reg_x[j];
                        acc[i * TN + j] = fma(diff, diff, acc[i * TN + j]);
                    }
                }
            }
        }
        // Everyone is done reading before the next slice overwrites the tiles.
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y + i * (BM / TM);
        if row >= params.rows {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + lid.x + j * (BN / TN);
            if col < params.cols {
                let v = acc[i * TN + j];
                out[row * params.out_stride + col] = select(v, -v, METRIC == 1u);
            }
        }
    }
}
