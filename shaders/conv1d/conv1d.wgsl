// conv1d forward as torch.nn.functional.conv1d: x [batch, c_in, l_in], w [c_out, c_in/groups,
// kernel], optional bias [c_out], out [batch, c_out, l_out]. One thread per output element, all
// batch items, channels and groups in one dispatch (depthwise is groups = c_in = c_out).
// The transposed convolution's input gradient is this kernel too (see conv_transpose1d.rs).
// CPU twin: src/cpu/conv1d/conv1d.rs (conv1d).

#import common/conv1d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * groups.x + wid.x) * WG + lid;
    if idx >= params.batch * params.c_out * params.l_out {
        return;
    }
    let lo = idx % params.l_out;
    let co = (idx / params.l_out) % params.c_out;
    let n = idx / (params.l_out * params.c_out);
    let cig = params.c_in / params.groups;
    let cog = params.c_out / params.groups;
    let g = co / cog;

    // Input position of tap k is start + k * dilation - padding. Only the taps that land inside
    // [0, l_in) contribute (zero padding), so the k range is clipped once instead of testing
    // every tap: k_first = ceil((padding - start) / dilation), k_end = the first k past l_in.
    let start = lo * params.stride;
    var k_first = 0u;
    if start < params.padding {
        k_first = (params.padding - start + params.dilation - 1u) / params.dilation;
    }
    var k_end = 0u;
    if start < params.padding + params.l_in {
        k_end = min(params.kernel, (params.padding + params.l_in - start - 1u) / params.dilation + 1u);
    }

    var acc = 0.0;
    if params.has_bias != 0u {
        acc = bias[co];
    }
    for (var cil = 0u; cil < cig; cil++) {
        let x_row = (n * params.c_in + g * cig + cil) * params.l_in;
        let w_row = (co * cig + cil) * params.kernel;
        for (var k = k_first; k < k_end; k++) {
            let pos = start + k * params.dilation - params.padding;
            acc += x[x_row + pos] * w[w_row + k];
        }
    }
    out[idx] = acc;
}
