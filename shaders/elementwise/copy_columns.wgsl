// A block of columns copied between two row-major matrices of the same row count:
// dst[r, dst_offset + c] = src[r, src_offset + c] for c < cols. Two calls concatenate two
// [rows, d] matrices into [rows, 2d] (Wilkinghoff's embedding) and two split it back (its
// gradient); one call drops trailing columns (the spectrum's last bin). One thread per copied
// element; columns outside the block are left as they are.
// CPU twin: src/cpu/elementwise/copy_columns.rs.

// Keep in sync with CopyColumnsParams in src/kernels/elementwise/copy_columns.rs.
struct Params {
    rows: u32,
    cols: u32,
    src_stride: u32,
    src_offset: u32,
    dst_stride: u32,
    dst_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.rows * params.cols {
        return;
    }
    let r = i / params.cols;
    let c = i % params.cols;
    dst[r * params.dst_stride + params.dst_offset + c] = src[r * params.src_stride + params.src_offset + c];
}
