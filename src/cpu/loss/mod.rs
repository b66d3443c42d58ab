//! CPU references for the losses.

mod mse;

pub use mse::{mse_backward, mse_rows};
