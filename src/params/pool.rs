//! Shared parameters of the `pool` kernels (see [`crate::params`]).

/// Window, stride and padding of a 2-D max pool, (rows, columns) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// -inf added on each side; at most half the window (torch's rule).
    pub padding: (usize, usize),
}

impl PoolParams {
    /// Square window, stride and padding.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel: (kernel, kernel),
            stride: (stride, stride),
            padding: (padding, padding),
        }
    }

    /// Output (height, width) for an `h x w` input: `(h + 2 p - k) / s + 1` as torch (floor
    /// mode); `None` for a zero window or stride, padding over half the window, or a padded input
    /// smaller than the window.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let one = |len: usize, k: usize, s: usize, p: usize| {
            let padded = len + 2 * p;
            (s > 0 && k > 0 && 2 * p <= k && len > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        Some((
            one(h, self.kernel.0, self.stride.0, self.padding.0)?,
            one(w, self.kernel.1, self.stride.1, self.padding.1)?,
        ))
    }
}
