//! CPU references for the softmax kernels.

// The house layout is <family>/<kernel>; here the family's one kernel shares its name.
#[allow(clippy::module_inception)]
mod softmax;

pub use softmax::softmax;
