//! CPU twins of the flow kernels (`shaders/flow/`), plain loops over `[N, C, P]` views, and a
//! reference of one whole dense coupling block (subnet included) for log-det and gradient tests.

mod block;
mod channel_gather;
mod coupling;
mod global_affine;
mod nll;

pub use block::{dense_block_forward, DenseBlockWeights};
pub use channel_gather::{channel_gather, channel_scatter_add};
pub use coupling::{coupling_backward, coupling_forward, coupling_inverse, CouplingGrads};
pub use global_affine::{
    global_affine_backward, global_affine_forward, global_affine_inverse, scale_of,
    GlobalAffineGrads,
};
pub use nll::{flow_nll, flow_nll_backward};

/// A tensor's `[N, C, P]` view: batch, channels, positions per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowDims {
    pub n: usize,
    pub channels: usize,
    pub inner: usize,
}

impl FlowDims {
    pub fn numel(&self) -> usize {
        self.n * self.channels * self.inner
    }

    /// Channels of x1 (ceil C / 2), as FrEIA's split.
    pub fn split(&self) -> usize {
        self.channels - self.channels / 2
    }
}
