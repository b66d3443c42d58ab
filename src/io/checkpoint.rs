//! Checkpoints in safetensors, named as PyTorch state dicts name them, so that a model trained by
//! hark loads into the reference code and back. Writes are atomic; loads check every tensor's
//! presence and shape and name the offending tensor.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::atomic::write_bytes_atomically;
use crate::tensor::Tensor;

fn checkpoint_error(path: &Path, detail: impl Into<String>) -> HarkError {
    HarkError::InvalidArgument {
        kernel: "checkpoint",
        detail: format!("{}: {}", path.display(), detail.into()),
    }
}

/// Writes `tensors` (state-dict name, GPU tensor) as float32, plus `metadata`, atomically.
pub fn save_checkpoint(
    ctx: &Context,
    path: &Path,
    tensors: &[(String, &Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut host: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let values = tensor.to_vec(ctx)?;
        host.push((
            name.clone(),
            tensor.shape().to_vec(),
            bytemuck::cast_slice(&values).to_vec(),
        ));
    }
    let views = host
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| checkpoint_error(path, format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| checkpoint_error(path, e.to_string()))?;
    write_bytes_atomically(path, &bytes)
}

/// Reads a checkpoint into `tensors` (state-dict name, destination): every name must be present
/// with the destination's shape. Returns the checkpoint's metadata.
pub fn load_checkpoint(
    ctx: &Context,
    path: &Path,
    tensors: &[(String, &Tensor)],
) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| checkpoint_error(path, format!("not a safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| checkpoint_error(path, format!("not a safetensors file: {e}")))?;
    for (name, destination) in tensors {
        let view = file
            .tensor(name)
            .map_err(|_| checkpoint_error(path, format!("tensor {name} is missing")))?;
        if view.shape() != destination.shape() {
            return Err(checkpoint_error(
                path,
                format!(
                    "tensor {name} has shape {:?}, the model expects {:?}",
                    view.shape(),
                    destination.shape()
                ),
            ));
        }
        if view.dtype() != Dtype::F32 {
            return Err(checkpoint_error(
                path,
                format!("tensor {name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        destination.write(ctx, &values)?;
    }
    Ok(metadata)
}

/// Refuses to resume from the state at `path` when its `metadata` differs from `expected` on any
/// of `keys` (resuming would silently change the run); the error names the setting.
pub fn require_same_run<'k>(
    kernel: &'static str,
    path: &Path,
    metadata: &HashMap<String, String>,
    expected: &HashMap<String, String>,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<()> {
    for key in keys {
        let theirs = metadata.get(key).map(String::as_str).unwrap_or("missing");
        let ours = expected.get(key).map(String::as_str).unwrap_or("missing");
        if theirs != ours {
            return Err(HarkError::invalid(
                kernel,
                format!(
                    "{}: cannot resume, it was written with {key} = {theirs}, this run has {ours}",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}
