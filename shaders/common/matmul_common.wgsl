// What matmul/matmul.wgsl and matmul_vec4.wgsl share: the parameters, the tile-shape override
// constants the launcher specialises, and the activation of the epilogue. Both import this file.

// Keep in sync with MatmulParams in src/kernels/matmul/matmul.rs.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    // Elements between consecutive batch items (0: the operand is shared by the batch).
    batch_stride_a: u32,
    batch_stride_b: u32,
    // 0 none, 1 ReLU, 2 LeakyReLU(alpha), 3 sigmoid, 4 tanh, 5 10 log10(max(x, alpha)),
    // 6 ln(max(x, alpha)).
    activation: u32,
    alpha: f32,
    // 0 none, 1 bias[col] (length N), 2 bias[row] (length M).
    has_bias: u32,
    // K elements per split and the number of splits (1: no split, epilogue in `main`).
    k_chunk: u32,
    splits: u32,
    // Batch items of the output (bounds `reduce_splits`' grid).
    batch: u32,
    // Elements from the start of a and b to their first used element (a row range of a larger
    // matrix; the kNN scores a block of queries against a tile of the database).
    offset_a: u32,
    offset_b: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn activate(x: f32) -> f32 {
    switch params.activation {
        case 1u: {
            return max(x, 0.0);
        }
        case 2u: {
            return select(params.alpha * x, x, x >= 0.0);
        }
        case 3u: {
            // Stable for large |x|: exp of a non-positive argument only.
            let e = exp(-abs(x));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
        }
        case 4u: {
            let e = exp(-2.0 * abs(x));
            return sign(x) * (1.0 - e) / (1.0 + e);
        }
        case 5u: {
            // 10 log10(v) = log2(v) * 10 log10(2); WGSL has no log10.
            return log2(max(x, params.alpha)) * 3.0102999566398120;
        }
        case 6u: {
            return log(max(x, params.alpha));
        }
        default: {
            return x;
        }
    }
}
