// conv1d weight gradient: grad_w [c_out, c_in/groups, kernel] = sum over batch items and output
// positions of grad_out * the input under that tap. One workgroup per weight element reduces its
// batch * l_out products in a fixed-order tree in workgroup memory: deterministic, no float
// atomics, one dispatch for every channel and group. 256 threads, so that a workgroup covers
// up to 4,194,304 products within the per-invocation loop budget (README, "Portability: loop
// budget per invocation"); the launcher rejects more.
// CPU twin: src/cpu/conv1d/conv1d.rs (conv1d_backward_weight).

#import common/conv1d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grad_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_w: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = wid.y * groups.x + wid.x;
    let cig = params.c_in / params.groups;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if idx >= params.c_out * cig * params.kernel {
        return;
    }
    let k = idx % params.kernel;
    let cil = (idx / params.kernel) % cig;
    let co = idx / (params.kernel * cig);
    let cog = params.c_out / params.groups;
    let ci = (co / cog) * cig + cil;
    let offset = k * params.dilation;

    var acc = 0.0;
    let count = params.batch * params.l_out;
    for (var j = lid; j < count; j += WG) {
        let lo = j % params.l_out;
        let n = j / params.l_out;
        let pos = lo * params.stride + offset;
        // pos - padding inside [0, l_in), in unsigned arithmetic.
        if pos >= params.padding && pos - params.padding < params.l_in {
            acc += grad_out[(n * params.c_out + co) * params.l_out + lo]
                * x[(n * params.c_in + ci) * params.l_in + pos - params.padding];
        }
    }
    tree_sum(lid, acc);
    if lid == 0u {
        grad_w[idx] = partial[0];
    }
}
