// L1 loss, mean |pred - target| over all elements. `rows`: one workgroup per row of
// [rows, cols] writes the row's mean |pred - target| (the mean of equal-length row means is the
// overall mean, taken by loss_mean.wgsl). `backward`: grad = scale * sign(pred - target), one
// thread per element, 0 where they are equal (torch's sign).
// CPU twin: src/cpu/loss/l1.rs.

#import common/loss_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
// The target (`target` is a reserved word in WGSL).
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// Row losses for `rows`, the gradient for `backward`.
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
alias Sum = vec4<f32>;
#import common/elementwise_loss.wgsl

// |pred - target| of element i.
fn element_loss(i: u32) -> f32 {
    return abs(pred[i] - labels[i]);
}

// d|pred - target| / d pred: sign(pred - target), 0 where they are equal (torch's sign).
fn element_grad(i: u32) -> f32 {
    return sign(pred[i] - labels[i]);
}
