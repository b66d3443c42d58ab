// conv1d input gradient: grad_in [batch, c_in, l_in] from grad_out [batch, c_out, l_out] and
// w [c_out, c_in/groups, kernel]. A gather (one thread per input element, no atomics): input
// position l received tap k of output lo when lo * stride + k * dilation - padding = l.
// With a bias this is also the forward pass of conv_transpose1d (x = grad_out, out = grad_in).
// CPU twin: src/cpu/conv1d/conv1d.rs (conv1d_backward_input, written as the scatter it inverts).

#import common/conv1d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
// Indexed by input channel: only the transposed convolution binds a real bias here.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_in: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * groups.x + wid.x) * WG + lid;
    if idx >= params.batch * params.c_in * params.l_in {
        return;
    }
    let l = idx % params.l_in;
    let ci = (idx / params.l_in) % params.c_in;
    let n = idx / (params.l_in * params.c_in);
    let cig = params.c_in / params.groups;
    let cog = params.c_out / params.groups;
    let g = ci / cig;
    let cil = ci % cig;

    var acc = 0.0;
    if params.has_bias != 0u {
        acc = bias[ci];
    }
    let shifted = l + params.padding;
    // Taps with k * dilation <= l + padding; of those, only the ones whose output position
    // (shifted - k * dilation) / stride is whole and inside [0, l_out).
    let k_end = min(params.kernel, shifted / params.dilation + 1u);
    for (var k = 0u; k < k_end; k++) {
        let t = shifted - k * params.dilation;
        let lo = t / params.stride;
        if lo * params.stride != t || lo >= params.l_out {
            continue;
        }
        for (var col = 0u; col < cog; col++) {
            let co = g * cog + col;
            acc += grad_out[(n * params.c_out + co) * params.l_out + lo]
                * w[(co * cig + cil) * params.kernel + k];
        }
    }
    grad_in[idx] = acc;
}
