//! Shared parameters of the `matmul` kernels (see [`crate::params`]).

/// The epilogue's activation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    #[default]
    None,
    Relu,
    /// LeakyReLU with this negative slope.
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// `10 log10(max(x, eps))`: a mel filterbank and the DCASE log in one pass.
    Decibel {
        eps: f32,
    },
    /// `ln(max(x, eps))`.
    LogNatural {
        eps: f32,
    },
}

impl Activation {
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            Activation::None => (0, 0.0),
            Activation::Relu => (1, 0.0),
            Activation::LeakyRelu(slope) => (2, slope),
            Activation::Sigmoid => (3, 0.0),
            Activation::Tanh => (4, 0.0),
            Activation::Decibel { eps } => (5, eps),
            Activation::LogNatural { eps } => (6, eps),
        }
    }
}
