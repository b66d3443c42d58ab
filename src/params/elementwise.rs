//! Shared parameters of the `elementwise` kernels (see [`crate::params`]).

/// Which unary map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `x * factor`.
    Scale(f32),
    /// `max(x, 0)`.
    Relu,
    /// `x` where `x >= 0`, else `slope * x` (torch.nn.LeakyReLU's `negative_slope`).
    LeakyRelu(f32),
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `min(max(x, 0), 6)` (torch.nn.ReLU6, MobileNetV2's activation).
    Relu6,
}

impl UnaryOp {
    /// The shader's `OP` override constant.
    pub(crate) fn code(self) -> f64 {
        match self {
            UnaryOp::Scale(_) => 0.0,
            UnaryOp::Relu => 1.0,
            UnaryOp::LeakyRelu(_) => 2.0,
            UnaryOp::Sigmoid => 3.0,
            UnaryOp::Tanh => 4.0,
            UnaryOp::Relu6 => 5.0,
        }
    }

    /// The runtime scalar (`Params::alpha`); 0 for ops without one.
    pub(crate) fn alpha(self) -> f32 {
        match self {
            UnaryOp::Scale(a) | UnaryOp::LeakyRelu(a) => a,
            UnaryOp::Relu | UnaryOp::Sigmoid | UnaryOp::Tanh | UnaryOp::Relu6 => 0.0,
        }
    }
}

/// Which binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Mul,
}

impl BinaryOp {
    pub(crate) fn code(self) -> f64 {
        match self {
            BinaryOp::Add => 0.0,
            BinaryOp::Mul => 1.0,
        }
    }
}

/// Channel count and elements per channel run for PReLU on `shape`, following torch: the
/// channel axis is 1 for rank >= 2; a 1-D input is taken as `[C]`; a scalar has one channel.
pub(crate) fn prelu_layout(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], 1),
        _ => (shape[1], shape[2..].iter().product()),
    }
}
