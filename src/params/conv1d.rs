//! Shared parameters of the `conv1d` kernels (see [`crate::params`]).

/// Hyper-parameters of a 1-D convolution, as torch names them (padding is zeros on both sides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv1dParams {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv1dParams {
    /// torch's defaults: stride 1, padding 0, dilation 1, groups 1.
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

/// `L_out = floor((L + 2p - d(K-1) - 1) / s) + 1`, or `None` when the dilated kernel is longer
/// than the padded input (torch raises there) or a parameter is zero.
pub fn conv1d_output_len(l_in: usize, kernel: usize, params: &Conv1dParams) -> Option<usize> {
    if params.stride == 0 || params.dilation == 0 || kernel == 0 {
        return None;
    }
    let span = params.dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let padded = l_in.checked_add(params.padding.checked_mul(2)?)?;
    padded
        .checked_sub(span)
        .map(|room| room / params.stride + 1)
}

/// `L_out = (L - 1) s - 2p + d(K-1) + output_padding + 1` of `conv_transpose1d`, or `None` when
/// that is below 1 or a parameter is zero.
pub fn conv_transpose1d_output_len(
    l_in: usize,
    kernel: usize,
    params: &Conv1dParams,
    output_padding: usize,
) -> Option<usize> {
    if params.stride == 0 || params.dilation == 0 || kernel == 0 || l_in == 0 {
        return None;
    }
    let full = (l_in - 1)
        .checked_mul(params.stride)?
        .checked_add(params.dilation.checked_mul(kernel - 1)?)?
        .checked_add(output_padding + 1)?;
    full.checked_sub(params.padding.checked_mul(2)?)
        .filter(|&len| len >= 1)
}
