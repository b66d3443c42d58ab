//! CPU references for the optimizers.

mod adam;

pub use adam::adam_step;
