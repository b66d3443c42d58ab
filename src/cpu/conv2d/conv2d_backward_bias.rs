//! CPU twin of `shaders/conv2d/conv2d_backward_bias.wgsl`.

/// `grad_bias[c]` = sum of `grad_out[n, c, ..]` over the batch and the `plane = OH * OW`
/// positions, in f64.
pub fn conv2d_backward_bias(grad_out: &[f32], n: usize, c_out: usize, plane: usize) -> Vec<f32> {
    (0..c_out)
        .map(|oc| {
            let mut acc = 0f64;
            for b in 0..n {
                let row = &grad_out[(b * c_out + oc) * plane..][..plane];
                acc += row.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            acc as f32
        })
        .collect()
}
