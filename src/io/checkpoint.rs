//! Checkpoints in safetensors, named as PyTorch state dicts name them, so that a model trained by
//! hark loads into the reference code and back. Writes are atomic; loads check every tensor's
//! presence and shape and name the offending tensor.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

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

/// The most values hark accepts in one model built from a checkpoint's metadata (2^31, 8 GiB of
/// float32): a size past it is refused before any allocation even when the file backs it.
pub const MAX_MODEL_VALUES: u64 = 1 << 31;

/// The longest FFT frame (and hop) hark accepts from a file's metadata: 2^16 samples, 4 s at
/// 16 kHz.
pub const MAX_N_FFT: u64 = 1 << 16;

/// The longest clip, in samples, hark accepts from a file's metadata: one hour at 16 kHz.
pub const MAX_CLIP_SAMPLES: u64 = 16_000 * 3600;

/// A checkpoint's header, read and checked (every tensor's bytes inside the file) without
/// reading its tensors: the metadata and each tensor's element type and shape. Loaders read the
/// sizes of the model they build from it through [`CheckpointHeader::size`] and check the
/// model's shapes with [`CheckpointHeader::require_shapes`] before allocating anything.
#[derive(Clone, Debug)]
pub struct CheckpointHeader {
    pub path: PathBuf,
    pub metadata: HashMap<String, String>,
    pub tensors: BTreeMap<String, (Dtype, Vec<usize>)>,
}

impl CheckpointHeader {
    /// Reads the header of the safetensors file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// The header of `bytes`, the contents of the file at `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| checkpoint_error(path, format!("not a safetensors file: {e}")))?;
        let tensors = header
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, (info.dtype, info.shape.clone())))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            metadata: header.metadata().clone().unwrap_or_default(),
            tensors,
        })
    }

    /// Values stored in the file, all tensors together: no model loaded from it can have more
    /// parameters.
    pub fn stored_values(&self) -> u64 {
        self.tensors
            .values()
            .map(|(_, shape)| shape.iter().map(|&d| d as u64).product::<u64>())
            .sum()
    }

    /// An error naming the file, `field` (=`value`) and why it is refused.
    pub fn size_error(
        &self,
        field: &str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> HarkError {
        HarkError::FileSize {
            path: self.path.display().to_string(),
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The metadata entry `key` as a size in `1..=max`: present, a whole number, not zero and no
    /// larger than `max` (say what bounds it in `max_reason`).
    pub fn size(&self, key: &str, max: u64, max_reason: &str) -> Result<usize> {
        let text = self
            .metadata
            .get(key)
            .ok_or_else(|| self.size_error(key, "missing", "the metadata lacks it"))?;
        let value: u64 = text
            .trim()
            .parse()
            .map_err(|_| self.size_error(key, format!("{text:?}"), "not a whole number"))?;
        if value == 0 {
            return Err(self.size_error(key, value, "must be at least 1"));
        }
        if value > max {
            return Err(self.size_error(key, value, format!("the limit is {max} ({max_reason})")));
        }
        usize::try_from(value)
            .map_err(|_| self.size_error(key, value, "too large for this machine"))
    }

    /// Like [`CheckpointHeader::size`] with the limit every parameter dimension has: no more than
    /// the values the file stores.
    pub fn dimension(&self, key: &str) -> Result<usize> {
        self.size(
            key,
            self.stored_values(),
            "a model dimension cannot exceed the values the file stores",
        )
    }

    /// Refuses a model of `params` values (`what` names its configuration) when the file cannot
    /// hold them or they pass [`MAX_MODEL_VALUES`].
    pub fn require_fits(&self, what: &str, params: u64) -> Result<()> {
        let stored = self.stored_values();
        if params > stored {
            return Err(self.size_error(
                what,
                format!("{params} parameters"),
                format!("the file stores only {stored} values"),
            ));
        }
        if params > MAX_MODEL_VALUES {
            return Err(self.size_error(
                what,
                format!("{params} parameters"),
                format!("the limit is {MAX_MODEL_VALUES}"),
            ));
        }
        Ok(())
    }

    /// Checks that every `(name, shape)` is present with that shape and as float32, before the
    /// model that would hold them is allocated; the error names the first that is not.
    pub fn require_shapes<'a>(
        &self,
        expected: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    ) -> Result<()> {
        for (name, shape) in expected {
            match self.tensors.get(name) {
                None => {
                    return Err(checkpoint_error(
                        &self.path,
                        format!("tensor {name} is missing"),
                    ))
                }
                Some((_, got)) if got.as_slice() != shape => {
                    return Err(checkpoint_error(
                        &self.path,
                        format!("tensor {name} has shape {got:?}, the model expects {shape:?}"),
                    ))
                }
                Some((dtype, _)) if *dtype != Dtype::F32 => {
                    return Err(checkpoint_error(
                        &self.path,
                        format!("tensor {name} is {dtype:?}, expected F32"),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
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
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            // A NaN or infinite weight makes every output NaN or silently wrong: refuse it.
            return Err(HarkError::StateDict {
                path: path.display().to_string(),
                tensor: name.clone(),
                detail: format!(
                    "value {i} is {} (a model with a NaN or infinite weight is refused)",
                    values[i]
                ),
            });
        }
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
