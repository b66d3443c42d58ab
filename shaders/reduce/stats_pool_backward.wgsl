// Backward of shaders/reduce/stats_pool.wgsl, one thread per input element:
//   dx = g_mean / len + g_std * (x - mean) / (len * std),
// with mean and std read back from the forward's output. (d std / dx_t = (x_t - mean) / (len *
// std): the mean's own dependence on x_t multiplies sum_t (x_t - mean) = 0 and drops out.)
// CPU twin: src/cpu/reduce/stats_pool.rs.

#import common/stats_pool_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// The forward's [batch, 2 * channels] means and deviations.
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> grad_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_x: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Past 65535 workgroups the grid is 2-D (grid_1d).
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.rows * params.len {
        return;
    }
    let row = i / params.len;
    let at = (row / params.channels) * 2u * params.channels + row % params.channels;
    let mean = stats[at];
    let deviation = stats[at + params.channels];
    let n = f32(params.len);
    grad_x[i] = grad_out[at] / n + grad_out[at + params.channels] * (x[i] - mean) / (n * deviation);
}
