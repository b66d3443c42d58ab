//! Shared parameters of the `reduce` kernels (see [`crate::params`]).

use crate::error::{HarkError, Result};

/// `shape` viewed as `[outer, axis_len, inner]` around `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisView {
    /// Product of the dims before the axis.
    pub outer: usize,
    /// Length of the axis.
    pub axis_len: usize,
    /// Product of the dims after the axis: the stride between consecutive axis elements.
    pub inner: usize,
}

impl AxisView {
    /// The view of `shape` around `axis`; errors when the axis is out of range or empty.
    pub fn new(kernel: &'static str, shape: &[usize], axis: usize) -> Result<Self> {
        if axis >= shape.len() {
            return Err(HarkError::invalid(
                kernel,
                format!("axis {axis} out of range for shape {shape:?}"),
            ));
        }
        if shape[axis] == 0 {
            return Err(HarkError::invalid(
                kernel,
                format!("axis {axis} of shape {shape:?} is empty"),
            ));
        }
        Ok(Self {
            outer: shape[..axis].iter().product(),
            axis_len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        })
    }

    /// Output elements of a reduction (`outer * inner`): rows of the shader's view.
    pub fn rows(&self) -> usize {
        self.outer * self.inner
    }
}

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    /// Sum divided by the axis length.
    Mean,
    Max,
}

impl ReduceOp {
    /// The shader's `OP` override constant.
    pub(crate) fn code(self) -> f64 {
        match self {
            ReduceOp::Sum => 0.0,
            ReduceOp::Mean => 1.0,
            ReduceOp::Max => 2.0,
        }
    }
}

/// Axes up to this length are reduced by one thread per output (`serial`), longer ones by one
/// workgroup per output (`main`). At 64 a serial loop is still shorter than the workgroup's
/// strided pass plus its 8-level tree, and the serial form reads coalesced along outer axes.
pub(crate) const SERIAL_MAX_AXIS: usize = 64;
