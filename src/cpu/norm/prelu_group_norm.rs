//! CPU twin of the fused PReLU + GroupNorm (`shaders/norm/prelu_group_norm_*.wgsl`,
//! `group_norm_finalize.wgsl`): PReLU, then [`super::group_norm`], in f64.

/// `(out, activated, mean, rstd)` of `GroupNorm(PReLU(x))` over `[batch, channels, spatial]`.
/// `slope` holds one shared slope or one per channel (empty: no PReLU); empty `weight`/`bias`
/// mean none.
pub fn prelu_group_norm(
    x: &[f64],
    dims: (usize, usize, usize),
    groups: usize,
    eps: f64,
    slope: &[f64],
    weight: &[f64],
    bias: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (_, channels, spatial) = dims;
    let activated: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if slope.is_empty() || v >= 0.0 {
                v
            } else if slope.len() == 1 {
                slope[0] * v
            } else {
                slope[(i / spatial) % channels] * v
            }
        })
        .collect();
    let (out, mean, rstd) = super::group_norm(&activated, dims, groups, eps, weight, bias);
    (out, activated, mean, rstd)
}
