// Tree sums over the workgroup, pairing slot i with i + WG/2, then i + WG/4, ... down to i + 1
// (every tree reduction in hark's shaders pairs in this order, so results stay bit-identical):
// `workgroup_sum` hands every thread the total, `tree_sum` leaves it in partial[0] for one thread
// to write out. The including shader declares `const WG: u32` (its workgroup size, a power of
// two) and `alias Sum = f32;` (or vecN<f32> for N sums at once); this file declares the scratch
// array they share. Imported by the loss, norm, batchnorm, flow, features, reduce, conv1d, conv2d,
// activation and optim kernels (grep '#import common/workgroup_sum.wgsl').

var<workgroup> partial: array<Sum, WG>;

// Sums every thread's `value` into partial[0]; no barrier after the last level, so only the
// thread that wrote partial[0] (lid 0) may read it. Called in uniform control flow.
fn tree_sum(lid: u32, value: Sum) {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
}

// The sum of every thread's `value`, returned to every thread. Called in uniform control flow.
fn workgroup_sum(lid: u32, value: Sum) -> Sum {
    tree_sum(lid, value);
    let total = partial[0];
    // Everyone has read the total before `partial` is reused.
    workgroupBarrier();
    return total;
}
