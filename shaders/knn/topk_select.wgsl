// Per-query top-k selection over one tile of scores, merged into a running best list:
//   best[q] = the k largest of best[q] and { (scores[r, c], index_base + c) }
// ordered by score descending, ties broken by the LOWER database index. One workgroup per query
// row. Called once per score tile (and per database chunk), so the running list in best_scores /
// best_indices is the merge of every tile seen so far: tiles and chunks cost one selection each
// and their top-k are merged on the GPU without a separate merge pass.
//
// Workgroup memory holds SORT_N (score, index) pairs: [0, K_CAP) the running list, sorted, and
// behind it a candidate buffer of ROOM = SORT_N / 2 slots (>= K_CAP and >= WG).
//
// Scan: every invocation walks its own strided run of columns (lid, lid + WG, ...; adjacent
// invocations read adjacent scores) with the k-th best of the list held in registers, and
// appends only the columns that beat it to the buffer. No barrier while scanning: most columns
// of a long search fail the register test and cost one load and one compare. When the buffer is
// full an invocation stops where it is and keeps that column for the next pass.
//
// Merge (after the scan, or when the buffer filled up): the candidates are bitonic-sorted in a
// power-of-two block just large enough for them, the block is folded against the reversed tail
// of the list (keeping the better of list[K_CAP - 1 - t] and candidate t, which leaves the
// K_CAP best as one bitonic sequence) and log2(K_CAP) half-cleaner stages sort the list again.
// The threshold is then refreshed and the scan resumes; the pass with nothing left ends.
//
// A candidate must beat the k-th best in the full (score, index) order, so ties go to the lower
// index whatever order the invocations append in. Empty slots hold the sentinel
// (-3.4028235e38, 0xffffffff); a score must beat it to enter, so NaN and -inf scores are never
// selected (the list keeps sentinels if fewer than k are finite). No subgroup operations.
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

// A power of two >= k, and a power of two >= K_CAP + WG (the launcher chooses both); either way
// SORT_N / 2 >= K_CAP, so the buffer [K_CAP, K_CAP + ROOM) fits.
override K_CAP: u32 = 256u;
override SORT_N: u32 = 512u;

const WG: u32 = 256u;
const EMPTY_SCORE: f32 = -3.4028235e38;
const EMPTY_INDEX: u32 = 0xffffffffu;

var<workgroup> keys: array<f32, SORT_N>;
var<workgroup> ids: array<u32, SORT_N>;
// Appends attempted since the last merge (may pass ROOM: those appends were refused).
var<workgroup> fill: atomic<u32>;
// Invocations that stopped on a full buffer with columns left.
var<workgroup> pending: atomic<u32>;
// (candidates in the buffer, pending) as read once per pass.
var<workgroup> counts: vec2<u32>;

// Whether (sa, ia) comes before (sb, ib): higher score first, then lower index.
fn before(sa: f32, ia: u32, sb: f32, ib: u32) -> bool {
    return sa > sb || (sa == sb && ia < ib);
}

// Orders slots i < j so that slot i comes first (forward) or last (not forward).
fn exchange(i: u32, j: u32, forward: bool) {
    let sa = keys[i];
    let ia = ids[i];
    let sb = keys[j];
    let ib = ids[j];
    if select(before(sa, ia, sb, ib), before(sb, ib, sa, ia), forward) {
        keys[i] = sb;
        ids[i] = ib;
        keys[j] = sa;
        ids[j] = ia;
    }
}

// Merges the n (a power of two, uniform) first buffer slots into the list. Slots past the
// candidates hold sentinels, which sort last.
fn merge_buffer(lid: u32, n: u32) {
    // Bitonic sort of the buffer block: every block direction is fixed by (i & size), so the
    // last, full-size block is in `before` order.
    for (var size = 2u; size <= n; size <<= 1u) {
        for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
            // The previous stage's exchanges (or the appends) are visible before this stage.
            workgroupBarrier();
            for (var t = lid; t < n / 2u; t += WG) {
                let i = 2u * stride * (t / stride) + t % stride;
                exchange(K_CAP + i, K_CAP + i + stride, (i & size) == 0u);
            }
        }
    }
    workgroupBarrier();
    // Fold: list[K_CAP - 1 - t] against candidate t. The list falls and the reversed
    // candidates rise along the block, so the better of each pair are the K_CAP best of both
    // as one bitonic sequence. The same invocation then clears slot t (no other reads it).
    let folded = min(n, K_CAP);
    for (var t = lid; t < n; t += WG) {
        let j = K_CAP + t;
        if t < folded {
            let i = K_CAP - 1u - t;
            if before(keys[j], ids[j], keys[i], ids[i]) {
                keys[i] = keys[j];
                ids[i] = ids[j];
            }
        }
        keys[j] = EMPTY_SCORE;
        ids[j] = EMPTY_INDEX;
    }
    // Half-cleaners sort the bitonic list.
    for (var stride = K_CAP >> 1u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        for (var t = lid; t < K_CAP / 2u; t += WG) {
            let i = 2u * stride * (t / stride) + t % stride;
            exchange(i, i + stride, true);
        }
    }
    if lid == 0u {
        atomicStore(&fill, 0u);
    }
    // The list is sorted and the buffer empty before anyone reads the threshold or appends.
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
        atomicStore(&pending, 0u);
    }
    workgroupBarrier();

    let room = SORT_N / 2u;
    let cols = params.cols;
    let score_base = row * params.score_stride;
    var c = lid;
    loop {
        // Only a merge rewrites the list, and every invocation passed its last barrier.
        let kth_score = keys[k - 1u];
        let kth_index = ids[k - 1u];
        for (; c < cols; c += WG) {
            let s = scores[score_base + c];
            let id = params.index_base + c;
            if before(s, id, kth_score, kth_index) {
                let slot = atomicAdd(&fill, 1u);
                if slot >= room {
                    // Buffer full: column c is tested again after the merge.
                    break;
                }
                keys[K_CAP + slot] = s;
                ids[K_CAP + slot] = id;
            }
        }
        if c < cols {
            atomicAdd(&pending, 1u);
        }
        // Every append and every pending count of this pass is done before they are read.
        workgroupBarrier();
        if lid == 0u {
            counts = vec2<u32>(min(atomicLoad(&fill), room), atomicLoad(&pending));
            atomicStore(&pending, 0u);
        }
        let now = workgroupUniformLoad(&counts);
        if now.x > 0u {
            // The smallest power of two >= the candidates.
            merge_buffer(lid, 1u << (32u - countLeadingZeros(now.x - 1u)));
        }
        if now.y == 0u {
            break;
        }
    }

    for (var i = lid; i < k; i += WG) {
        best_scores[best_base + i] = keys[i];
        best_indices[best_base + i] = ids[i];
    }
}
