// Binary cross-entropy with logits, as torch's BCEWithLogitsLoss (mean over elements):
// l = max(z, 0) - z y + log(1 + exp(-|z|)), which never overflows. `rows`: one workgroup per row
// of [rows, cols] writes the row's mean (loss_mean.wgsl averages the rows). `backward`:
// grad = scale * (sigmoid(z) - y), one thread per element.
// CPU twin: src/cpu/loss/bce_with_logits.rs.

#import common/loss_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
// The target (`target` is a reserved word in WGSL).
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// Row losses for `rows`, the gradient for `backward`.
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
alias Sum = vec4<f32>;
#import common/elementwise_loss.wgsl

// log(1 + u) for u in [0, 1]. WGSL's log is only accurate to an absolute 2^-21 near 1, so
// small u (where log(1 + u) ~ u) uses 2 atanh(t) = 2 (t + t^3/3 + ...), t = u / (2 + u) <= 1/9,
// whose next term is below 3e-10 relative; from 0.25 up, log(1 + u) >= 0.22 keeps the
// builtin's error under 3e-6 relative.
fn log1p(u: f32) -> f32 {
    if u < 0.25 {
        let t = u / (2.0 + u);
        let t2 = t * t;
        return 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 / 9.0))));
    }
    return log(1.0 + u);
}

#import common/sigmoid.wgsl

// max(z, 0) - z y + log(1 + exp(-|z|)) of element i.
fn element_loss(i: u32) -> f32 {
    let z = logits[i];
    return max(z, 0.0) - z * labels[i] + log1p(exp(-abs(z)));
}

// d l / d z = sigmoid(z) - y.
fn element_grad(i: u32) -> f32 {
    return sigmoid(logits[i]) - labels[i];
}
