//! CPU references for the im2col kernels (sizes from
//! [`Im2colGeometry`](crate::params::im2col::Im2colGeometry)).

mod col2im;
// One kernel, one name in every place (STYLE.md): im2col/im2col.rs.
#[allow(clippy::module_inception)]
mod im2col;
mod swap_batch_channel;

pub use col2im::col2im;
pub use im2col::im2col;
pub use swap_batch_channel::swap_batch_channel;

use crate::params::im2col::Im2colGeometry;

/// The input position `(iy, ix)` that col entry (tap `(ky, kx)`, output `(oy, ox)`) reads, or
/// `None` inside the zero padding.
fn source(
    g: &Im2colGeometry,
    (ky, kx): (usize, usize),
    (oy, ox): (usize, usize),
) -> Option<(usize, usize)> {
    let iy = (oy * g.stride.0 + ky * g.dilation.0).checked_sub(g.padding.0)?;
    let ix = (ox * g.stride.1 + kx * g.dilation.1).checked_sub(g.padding.1)?;
    (iy < g.h && ix < g.w).then_some((iy, ix))
}
