// The last stage of every loss: loss[0] = scale * sum of the per-row values (scale = 1 / rows
// for a mean, -1 / rows for SI-SDR, whose loss is minus its mean). One workgroup.
// CPU twin: src/cpu/loss/loss_mean.rs.

// Keep in sync with LossParams in src/kernels/loss/mod.rs (every loss shader shares it).
struct Params {
    rows: u32,
    cols: u32,
    // rows: unused (loss_mean: the factor on the sum); backward: upstream gradient over the
    // mean's count, with the loss's sign.
    scale: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_values: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<vec4<f32>, WG>;

// Tree sum of up to four values at once; every thread gets the totals. Called in uniform
// control flow.
fn workgroup_sum(lid: u32, value: vec4<f32>) -> vec4<f32> {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Everyone has read the total before `partial` is reused.
    workgroupBarrier();
    return total;
}


@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var k = lid; k < params.rows; k += WG) {
        sum += row_values[k];
    }
    let total = workgroup_sum(lid, vec4(sum, 0.0, 0.0, 0.0)).x;
    if lid == 0u {
        loss[0] = params.scale * total;
    }
}
