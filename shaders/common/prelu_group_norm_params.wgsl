// The parameters of the fused PReLU + GroupNorm passes: norm/prelu_group_norm_stats.wgsl,
// group_norm_finalize.wgsl and prelu_group_norm_apply.wgsl import this file.
// Keep in sync with PreluGroupNormParams in src/kernels/norm/prelu_group_norm.rs.

struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    groups: u32,
    chunk: u32,
    chunks: u32,
    slopes: u32,
    eps: f32,
    has_weight: u32,
    has_bias: u32,
    has_activated: u32,
}
