// The parameters of statistics pooling: reduce/stats_pool.wgsl and stats_pool_backward.wgsl
// import this file.
// Keep in sync with StatsPoolParams in src/kernels/reduce/stats_pool.rs.

struct Params {
    // batch * channels.
    rows: u32,
    channels: u32,
    len: u32,
    eps: f32,
}
