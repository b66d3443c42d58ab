//! CPU references for the reduce kernels.
