//! Elementwise kernels: binary add/mul with broadcasting, unary maps (scale, activations) and
//! PReLU. One thread per output element, out-of-place.

mod binary;
mod copy_columns;
mod prelu;
mod unary;

pub use binary::{add, binary, mul, BinaryOp};
pub use copy_columns::{concat_columns, copy_columns, split_columns, ColumnBlock};
pub use prelu::prelu;
pub(crate) use prelu::prelu_layout;
pub use unary::{leaky_relu, relu, scale, sigmoid, tanh, unary, UnaryOp};
