// Batch-hard triplet loss (Hermans, Beyer, Leibe 2017, "In defense of the triplet loss"; the
// self-supervised classifier of paper 002, REFERENCE-SPECS §5) over embeddings e [batch, dim]
// and integer class labels (stored as f32 values) [batch]:
//   d(a, b)  = sqrt(|e_a - e_b|^2 + 1e-12)            (metric 0: Euclidean, as Hermans; the
//                                                      1e-12 is theirs, it keeps d' finite)
//            = 1 - e_a . e_b / (|e_a| |e_b|)          (metric 1: cosine distance,
//                                                      |v| = sqrt(max(v . v, 1e-12)))
//   p(a)     = argmax_{b != a, label b = label a} d(a, b)   (hardest positive)
//   n(a)     = argmin_{label b != label a} d(a, b)          (hardest negative)
//   l_a      = max(0, margin + d(a, p(a)) - d(a, n(a)))
//   loss     = mean of l_a over the valid anchors (those with a positive and a negative;
//              0 when there are none)
// Ties pick the lower index. A label that is not a whole number in [0, 2^24) or a NaN distance
// makes its anchor's loss NaN (CPU twin: an error).
// Backward (a subgradient through the selected pairs; an inactive hinge, l_a = 0, gives 0):
//   d loss / d e_k = u / valid * sum_{a active} [d d(a,p)/d e_k - d d(a,n)/d e_k],
//   Euclidean: d d(a,b)/d e_a = (e_a - e_b) / d(a,b) = -d d(a,b)/d e_b;
//   cosine:    d d(a,b)/d e_a = (cos_ab ê_a - ê_b) / |e_a|, with ê = e / |e|.
// Entries: `hardest` (one workgroup per anchor: distances, hardest pair, l_a), `mean` (one
// workgroup), `backward` (one thread per element, gathering over anchors: no atomics).
// CPU twin: src/cpu/loss/batch_hard_triplet.rs.

// Keep in sync with TripletParams in src/kernels/loss/batch_hard_triplet.rs.
struct Params {
    batch: u32,
    dim: u32,
    // 0: Euclidean, 1: cosine distance.
    metric: u32,
    margin: f32,
    upstream: f32,
}

// One anchor's selection; keep in sync with the host's reading of `anchors` ([batch, 6]).
// Indices are stored as f32 values (exact below 2^24), -1 when there is none.
struct Anchor {
    positive: f32,
    negative: f32,
    d_positive: f32,
    d_negative: f32,
    inv_norm: f32,
    loss: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> embeddings: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> anchors: array<Anchor>;
// mean: the loss [1]; backward: d loss / d embeddings [batch, dim].
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const NORM_EPS: f32 = 1e-12;
const DIST_EPS: f32 = 1e-12;
const NONE: u32 = 0xffffffffu;
const MAX_LABEL: f32 = 16777216.0;

// (d_positive, d_negative) and their indices, reduced together.
var<workgroup> best_d: array<vec2<f32>, WG>;
var<workgroup> best_i: array<vec2<u32>, WG>;
var<workgroup> sums: array<vec2<f32>, WG>;
var<workgroup> bad: atomic<u32>;

fn quiet_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// By its bits: drivers may compile `x != x` as if NaN could not occur.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn valid_label(l: f32) -> bool {
    return !is_nan(l) && l >= 0.0 && l < MAX_LABEL && floor(l) == l;
}

// Whether (d, i) beats (d_best, i_best) as the hardest positive (farther, then lower index).
fn better_positive(d: f32, i: u32, d_best: f32, i_best: u32) -> bool {
    return i != NONE && (i_best == NONE || d > d_best || (d == d_best && i < i_best));
}

// The same for the hardest negative (nearer, then lower index).
fn better_negative(d: f32, i: u32, d_best: f32, i_best: u32) -> bool {
    return i != NONE && (i_best == NONE || d < d_best || (d == d_best && i < i_best));
}

fn distance(a: u32, b: u32) -> vec2<f32> {
    var dot = 0.0;
    var aa = 0.0;
    var bb = 0.0;
    var sq = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let u = embeddings[a * params.dim + d];
        let v = embeddings[b * params.dim + d];
        dot += u * v;
        aa += u * u;
        bb += v * v;
        sq += (u - v) * (u - v);
    }
    let inv_a = inverseSqrt(max(aa, NORM_EPS));
    if params.metric == 1u {
        return vec2(1.0 - dot * inv_a * inverseSqrt(max(bb, NORM_EPS)), inv_a);
    }
    return vec2(sqrt(sq + DIST_EPS), inv_a);
}

@compute @workgroup_size(64)
fn hardest(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let a = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if a >= params.batch {
        return;
    }
    if lid == 0u {
        atomicStore(&bad, 0u);
    }
    workgroupBarrier();
    let label = labels[a];
    var d_best = vec2(0.0, 0.0);
    var i_best = vec2(NONE, NONE);
    var inv_a = 0.0;
    for (var b = lid; b < params.batch; b += WG) {
        let dist = distance(a, b);
        inv_a = dist.y;
        let d = dist.x;
        let other = labels[b];
        if is_nan(d) || !valid_label(other) {
            atomicStore(&bad, 1u);
        }
        if other == label && b != a {
            if better_positive(d, b, d_best.x, i_best.x) {
                d_best.x = d;
                i_best.x = b;
            }
        } else if other != label {
            if better_negative(d, b, d_best.y, i_best.y) {
                d_best.y = d;
                i_best.y = b;
            }
        }
    }
    best_d[lid] = d_best;
    best_i[lid] = i_best;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            let d_other = best_d[lid + stride];
            let i_other = best_i[lid + stride];
            var d_mine = best_d[lid];
            var i_mine = best_i[lid];
            if better_positive(d_other.x, i_other.x, d_mine.x, i_mine.x) {
                d_mine.x = d_other.x;
                i_mine.x = i_other.x;
            }
            if better_negative(d_other.y, i_other.y, d_mine.y, i_mine.y) {
                d_mine.y = d_other.y;
                i_mine.y = i_other.y;
            }
            best_d[lid] = d_mine;
            best_i[lid] = i_mine;
        }
        workgroupBarrier();
    }
    // Every thread with b < batch computed |e_a|; thread 0 always has b = 0.
    if lid == 0u {
        let i = best_i[0];
        let d = best_d[0];
        var record = Anchor(-1.0, -1.0, 0.0, 0.0, inv_a, 0.0);
        if i.x != NONE && i.y != NONE {
            record = Anchor(f32(i.x), f32(i.y), d.x, d.y, inv_a, max(0.0, params.margin + d.x - d.y));
        }
        if atomicLoad(&bad) != 0u || !valid_label(label) {
            // Counted as a valid anchor so that the mean is NaN too.
            record.positive = f32(a);
            record.negative = f32(a);
            record.loss = quiet_nan();
        }
        anchors[a] = record;
    }
}

fn is_valid(r: Anchor) -> bool {
    return r.positive >= 0.0 && r.negative >= 0.0;
}

@compute @workgroup_size(64)
fn mean(@builtin(local_invocation_index) lid: u32) {
    var acc = vec2(0.0, 0.0);
    for (var a = lid; a < params.batch; a += WG) {
        let r = anchors[a];
        if is_valid(r) {
            acc += vec2(r.loss, 1.0);
        }
    }
    sums[lid] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            sums[lid] += sums[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let total = sums[0];
        out[0] = select(0.0, total.x / total.y, total.y > 0.0);
    }
}

// Derivative of d(a, b) with respect to element `d` of e_a (`toward_a`) or of e_b.
fn pair_grad(a: u32, b: u32, dist: f32, d: u32, toward_a: bool) -> f32 {
    let u = embeddings[a * params.dim + d];
    let v = embeddings[b * params.dim + d];
    if params.metric == 1u {
        let inv_a = anchors[a].inv_norm;
        let inv_b = anchors[b].inv_norm;
        let cos_ab = 1.0 - dist;
        if toward_a {
            return (cos_ab * u * inv_a - v * inv_b) * inv_a;
        }
        return (cos_ab * v * inv_b - u * inv_a) * inv_b;
    }
    if toward_a {
        return (u - v) / dist;
    }
    return (v - u) / dist;
}

@compute @workgroup_size(64)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * groups.x + wid.x) * WG + lid;
    if idx >= params.batch * params.dim {
        return;
    }
    let k = idx / params.dim;
    let d = idx % params.dim;
    var g = 0.0;
    var valid = 0.0;
    for (var a = 0u; a < params.batch; a++) {
        let r = anchors[a];
        if !is_valid(r) {
            continue;
        }
        valid += 1.0;
        if is_nan(r.loss) {
            g = quiet_nan();
        }
        if !(r.loss > 0.0) {
            continue;
        }
        let p = u32(r.positive);
        let n = u32(r.negative);
        if k == a {
            g += pair_grad(a, p, r.d_positive, d, true) - pair_grad(a, n, r.d_negative, d, true);
        }
        if k == p {
            g += pair_grad(a, p, r.d_positive, d, false);
        }
        if k == n {
            g -= pair_grad(a, n, r.d_negative, d, false);
        }
    }
    out[idx] = select(0.0, params.upstream * g / valid, valid > 0.0);
}
