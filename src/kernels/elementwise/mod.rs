//! Elementwise kernels: binary add/mul with broadcasting, unary maps (scale, activations) and
//! PReLU. One thread per output element, out-of-place.

mod binary;
mod prelu;
mod unary;

pub use binary::{add, binary, mul, BinaryOp};
pub use prelu::prelu;
pub(crate) use prelu::prelu_layout;
pub use unary::{leaky_relu, relu, scale, sigmoid, tanh, unary, UnaryOp};

/// Byte size naga computes for the struct `name` in `shader`, to hold host parameter structs to
/// their WGSL twins ("keep in sync" checked, not just hoped for).
#[cfg(test)]
pub(crate) fn wgsl_struct_size(shader: crate::shaders::Shader, name: &str) -> Option<usize> {
    let module = naga::front::wgsl::parse_str(shader.source()).ok()?;
    let size = module.types.iter().find_map(|(_, ty)| match &ty.inner {
        naga::TypeInner::Struct { span, .. } if ty.name.as_deref() == Some(name) => {
            Some(*span as usize)
        }
        _ => None,
    });
    size
}
