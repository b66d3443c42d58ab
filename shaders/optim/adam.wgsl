// One Adam / AdamW step over a parameter tensor, as torch.optim.Adam(W):
//   Adam:  g = grad + wd p
//   AdamW: p = p - lr wd p (decoupled), g = grad
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   p = p - lr (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - b1^t, c2 = 1 - b2^t (from the host).
// CPU twin: src/cpu/optim/adam.rs.

// Keep in sync with AdamParams in src/kernels/optim/adam.rs.
struct Params {
    n: u32,
    decoupled: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    bias_correction2: f32,
    // Multiplies the gradient (global-norm clipping).
    grad_scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
// scale[0] from grad_norm.wgsl's clip_scale when SCALED (global-norm clipping on the GPU).
@group(0) @binding(5) var<storage, read> scale: array<f32>;

override SCALED: bool = false;

const WG: u32 = 256u;

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
    var p = param[i];
    var g = grad[i] * params.grad_scale;
    if SCALED {
        g = g * scale[0];
    }
    if params.decoupled != 0u {
        p = p - params.lr * params.weight_decay * p;
    } else {
        g = g + params.weight_decay * p;
    }
    let m = params.beta1 * exp_avg[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * exp_avg_sq[i] + (1.0 - params.beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    let denom = sqrt(v / params.bias_correction2) + params.eps;
    param[i] = p - params.lr * (m / params.bias_correction1) / denom;
}
