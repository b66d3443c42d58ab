//! `torch.nn.functional.conv_transpose1d` and its gradients, with no shader of their own: the
//! transposed convolution is the input gradient of the conv1d that shares its weight, so its
//! forward is `conv1d_backward_input`, its input gradient is `conv1d`, and its weight gradient
//! is `conv1d_backward_weight` with the two activations exchanged.

use super::{
    check_bias, conv1d, conv1d_backward_input, conv1d_backward_weight, conv_transpose1d_output_len,
    ncl, Conv1dParams, Geometry,
};
use crate::error::{HarkError, Result};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

const NAME: &str = "conv_transpose1d";

/// Checks `x [N, C_in, L]`, `weight [C_in, C_out/groups, K]`, `y [N, C_out, L_out]` and returns
/// the geometry of the conv1d whose input is `y` and whose output is `x`. `L_out` may exceed
/// torch's default length by an `output_padding` below the stride.
fn transposed_geometry(
    names: [&str; 3],
    x: &Tensor,
    weight: &Tensor,
    y: &Tensor,
    params: &Conv1dParams,
) -> Result<Geometry> {
    let [_, _, l_in] = ncl(NAME, names[0], x)?;
    let [_, _, k] = ncl(NAME, names[1], weight)?;
    let [_, _, l_out] = ncl(NAME, names[2], y)?;
    let base = conv_transpose1d_output_len(l_in, k, params, 0);
    // output_padding < stride keeps the conv1d length of y equal to L (torch also allows
    // output_padding < dilation with stride 1, which this direct mapping does not cover).
    let fits = base.is_some_and(|b| l_out >= b && l_out - b < params.stride);
    if !fits {
        return Err(HarkError::shape(
            NAME,
            format!(
                "{} {:?} with {} {:?} and {params:?} gives length {base:?} (plus an \
                 output_padding below the stride), but {} is {:?}",
                names[0],
                x.shape(),
                names[1],
                weight.shape(),
                names[2],
                y.shape()
            ),
        ));
    }
    Geometry::resolve(NAME, [names[2], names[1], names[0]], y, weight, x, params)
}

/// Records `out = conv_transpose1d(x, weight, bias)`: `x [N, C_in, L]`,
/// `weight [C_in, C_out/groups, K]`, `bias [C_out]`, `out [N, C_out, L_out]` with `L_out` from
/// [`super::conv_transpose1d_output_len`] (an output_padding below the stride is read off `out`).
pub fn conv_transpose1d(
    rec: &mut Recorder,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    params: &Conv1dParams,
    out: &Tensor,
) -> Result<()> {
    let geo = transposed_geometry(["x", "weight", "out"], x, weight, out, params)?;
    check_bias(NAME, bias, geo.c_in)?;
    conv1d_backward_input::record(rec, &geo, x, weight, bias, out)
}

/// Records `grad_input [N, C_in, L]` of [`conv_transpose1d`] from `grad_output [N, C_out, L_out]`
/// (a strided conv1d of the output gradient).
pub fn conv_transpose1d_backward_input(
    rec: &mut Recorder,
    grad_output: &Tensor,
    weight: &Tensor,
    params: &Conv1dParams,
    grad_input: &Tensor,
) -> Result<()> {
    let geo = transposed_geometry(
        ["grad_input", "weight", "grad_output"],
        grad_input,
        weight,
        grad_output,
        params,
    )?;
    conv1d::record(rec, &geo, grad_output, weight, None, grad_input)
}

/// Records `grad_weight [C_in, C_out/groups, K]` of [`conv_transpose1d`] from its input
/// `x [N, C_in, L]` and `grad_output [N, C_out, L_out]`.
pub fn conv_transpose1d_backward_weight(
    rec: &mut Recorder,
    x: &Tensor,
    grad_output: &Tensor,
    params: &Conv1dParams,
    grad_weight: &Tensor,
) -> Result<()> {
    let geo = transposed_geometry(
        ["x", "grad_weight", "grad_output"],
        x,
        grad_weight,
        grad_output,
        params,
    )?;
    conv1d_backward_weight::record(rec, &geo, grad_output, x, grad_weight)
}

/// Records `grad_bias [C_out]` of [`conv_transpose1d`]: the same sum as conv1d's.
pub fn conv_transpose1d_backward_bias(
    rec: &mut Recorder,
    grad_output: &Tensor,
    grad_bias: &Tensor,
) -> Result<()> {
    super::conv1d_backward_bias(rec, grad_output, grad_bias)
}
