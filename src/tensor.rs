//! GPU tensors: a storage buffer (or a slice of a caller's buffer) with a row-major shape.
//! Elements are `f32`, or `f16` in storage where the device has `SHADER_F16`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::context::{Context, ContextInner};
use crate::error::{HarkError, Result};

/// Element type of a tensor's storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
        }
    }
}

/// Source of ids that key bind groups to storage (never reused, unlike buffer addresses).
static NEXT_STORAGE_ID: AtomicU64 = AtomicU64::new(1);

/// A tensor's buffer and its cache id. When the last tensor (clone or view) of a storage is
/// dropped, the context's cached bind groups that hold its buffer are dropped too, so that
/// temporaries do not stay alive in the cache.
struct Storage {
    buffer: wgpu::Buffer,
    id: u64,
    context: Weak<ContextInner>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("id", &self.id)
            .field("bytes", &self.buffer.size())
            .finish()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(inner) = self.context.upgrade() {
            inner.bind_groups.evict_storage(self.id);
        }
    }
}

impl Storage {
    fn new(ctx: &Context, buffer: wgpu::Buffer) -> Arc<Self> {
        Arc::new(Self {
            buffer,
            id: NEXT_STORAGE_ID.fetch_add(1, Ordering::Relaxed),
            context: Arc::downgrade(&ctx.inner),
        })
    }
}

/// A tensor on the GPU. Cloning shares the buffer; [`Tensor::reshape`] makes a view.
#[derive(Clone, Debug)]
pub struct Tensor {
    storage: Arc<Storage>,
    offset: u64,
    shape: Vec<usize>,
    dtype: DType,
}

fn numel_of(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// A new zero-filled tensor (wgpu zero-initialises new buffers).
    pub fn zeros(ctx: &Context, shape: &[usize], dtype: DType) -> Result<Self> {
        if dtype == DType::F16 && !ctx.has_f16() {
            return Err(HarkError::DType {
                kernel: "tensor",
                expected: "f32 (this device lacks SHADER_F16)",
                got: "f16",
            });
        }
        let numel = numel_of(shape).ok_or_else(|| {
            HarkError::shape("tensor", format!("element count of {shape:?} overflows"))
        })?;
        let bytes = (numel as u64)
            .checked_mul(dtype.size())
            .ok_or_else(|| HarkError::shape("tensor", format!("{shape:?} is too large")))?;
        // Bindings are sized in multiples of 4 bytes; keep 16 for vec4 loads.
        let alloc = bytes.max(4).div_ceil(16) * 16;
        ctx.check_binding_size(format!("tensor {shape:?} {}", dtype.name()), alloc)?;
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("hark tensor"),
            size: alloc,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            storage: Storage::new(ctx, buffer),
            offset: 0,
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// Uploads `data` (row-major) as an `f32` tensor of `shape`.
    pub fn from_slice(ctx: &Context, shape: &[usize], data: &[f32]) -> Result<Self> {
        let tensor = Self::zeros(ctx, shape, DType::F32)?;
        tensor.write(ctx, data)?;
        Ok(tensor)
    }

    /// Uploads `data` as an `f16` tensor of `shape` (needs `SHADER_F16`).
    pub fn from_f16(ctx: &Context, shape: &[usize], data: &[half::f16]) -> Result<Self> {
        let tensor = Self::zeros(ctx, shape, DType::F16)?;
        tensor.check_len("upload", data.len())?;
        let mut bytes = bytemuck::cast_slice::<half::f16, u8>(data).to_vec();
        bytes.resize(bytes.len().div_ceil(4) * 4, 0);
        ctx.queue()
            .write_buffer(&tensor.storage.buffer, tensor.offset, &bytes);
        Ok(tensor)
    }

    /// Wraps `bytes_len`-many bytes of a caller's buffer at `offset` as a tensor (the embedding
    /// API). The buffer needs `STORAGE` usage (and `COPY_SRC`/`COPY_DST` for downloads/uploads);
    /// `offset` must be a multiple of the device's `min_storage_buffer_offset_alignment`.
    pub fn wrap(
        ctx: &Context,
        buffer: &wgpu::Buffer,
        offset: u64,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Self> {
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(HarkError::invalid(
                "tensor wrap",
                "the buffer was not created with BufferUsages::STORAGE",
            ));
        }
        let align = u64::from(ctx.limits().min_storage_buffer_offset_alignment);
        if !offset.is_multiple_of(align) {
            return Err(HarkError::invalid(
                "tensor wrap",
                format!("offset {offset} is not a multiple of the storage alignment {align}"),
            ));
        }
        let numel = numel_of(shape).ok_or_else(|| {
            HarkError::shape(
                "tensor wrap",
                format!("element count of {shape:?} overflows"),
            )
        })?;
        let bytes = numel as u64 * dtype.size();
        let needed = offset + bytes.div_ceil(4) * 4;
        if needed > buffer.size() {
            return Err(HarkError::shape(
                "tensor wrap",
                format!(
                    "{shape:?} {} at offset {offset} needs {needed} bytes, buffer has {}",
                    dtype.name(),
                    buffer.size()
                ),
            ));
        }
        ctx.check_binding_size(format!("wrapped tensor {shape:?}"), bytes)?;
        Ok(Self {
            storage: Storage::new(ctx, buffer.clone()),
            offset,
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// Overwrites the tensor with `data` (f32 tensors).
    pub fn write(&self, ctx: &Context, data: &[f32]) -> Result<()> {
        self.expect_dtype("upload", DType::F32)?;
        self.check_len("upload", data.len())?;
        if !data.is_empty() {
            ctx.queue().write_buffer(
                &self.storage.buffer,
                self.offset,
                bytemuck::cast_slice(data),
            );
        }
        Ok(())
    }

    /// Downloads the tensor as `f32` (f16 storage is widened). Waits for the GPU.
    pub fn to_vec(&self, ctx: &Context) -> Result<Vec<f32>> {
        let numel = self.numel();
        if numel == 0 {
            return Ok(Vec::new());
        }
        let bytes = self.binding_size();
        let staging = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("hark download"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("hark download"),
            });
        encoder.copy_buffer_to_buffer(&self.storage.buffer, self.offset, &staging, 0, Some(bytes));
        ctx.queue().submit([encoder.finish()]);
        match self.dtype {
            DType::F32 => {
                let mut out: Vec<f32> = read_mapped(ctx, &staging, "tensor")?;
                out.truncate(numel);
                Ok(out)
            }
            DType::F16 => {
                let raw: Vec<u16> = read_mapped(ctx, &staging, "tensor")?;
                Ok(raw[..numel]
                    .iter()
                    .map(|&bits| half::f16::from_bits(bits).to_f32())
                    .collect())
            }
        }
    }

    /// A view with another shape of the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel_of(shape) != Some(self.numel()) {
            return Err(HarkError::shape(
                "reshape",
                format!("{:?} cannot become {shape:?}", self.shape),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            ..self.clone()
        })
    }

    /// A view of the first elements of this tensor's storage with `shape` (at most as many
    /// elements as this view holds): scratch buffers reused at several sizes.
    pub(crate) fn prefix(&self, shape: &[usize]) -> Result<Self> {
        match numel_of(shape) {
            Some(n) if n <= self.numel() => Ok(Self {
                shape: shape.to_vec(),
                ..self.clone()
            }),
            _ => Err(HarkError::shape(
                "prefix",
                format!("{:?} does not fit in {:?}", shape, self.shape),
            )),
        }
    }

    /// The shape, row-major.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The underlying buffer (shared with clones and views).
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.storage.buffer
    }

    /// Byte offset of element 0 in [`Tensor::buffer`].
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes a binding of this tensor covers: the data rounded up to 4 bytes.
    pub fn binding_size(&self) -> u64 {
        (self.numel() as u64 * self.dtype.size()).max(4).div_ceil(4) * 4
    }

    pub(crate) fn storage_id(&self) -> u64 {
        self.storage.id
    }

    /// Errors unless the tensor holds `dtype` elements.
    pub fn expect_dtype(&self, kernel: &'static str, dtype: DType) -> Result<()> {
        if self.dtype != dtype {
            return Err(HarkError::DType {
                kernel,
                expected: dtype.name(),
                got: self.dtype.name(),
            });
        }
        Ok(())
    }

    fn check_len(&self, what: &'static str, len: usize) -> Result<()> {
        if len != self.numel() {
            return Err(HarkError::shape(
                what,
                format!(
                    "{len} values for a tensor of shape {:?} ({} elements)",
                    self.shape,
                    self.numel()
                ),
            ));
        }
        Ok(())
    }
}

/// Maps a `MAP_READ` buffer that has a pending copy, waits, and returns its contents.
pub(crate) fn read_mapped<T: bytemuck::Pod>(
    ctx: &Context,
    staging: &wgpu::Buffer,
    what: &str,
) -> Result<Vec<T>> {
    let slice = staging.slice(..);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    ctx.wait()?;
    match receiver.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(HarkError::Readback {
                what: what.to_string(),
                detail: e.to_string(),
            })
        }
        Err(_) => {
            return Err(HarkError::Readback {
                what: what.to_string(),
                detail: "the map callback never ran".into(),
            })
        }
    }
    let out = {
        let view = slice.get_mapped_range().map_err(|e| HarkError::Readback {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        bytemuck::pod_collect_to_vec(&view)
    };
    staging.unmap();
    Ok(out)
}
