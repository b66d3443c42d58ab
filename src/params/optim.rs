//! Shared parameters of the `optim` kernels (see [`crate::params`]).

/// Hyper-parameters of Adam / AdamW (torch defaults but lr).
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW (decoupled weight decay) instead of Adam's L2 term.
    pub decoupled: bool,
}

impl AdamConfig {
    /// torch.optim.Adam defaults with this learning rate.
    pub fn adam(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}
