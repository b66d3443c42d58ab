// Unary elementwise maps: out[i] = f(x[i]) for scale, ReLU, LeakyReLU, sigmoid, tanh and ReLU6.
// The op is an override constant (one pipeline per op); its scalar (scale factor, negative slope)
// is a runtime parameter so that changing it does not compile a new pipeline.
// CPU twin: src/cpu/elementwise/unary.rs.

// Keep in sync with UnaryParams in src/kernels/elementwise/unary.rs.
struct Params {
    n: u32,
    // Scale factor for OP 0, negative slope for OP 2; unused otherwise.
    alpha: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// 0 = scale, 1 = relu, 2 = leaky relu, 3 = sigmoid, 4 = tanh, 5 = relu6.
override OP: u32 = 0u;
const WG: u32 = 256u;

// Below this |v| tanh uses its odd Taylor series: (1 - t) / (1 + t) with t = exp(-2|v|) loses
// relative precision to cancellation as |v| -> 0 (at 0.25 the cancellation costs under 2 bits).
const TANH_SERIES_MAX: f32 = 0.25;

#import common/sigmoid.wgsl

// tanh without the builtin, whose sinh/cosh form overflows to inf/inf = NaN for large |v| on
// some drivers. exp(-2|v|) lies in (0, 1], so nothing overflows; the sign is restored at the end.
fn tanh_stable(v: f32) -> f32 {
    let a = abs(v);
    var r: f32;
    if a < TANH_SERIES_MAX {
        // tanh a = a - a^3/3 + 2a^5/15 - 17a^7/315 + 62a^9/2835; the next term is below
        // 1e-8 relative for a < 0.25.
        let a2 = a * a;
        r = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0)))));
    } else {
        let t = exp(-2.0 * a);
        r = (1.0 - t) / (1.0 + t);
    }
    return select(r, -r, v < 0.0);
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.n {
        return;
    }
    let v = x[i];
    var r: f32;
    switch OP {
        case 0u: {
            r = v * params.alpha;
        }
        case 1u: {
            r = max(v, 0.0);
        }
        case 2u: {
            r = select(v * params.alpha, v, v >= 0.0);
        }
        case 3u: {
            r = sigmoid(v);
        }
        case 5u: {
            // torch.nn.ReLU6 (hardtanh on [0, 6]).
            r = min(max(v, 0.0), 6.0);
        }
        default: {
            r = tanh_stable(v);
        }
    }
    out[i] = r;
}
