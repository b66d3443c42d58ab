//! GPU kernel launchers, one module per family. Launchers check shapes, fetch the cached
//! pipeline, bind and dispatch into a [`Recorder`](crate::Recorder); they never submit or read back.

pub mod activation;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod elementwise;
pub(crate) mod fast_div;
pub mod features;
pub mod fft;
pub mod flow;
pub mod im2col;
pub mod knn;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod separation;
pub mod softmax;
pub mod stft;

use crate::error::{HarkError, Result};

/// A size as the `u32` shaders index with, or an error naming the kernel.
pub(crate) fn to_u32(kernel: &'static str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| HarkError::invalid(kernel, format!("{value} exceeds u32")))
}

/// Loop iterations one shader invocation may run in total, over all its loops (nested inner
/// iterations count). Mesa's llvmpipe/lavapipe ends every loop of an invocation once it has
/// run 65,535 iterations in all, silently; kernels split their work so that no invocation
/// comes near that (README, "Portability: loop budget per invocation").
pub const LOOP_BUDGET: usize = 16_384;

/// Errors unless `iterations`, the most loop iterations one invocation of `kernel` runs for the
/// shapes at hand, stays within [`LOOP_BUDGET`]; `what` names the size that bounds it.
pub(crate) fn check_loop_budget(kernel: &'static str, iterations: usize, what: &str) -> Result<()> {
    if iterations > LOOP_BUDGET {
        return Err(HarkError::invalid(
            kernel,
            format!(
                "{what}: {iterations} loop iterations in one invocation exceed the budget of \
                 {LOOP_BUDGET} (README, \"Portability: loop budget per invocation\")"
            ),
        ));
    }
    Ok(())
}
