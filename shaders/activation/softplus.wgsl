// Softplus as torch.nn.Softplus: out = log(1 + exp(beta x)) / beta, and x itself where
// beta x > threshold (torch's default 20, where the two agree to f32 precision). Evaluated as
// max(z, 0) + log1p(exp(-|z|)) so that exp never overflows. One thread per element.
// CPU twin: src/cpu/activation/softplus.rs.

// Keep in sync with SoftplusParams in src/kernels/activation/softplus.rs.
struct Params {
    n: u32,
    beta: f32,
    threshold: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

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
    let z = params.beta * x[i];
    if z > params.threshold {
        out[i] = x[i];
        return;
    }
    out[i] = (max(z, 0.0) + log1p(exp(-abs(z)))) / params.beta;
}
