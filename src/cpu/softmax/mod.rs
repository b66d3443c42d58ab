//! CPU references for the softmax kernels.
