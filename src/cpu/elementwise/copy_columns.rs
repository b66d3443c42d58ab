//! CPU twin of `shaders/elementwise/copy_columns.wgsl`.

/// `dst[r, dst_offset + c] = src[r, src_offset + c]` for `c < cols`, every row; `src` and `dst`
/// are row-major with `src_stride` and `dst_stride` columns.
pub fn copy_columns(
    src: &[f32],
    src_stride: usize,
    src_offset: usize,
    dst: &mut [f32],
    dst_stride: usize,
    dst_offset: usize,
    cols: usize,
) {
    let rows = src.len() / src_stride.max(1);
    for r in 0..rows {
        for c in 0..cols {
            dst[r * dst_stride + dst_offset + c] = src[r * src_stride + src_offset + c];
        }
    }
}
