// `group_id`: the flat index of a workgroup in the 2-D dispatch grid that grid_1d in
// src/runtime/launch.rs folds large workgroup counts into. Imported by the row-per-workgroup
// kernels of the loss, norm and flow families (grep '#import common/group_id.wgsl').

fn group_id(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.y * groups.x + wid.x;
}
