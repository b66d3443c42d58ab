//! Losses and their gradients.

mod mse;

pub use mse::{mse_backward, mse_rows};
