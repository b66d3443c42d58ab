//! CPU twin of `shaders/separation/resize_frames.wgsl`.

/// Rows of `len_in` values padded with zeros or cropped to `len_out`.
pub fn resize_frames(x: &[f32], len_in: usize, len_out: usize) -> Vec<f32> {
    x.chunks(len_in.max(1))
        .flat_map(|row| (0..len_out).map(move |t| row.get(t).copied().unwrap_or(0.0)))
        .collect()
}
