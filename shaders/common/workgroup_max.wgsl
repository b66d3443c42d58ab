// `workgroup_max`: the maximum over the workgroup, every thread gets it; the same pairing order
// as workgroup_sum.wgsl, on a scratch array `peak` of its own. The including shader declares
// `const WG: u32` (its workgroup size, a power of two).
// Imported by loss/cross_entropy.wgsl and loss/sc_adacos.wgsl.

var<workgroup> peak: array<f32, WG>;

// Called in uniform control flow.
fn workgroup_max(lid: u32, value: f32) -> f32 {
    peak[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            peak[lid] = max(peak[lid], peak[lid + stride]);
        }
        workgroupBarrier();
    }
    let total = peak[0];
    workgroupBarrier();
    return total;
}
