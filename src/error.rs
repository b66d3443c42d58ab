//! hark's one error type. Variants carry the kernel name and the offending shapes, so that a
//! failure deep inside a model still says which launch was wrong and why.

use thiserror::Error;

/// Everything that can go wrong in hark.
#[derive(Debug, Error)]
pub enum HarkError {
    /// No GPU adapter matched the request.
    #[error(
        "no GPU adapter found{detail}.\n\
         hark needs a Vulkan, Metal or DX12 driver. On Debian/Ubuntu without a GPU, install Mesa's \
         software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers libvulkan1`. \
         Override the choice with HARK_BACKEND=vulkan|metal|dx12|gl and HARK_ADAPTER=<name substring>."
    )]
    NoAdapter {
        /// Why the search came back empty (the filters in force, the adapters seen).
        detail: String,
    },

    /// An environment variable or option had a value hark does not understand.
    #[error("invalid setting {name}={value:?}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: String,
    },

    /// The adapter refused to create a device.
    #[error("could not create a device on adapter '{adapter}': {source}")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },

    /// Tensor shapes do not fit the kernel.
    #[error("{kernel}: shape mismatch: {detail}")]
    Shape {
        kernel: &'static str,
        detail: String,
    },

    /// A tensor has the wrong element type for the kernel.
    #[error("{kernel}: expected {expected} data, got {got}")]
    DType {
        kernel: &'static str,
        expected: &'static str,
        got: &'static str,
    },

    /// A buffer or binding would exceed a device limit.
    #[error("{what} needs {bytes} bytes but the device allows at most {limit} ({limit_name})")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },

    /// An argument is outside the kernel's domain (empty input, bad axis, bad alignment...).
    #[error("{kernel}: {detail}")]
    InvalidArgument {
        kernel: &'static str,
        detail: String,
    },

    /// wgpu reported a validation error (a bug in hark or in the caller's use of a wrapped buffer).
    #[error("GPU validation error in {context}: {message}")]
    Validation { context: String, message: String },

    /// The device ran out of memory.
    #[error("GPU out of memory in {context}: {message}")]
    OutOfMemory { context: String, message: String },

    /// The device was lost (driver reset, GPU removed, timeout).
    #[error("GPU device lost: {0}")]
    DeviceLost(String),

    /// Reading a buffer back from the GPU failed.
    #[error("reading back {what} failed: {detail}")]
    Readback { what: String, detail: String },

    /// A WAV file that cannot be used: not a WAV, wrong rate or channels, truncated, NaN...
    #[error("{path}: {reason}")]
    Wav { path: String, reason: String },

    /// File or stream I/O.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A state dict (safetensors checkpoint) that does not fit the model: a tensor missing,
    /// unexpected, of the wrong shape or element type, or disagreeing with the others.
    #[error("{path}: tensor {tensor}: {detail}")]
    StateDict {
        path: String,
        tensor: String,
        detail: String,
    },

    /// A size read from a file (checkpoint metadata, an npy or WAV header) that the file's data
    /// cannot back or that exceeds hark's limit; refused before anything is allocated.
    #[error("{path}: {field} = {value} is out of range: {reason}")]
    FileSize {
        path: String,
        field: String,
        value: String,
        reason: String,
    },

    /// A dataset file or folder does not follow the DCASE layout (names, CSV columns).
    #[error("{path}: {detail}")]
    Dataset { path: String, detail: String },

    /// A monitored audio stream that cannot be used (wrong sample rate or channels, a source
    /// that failed), named as the user named it.
    #[error("stream '{stream}': {detail}")]
    Stream { stream: String, detail: String },

    /// A metric is undefined for the given labels and scores (one class only, NaN scores...).
    #[error("{metric}: {detail}")]
    Metric {
        metric: &'static str,
        detail: String,
    },
}

/// hark's result type.
pub type Result<T, E = HarkError> = std::result::Result<T, E>;

impl HarkError {
    /// A shape error for `kernel`.
    pub fn shape(kernel: &'static str, detail: impl Into<String>) -> Self {
        Self::Shape {
            kernel,
            detail: detail.into(),
        }
    }

    /// An invalid-argument error for `kernel`.
    pub fn invalid(kernel: &'static str, detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            kernel,
            detail: detail.into(),
        }
    }

    /// Maps a wgpu error caught in an error scope to a typed error.
    pub(crate) fn from_wgpu(context: impl Into<String>, error: wgpu::Error) -> Self {
        let context = context.into();
        match error {
            wgpu::Error::OutOfMemory { source } => Self::OutOfMemory {
                context,
                message: source.to_string(),
            },
            wgpu::Error::Validation { description, .. } => Self::Validation {
                context,
                message: description,
            },
            wgpu::Error::Internal { description, .. } => Self::Validation {
                context,
                message: description,
            },
        }
    }
}
