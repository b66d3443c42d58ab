//! Softmax along one axis of a tensor of any rank (class posteriors, attention over frames).
//! Max-subtracted for stability, one workgroup per row with workgroup-memory reductions.

// The house layout is <family>/<kernel>; here the family's one kernel shares its name.
#[allow(clippy::module_inception)]
mod softmax;

pub use softmax::softmax;
