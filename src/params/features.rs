//! Shared parameters of the `features` kernels (see [`crate::params`]).

/// Which logarithm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogKind {
    /// `10 * log10(max(x, eps))`: decibels of a power spectrum (the DCASE log-mel).
    Decibel { eps: f32 },
    /// `ln(max(x, eps))`.
    Natural { eps: f32 },
}

impl LogKind {
    /// The DCASE baselines' `10 log10(max(x, 2.220446049250313e-16))`.
    pub const DCASE: LogKind = LogKind::Decibel {
        eps: f64::EPSILON as f32,
    };

    pub(crate) fn mode_and_eps(self) -> (u32, f32) {
        match self {
            LogKind::Decibel { eps } => (0, eps),
            LogKind::Natural { eps } => (1, eps),
        }
    }
}
