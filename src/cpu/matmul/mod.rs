//! CPU references for the matmul kernels.
