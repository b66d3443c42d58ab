// 2-D max pooling forward as torch.nn.functional.max_pool2d(return_indices=True), dilation 1,
// ceil_mode False: padding counts as -inf, so it never wins. One thread per output element over
// all (batch, channel) planes. Each output also stores the flat index iy * W + ix of its maximum
// within the input plane (torch's convention) as u32 in a tensor of its own; the first maximum in
// scan order wins ties, as in torch.
// CPU twin: src/cpu/pool/max_pool2d.rs.

// params.total: planes * oh * ow threads, one per output element.
#import common/pool_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;

const WG: u32 = 256u;
const NEG_INF: u32 = 0xff800000u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.total {
        return;
    }
    let ox = i % params.ow;
    var t = i / params.ow;
    let oy = t % params.oh;
    let plane = t / params.oh;
    // The window clipped to the image; the launcher keeps padding <= kernel / 2 (as torch does),
    // so at least one real element remains.
    let y0 = i32(oy * params.sh) - i32(params.ph);
    let x0 = i32(ox * params.sw) - i32(params.pw);
    let y_start = u32(max(y0, 0));
    let x_start = u32(max(x0, 0));
    let y_end = u32(min(y0 + i32(params.kh), i32(params.h)));
    let x_end = u32(min(x0 + i32(params.kw), i32(params.w)));
    let base = plane * params.h * params.w;
    var best = bitcast<f32>(NEG_INF);
    var best_index = y_start * params.w + x_start;
    for (var iy = y_start; iy < y_end; iy++) {
        for (var ix = x_start; ix < x_end; ix++) {
            let k = iy * params.w + ix;
            let v = x[base + k];
            if v > best {
                best = v;
                best_index = k;
            }
        }
    }
    out[i] = best;
    indices[i] = best_index;
}
