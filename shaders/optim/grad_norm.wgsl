// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_, without a read-back:
//   sum_squares: partials[slot] = sum of g^2 over one gradient tensor (one workgroup, a tree in
//                workgroup memory; one dispatch per parameter tensor)
//   clip_scale:  norm = sqrt(sum over slots); scale[0] = min(1, max_norm / (norm + 1e-6)),
//                scale[1] = norm. The Adam kernel multiplies every gradient by scale[0].
// CPU twin: src/cpu/optim/grad_norm.rs.

// Keep in sync with GradNormParams in src/kernels/optim/grad_norm.rs.
struct Params {
    n: u32,
    slot: u32,
    max_norm: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn sum_squares(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < params.n; i += WG) {
        let g = values[i];
        acc += g * g;
    }
    tree_sum(lid, acc);
    if lid == 0u {
        out[params.slot] = partial[0];
    }
}

@compute @workgroup_size(1)
fn clip_scale() {
    var total = 0.0;
    for (var i = 0u; i < params.n; i++) {
        total += values[i];
    }
    let norm = sqrt(total);
    out[0] = min(1.0, params.max_norm / (norm + 1e-6));
    out[1] = norm;
}
