//! 1-D max pooling on the 2-D kernels: `[N, C, L]` is viewed as `[N, C, 1, L]` with a `1 x k`
//! window, so the saved index is the position `l` in the row, as torch's `max_pool1d` returns.

use super::{max_pool2d, max_pool2d_backward, Pool1dParams};
use crate::error::{HarkError, Result};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// `[N, C, L]` as `[N, C, 1, L]`.
fn as_image(kernel: &'static str, what: &str, t: &Tensor) -> Result<Tensor> {
    let &[n, c, l] = t.shape() else {
        return Err(HarkError::shape(
            kernel,
            format!("{what} must be [N, C, L], got {:?}", t.shape()),
        ));
    };
    t.reshape(&[n, c, 1, l])
}

/// Records `out, indices = max_pool1d(x)`: `x` `[N, C, L]`, `out` and `indices` `[N, C, OL]`
/// with OL from [`Pool1dParams::output_len`]; `indices` holds u32 bits as in
/// [`max_pool2d`](super::max_pool2d).
pub fn max_pool1d(
    rec: &mut Recorder,
    x: &Tensor,
    out: &Tensor,
    indices: &Tensor,
    params: &Pool1dParams,
) -> Result<()> {
    const NAME: &str = "max_pool1d";
    max_pool2d(
        rec,
        &as_image(NAME, "x", x)?,
        &as_image(NAME, "out", out)?,
        &as_image(NAME, "indices", indices)?,
        &params.as_2d(),
    )
}

/// Records the gradient of [`max_pool1d`]: `grad_out`, `indices` `[N, C, OL]`, `grad_input`
/// `[N, C, L]` (fully overwritten).
pub fn max_pool1d_backward(
    rec: &mut Recorder,
    grad_out: &Tensor,
    indices: &Tensor,
    grad_input: &Tensor,
    params: &Pool1dParams,
) -> Result<()> {
    const NAME: &str = "max_pool1d_backward";
    max_pool2d_backward(
        rec,
        &as_image(NAME, "grad_out", grad_out)?,
        &as_image(NAME, "indices", indices)?,
        &as_image(NAME, "grad_input", grad_input)?,
        &params.as_2d(),
    )
}
