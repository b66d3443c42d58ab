// The last stage of every loss: loss[0] = scale * sum of the per-row values (scale = 1 / rows
// for a mean, -1 / rows for SI-SDR, whose loss is minus its mean). One workgroup.
// CPU twin: src/cpu/loss/loss_mean.rs.

#import common/loss_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_values: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

const WG: u32 = 256u;
alias Sum = vec4<f32>;
#import common/workgroup_sum.wgsl

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
