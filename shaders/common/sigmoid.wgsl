// `sigmoid`: 1 / (1 + e^-v) evaluated so that exp never overflows: for v < 0 use e^v / (1 + e^v),
// where e^v <= 1. At v = +-100 this gives 1 and ~3.7e-44 (or 0 where denormals flush), never NaN.
// Imported by elementwise/unary.wgsl, activation/activation_backward.wgsl and
// loss/bce_with_logits.wgsl.

fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}
