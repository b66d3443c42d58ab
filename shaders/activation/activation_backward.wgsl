// Backward of the pointwise activations, grad_in[i] = grad_out[i] * f'(.), from what the forward
// saved: the input x for LeakyReLU and softplus, the output y for sigmoid (y (1 - y)) and tanh
// (1 - y^2), as torch's autograd does. The op is an override constant; its scalar (negative
// slope, softplus beta) is a runtime parameter. One thread per element.
// CPU twin: src/cpu/activation/activation_backward.rs.

// Keep in sync with ActivationBackwardParams in src/kernels/activation/activation_backward.rs.
struct Params {
    n: u32,
    // Negative slope for OP 0, beta for OP 3; unused otherwise.
    alpha: f32,
    // Softplus threshold on beta x (OP 3).
    threshold: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read> grad_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

// 0 = leaky relu (saved x), 1 = sigmoid (saved y), 2 = tanh (saved y), 3 = softplus (saved x),
// 4 = relu6 (saved x).
override OP: u32 = 0u;
const WG: u32 = 256u;

#import common/sigmoid.wgsl

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
    let s = saved[i];
    let g = grad_out[i];
    var r: f32;
    switch OP {
        case 0u: {
            // torch's leaky_relu_backward: slope where x <= 0 (x = 0 included).
            r = select(g * params.alpha, g, s > 0.0);
        }
        case 1u: {
            r = g * s * (1.0 - s);
        }
        case 2u: {
            r = g * (1.0 - s * s);
        }
        case 4u: {
            // torch's hardtanh_backward on [0, 6]: zero at and beyond both kinks.
            r = select(0.0, g, s > 0.0 && s < 6.0);
        }
        default: {
            let z = params.alpha * s;
            r = select(g * sigmoid(z), g, z > params.threshold);
        }
    }
    grad_in[i] = r;
}
