//! CPU twin of `shaders/features/frame_stack.wgsl`.

/// `[batch, frames, bins]` -> `[batch, frames - context + 1, context * bins]`.
pub fn frame_stack(
    x: &[f32],
    batch: usize,
    frames: usize,
    bins: usize,
    context: usize,
) -> Vec<f32> {
    let vectors = frames + 1 - context;
    let mut out = Vec::with_capacity(batch * vectors * context * bins);
    for b in 0..batch {
        for t in 0..vectors {
            for j in 0..context {
                let start = (b * frames + t + j) * bins;
                out.extend_from_slice(&x[start..start + bins]);
            }
        }
    }
    out
}
