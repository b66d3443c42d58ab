// Per-query top-k selection over one tile of scores, merged into a running best list:
//   best[q] = the k largest of best[q] and { (scores[r, c], index_base + c) }
// ordered by score descending, ties broken by the LOWER database index. One workgroup per query
// row. Called once per score tile (and per database chunk), so the running list in best_scores /
// best_indices is the merge of every tile seen so far: tiles and chunks cost one selection each
// and their top-k are merged on the GPU without a separate merge pass.
//
// Workgroup memory holds SORT_N (score, index) pairs: [0, K_CAP) the running list, sorted, and
// [K_CAP, SORT_N) a buffer of candidates. Tiles are scanned 256 columns at a time; a column
// enters the buffer only if it beats the current k-th best (most columns of a long search do
// not, so most rounds do no sorting). When the buffer might overflow on the next round, or at
// the end, the whole array is bitonic-sorted and its first K_CAP entries are the new list. A
// candidate that ties the k-th best loses: its index is higher than every index already seen,
// because tiles are visited in increasing index order.
//
// Empty slots hold the sentinel (-3.4028235e38, 0xffffffff); a score must beat it to enter, so
// NaN and -inf scores are never selected (the list keeps sentinels if fewer than k are finite).
// No subgroup operations.
// CPU twin: src/cpu/knn/topk_select.rs.

// Keep in sync with TopkParams in src/kernels/knn/topk_select.rs.
struct Params {
    // Query rows in the score tile, valid columns, and elements between score rows.
    rows: u32,
    cols: u32,
    score_stride: u32,
    // Row of best_* that score row 0 belongs to.
    q0: u32,
    // Database index of score column 0.
    index_base: u32,
    k: u32,
    // 1: the best lists hold nothing yet (start from sentinels instead of reading them).
    first: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> best_scores: array<f32>;
@group(0) @binding(3) var<storage, read_write> best_indices: array<u32>;

// A power of two >= k, and a power of two >= K_CAP + WG (the launcher chooses both).
override K_CAP: u32 = 256u;
override SORT_N: u32 = 512u;

const WG: u32 = 256u;
const EMPTY_SCORE: f32 = -3.4028235e38;
const EMPTY_INDEX: u32 = 0xffffffffu;

var<workgroup> keys: array<f32, SORT_N>;
var<workgroup> ids: array<u32, SORT_N>;
var<workgroup> fill: atomic<u32>;
var<workgroup> fill_now: u32;

// Whether (sa, ia) comes before (sb, ib): higher score first, then lower index.
fn before(sa: f32, ia: u32, sb: f32, ib: u32) -> bool {
    return sa > sb || (sa == sb && ia < ib);
}

// Sorts keys/ids by `before` (bitonic network; every block direction is fixed by (i & size), so
// the last, full-size block is in `before` order).
fn bitonic_sort(lid: u32) {
    for (var size = 2u; size <= SORT_N; size <<= 1u) {
        for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
            // The previous stage's exchanges are visible before this stage reads.
            workgroupBarrier();
            for (var t = lid; t < SORT_N / 2u; t += WG) {
                let i = 2u * stride * (t / stride) + t % stride;
                let j = i + stride;
                let sa = keys[i];
                let ia = ids[i];
                let sb = keys[j];
                let ib = ids[j];
                let forward = (i & size) == 0u;
                let swap = select(before(sa, ia, sb, ib), before(sb, ib, sa, ia), forward);
                if swap {
                    keys[i] = sb;
                    ids[i] = ib;
                    keys[j] = sa;
                    ids[j] = ia;
                }
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.y * groups.x + wid.x;
    // Uniform across the workgroup: the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let k = params.k;
    let best_base = (params.q0 + row) * k;
    for (var i = lid; i < SORT_N; i += WG) {
        var s = EMPTY_SCORE;
        var id = EMPTY_INDEX;
        if i < k && params.first == 0u {
            s = best_scores[best_base + i];
            id = best_indices[best_base + i];
        }
        keys[i] = s;
        ids[i] = id;
    }
    if lid == 0u {
        atomicStore(&fill, 0u);
    }
    workgroupBarrier();

    let room = SORT_N - K_CAP;
    let cols = params.cols;
    let score_base = row * params.score_stride;
    for (var base = 0u; base < cols; base += WG) {
        // keys[k - 1] is only rewritten by a sort, which every thread passes a barrier to enter.
        let kth_score = keys[k - 1u];
        let kth_index = ids[k - 1u];
        let c = base + lid;
        if c < cols {
            let s = scores[score_base + c];
            let id = params.index_base + c;
            if before(s, id, kth_score, kth_index) {
                let slot = atomicAdd(&fill, 1u);
                keys[K_CAP + slot] = s;
                ids[K_CAP + slot] = id;
            }
        }
        // Every append of this round is done before the count is read.
        workgroupBarrier();
        if lid == 0u {
            fill_now = atomicLoad(&fill);
        }
        let filled = workgroupUniformLoad(&fill_now);
        if filled + WG > room || (base + WG >= cols && filled > 0u) {
            bitonic_sort(lid);
            for (var i = K_CAP + lid; i < SORT_N; i += WG) {
                keys[i] = EMPTY_SCORE;
                ids[i] = EMPTY_INDEX;
            }
            if lid == 0u {
                atomicStore(&fill, 0u);
            }
            // The buffer is empty again before the next round appends to it.
            workgroupBarrier();
        }
    }

    for (var i = lid; i < k; i += WG) {
        best_scores[best_base + i] = keys[i];
        best_indices[best_base + i] = ids[i];
    }
}
