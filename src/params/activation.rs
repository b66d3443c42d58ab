//! Shared parameters of the `activation` kernels (see [`crate::params`]).

/// Which activation's gradient, and what `saved` holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationGrad {
    /// LeakyReLU with this negative slope; `saved` is the forward input.
    LeakyRelu(f32),
    /// Sigmoid; `saved` is the forward output.
    Sigmoid,
    /// Tanh; `saved` is the forward output.
    Tanh,
    /// Softplus with `beta` and `threshold`; `saved` is the forward input.
    Softplus { beta: f32, threshold: f32 },
    /// ReLU6; `saved` is the forward input.
    Relu6,
}

impl ActivationGrad {
    /// The shader's `OP` override constant.
    pub(crate) fn code(self) -> f64 {
        match self {
            ActivationGrad::LeakyRelu(_) => 0.0,
            ActivationGrad::Sigmoid => 1.0,
            ActivationGrad::Tanh => 2.0,
            ActivationGrad::Softplus { .. } => 3.0,
            ActivationGrad::Relu6 => 4.0,
        }
    }
}
