//! Shared parameters of the `loss` kernels (see [`crate::params`]).

/// The distance between embeddings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TripletMetric {
    /// `sqrt(|a - b|^2 + 1e-12)`, as Hermans et al. (their 1e-12 keeps the gradient finite).
    #[default]
    Euclidean,
    /// `1 - cos(a, b)`, the distance paper 002 scores with.
    Cosine,
}

impl TripletMetric {
    pub(crate) fn code(self) -> u32 {
        match self {
            TripletMetric::Euclidean => 0,
            TripletMetric::Cosine => 1,
        }
    }
}

/// How a sample and its partner combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixupMode {
    /// `lambda x[b] + (1 - lambda) x[B-1-b]` (inputs; labels in classic mixup).
    Linear,
    /// `max(lambda y[b], (1 - lambda) y[B-1-b])` (labels in Wilkinghoff's system).
    Max,
}
