//! The GPU context: adapter choice, device creation with the adapter's own limits and the optional
//! features hark can use, and the shared caches (pipelines, bind groups, launch parameters).
//! A context is cheap to clone; clones share one device.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{HarkError, Result};
use crate::runtime::{BindGroupCache, ParamPool, PipelineCache};

/// Optional features hark turns on when the adapter has them.
const WANTED_FEATURES: wgpu::Features = wgpu::Features::TIMESTAMP_QUERY
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP);

/// How to choose the adapter. [`ContextOptions::from_env`] reads `HARK_BACKEND` and
/// `HARK_ADAPTER`; the default prefers a discrete GPU on any backend.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Restrict to one backend (`None`: Vulkan, Metal, DX12 and GL are all considered).
    pub backend: Option<wgpu::Backend>,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter_name: Option<String>,
}

impl ContextOptions {
    /// Reads `HARK_BACKEND=vulkan|metal|dx12|gl` and `HARK_ADAPTER=<name substring>`.
    pub fn from_env() -> Result<Self> {
        let backend = match std::env::var("HARK_BACKEND") {
            Ok(value) if !value.trim().is_empty() => Some(parse_backend(&value)?),
            _ => None,
        };
        let adapter_name = std::env::var("HARK_ADAPTER")
            .ok()
            .filter(|name| !name.trim().is_empty());
        Ok(Self {
            backend,
            adapter_name,
        })
    }
}

fn parse_backend(value: &str) -> Result<wgpu::Backend> {
    match value.trim().to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => Ok(wgpu::Backend::Vulkan),
        "metal" | "mtl" => Ok(wgpu::Backend::Metal),
        "dx12" | "d3d12" => Ok(wgpu::Backend::Dx12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backend::Gl),
        _ => Err(HarkError::InvalidSetting {
            name: "HARK_BACKEND",
            value: value.to_string(),
            reason: "expected one of vulkan, metal, dx12, gl".into(),
        }),
    }
}

fn backend_bits(backend: wgpu::Backend) -> wgpu::Backends {
    match backend {
        wgpu::Backend::Vulkan => wgpu::Backends::VULKAN,
        wgpu::Backend::Metal => wgpu::Backends::METAL,
        wgpu::Backend::Dx12 => wgpu::Backends::DX12,
        wgpu::Backend::Gl => wgpu::Backends::GL,
        _ => wgpu::Backends::empty(),
    }
}

/// Lower is better: discrete first, software last.
fn device_type_rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Lower is better. Native backends (Vulkan, Metal, DX12) come before GL whatever the device:
/// wgpu's GL backend is a compatibility layer (no timestamps, f16 or subgroups) and on Linux
/// usually means llvmpipe, several times slower than lavapipe on Vulkan. Then discrete before
/// integrated before software, then Vulkan before the other native backends.
fn adapter_rank(info: &wgpu::AdapterInfo) -> (bool, u8, bool) {
    (
        info.backend == wgpu::Backend::Gl,
        device_type_rank(info.device_type),
        info.backend != wgpu::Backend::Vulkan,
    )
}

/// Whether an adapter runs shaders on the CPU: a CPU device type, or a name of one of the
/// software rasterisers (some report themselves as "Other").
pub fn is_software_adapter(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || [
            "llvmpipe",
            "lavapipe",
            "swiftshader",
            "basic render",
            "warp",
        ]
        .iter()
        .any(|s| name.contains(s))
}

/// What to tell a user whose adapter is a software one (`None` for a hardware GPU).
pub fn software_adapter_note(info: &wgpu::AdapterInfo) -> Option<String> {
    if !is_software_adapter(info) {
        return None;
    }
    let faster = if info.backend == wgpu::Backend::Gl {
        "install a Vulkan driver for a faster one (Debian/Ubuntu: `apt-get install \
         mesa-vulkan-drivers libvulkan1`, which gives lavapipe, several times faster than GL \
         llvmpipe), or a GPU's own driver"
            .to_string()
    } else {
        "a GPU with a Vulkan, Metal or DX12 driver runs them many times faster \
         (HARK_ADAPTER / HARK_BACKEND choose among adapters; `hark info` lists the chosen one)"
            .to_string()
    };
    Some(format!(
        "note: hark runs on {} ({:?}), a software adapter: every kernel runs on this machine's \
         CPU, so training is slow and GPU timings are CPU-bound; {faster}.",
        info.name, info.backend
    ))
}

/// Where [`Context::new`] reports a software adapter, once per process (see
/// [`set_software_adapter_notice`]).
static SOFTWARE_NOTICE: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();
static SOFTWARE_NOTICE_SAID: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Asks hark to pass [`software_adapter_note`] to `notice` the first time a context is made on a
/// software adapter (the `hark` binary prints it on stderr). Libraries embedding hark stay silent
/// unless they set it. Only the first call takes effect.
pub fn set_software_adapter_notice(notice: fn(&str)) {
    let _ = SOFTWARE_NOTICE.set(notice);
}

fn announce_software(info: &wgpu::AdapterInfo) {
    let Some(notice) = SOFTWARE_NOTICE.get() else {
        return;
    };
    if let Some(note) = software_adapter_note(info) {
        if !SOFTWARE_NOTICE_SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            notice(&note);
        }
    }
}

/// Errors reported by wgpu outside an error scope, and the device-lost message if any.
#[derive(Default)]
pub(crate) struct ErrorSink {
    pub(crate) errors: Vec<wgpu::Error>,
    pub(crate) lost: Option<String>,
}

pub(crate) struct ContextInner {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) features: wgpu::Features,
    pub(crate) limits: wgpu::Limits,
    /// `None` for contexts built on a caller's device: hark does not take over its error handler.
    pub(crate) sink: Option<Arc<Mutex<ErrorSink>>>,
    pub(crate) pipelines: PipelineCache,
    pub(crate) bind_groups: BindGroupCache,
    pub(crate) params: Arc<Mutex<ParamPool>>,
    /// Kernels' temporaries by name, kept and grown across launches (see [`Context::scratch`]).
    pub(crate) scratch: Mutex<std::collections::HashMap<&'static str, crate::tensor::Tensor>>,
    /// Matmul autotuning: on or off, and the choices made (see `kernels::matmul::autotune`).
    pub(crate) autotune: Mutex<crate::kernels::matmul::autotune::AutotuneState>,
}

/// A GPU device and queue with hark's caches. Clone it freely.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("adapter", &self.inner.info.name)
            .field("backend", &self.inner.info.backend)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Creates a context on the best adapter, honouring `HARK_BACKEND` and `HARK_ADAPTER`.
    pub fn new() -> Result<Self> {
        Self::with_options(&ContextOptions::from_env()?)
    }

    /// Creates a context on the best adapter that matches `options`.
    pub fn with_options(options: &ContextOptions) -> Result<Self> {
        pollster::block_on(Self::with_options_async(options))
    }

    /// Async form of [`Context::with_options`].
    pub async fn with_options_async(options: &ContextOptions) -> Result<Self> {
        let backends = match options.backend {
            Some(backend) => backend_bits(backend),
            None => wgpu::Backends::all(),
        };
        let mut instance_desc = wgpu::InstanceDescriptor::new_without_display_handle();
        instance_desc.backends = backends;
        let instance = wgpu::Instance::new(instance_desc);
        let adapter = pick_adapter(&instance, backends, options).await?;
        let info = adapter.get_info();
        announce_software(&info);
        let features = adapter.features() & WANTED_FEATURES;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("hark"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|source| HarkError::RequestDevice {
                adapter: info.name.clone(),
                source,
            })?;

        let sink = Arc::new(Mutex::new(ErrorSink::default()));
        let handler_sink = Arc::clone(&sink);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            lock(&handler_sink).errors.push(error);
        }));
        let lost_sink = Arc::clone(&sink);
        device.set_device_lost_callback(move |reason, message| {
            lock(&lost_sink).lost = Some(format!("{reason:?}: {message}"));
        });
        Ok(Self::assemble(device, queue, info, Some(sink)))
    }

    /// Wraps a caller's device and queue (the embedding API). hark uses the features and limits
    /// the device was created with and leaves its uncaptured-error handler alone; hark's own
    /// operations still catch their errors with error scopes.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let info = device.adapter_info();
        Self::assemble(device, queue, info, None)
    }

    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        sink: Option<Arc<Mutex<ErrorSink>>>,
    ) -> Self {
        let features = device.features();
        let limits = device.limits();
        let params = Arc::new(Mutex::new(ParamPool::new(&limits)));
        Self {
            inner: Arc::new(ContextInner {
                device,
                queue,
                info,
                features,
                limits,
                sink,
                pipelines: PipelineCache::default(),
                bind_groups: BindGroupCache::default(),
                params,
                scratch: Mutex::default(),
                autotune: crate::kernels::matmul::autotune::AutotuneState::from_env(),
            }),
        }
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// The adapter this context runs on.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// Whether the adapter runs shaders on the CPU (llvmpipe, lavapipe, WARP, SwiftShader).
    pub fn is_software(&self) -> bool {
        is_software_adapter(&self.inner.info)
    }

    /// The features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.inner.features
    }

    /// The device's limits (the adapter's own, not wgpu's small defaults).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// Whether GPU timestamps can be written between passes.
    pub fn has_timestamps(&self) -> bool {
        self.inner
            .features
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Whether `f16` storage and arithmetic are available in shaders.
    pub fn has_f16(&self) -> bool {
        self.inner.features.contains(wgpu::Features::SHADER_F16)
    }

    /// Whether subgroup operations are available.
    pub fn has_subgroups(&self) -> bool {
        self.inner.features.contains(wgpu::Features::SUBGROUP)
    }

    /// Checks that a binding of `bytes` fits the device's storage-binding limit.
    pub fn check_binding_size(&self, what: impl Into<String>, bytes: u64) -> Result<()> {
        let limit = self
            .inner
            .limits
            .max_storage_buffer_binding_size
            .min(self.inner.limits.max_buffer_size);
        if bytes > limit {
            return Err(HarkError::TooLarge {
                what: what.into(),
                bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    /// Returns the first error wgpu reported since the last check (device loss first), if any.
    pub fn take_error(&self, context: &str) -> Result<()> {
        let Some(sink) = &self.inner.sink else {
            return Ok(());
        };
        let mut sink = lock(sink);
        if let Some(lost) = &sink.lost {
            return Err(HarkError::DeviceLost(lost.clone()));
        }
        if sink.errors.is_empty() {
            return Ok(());
        }
        let first = sink.errors.remove(0);
        sink.errors.clear();
        Err(HarkError::from_wgpu(context, first))
    }

    /// Waits until all submitted work has finished.
    pub fn wait(&self) -> Result<()> {
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| HarkError::DeviceLost(e.to_string()))?;
        self.take_error("wait")
    }

    /// An f32 scratch tensor of `shape` for the temporaries of the kernel call site `key` (split-K
    /// partial sums, chunked reductions' partials): a view of one buffer per key, kept and grown
    /// across launches. Reuse keeps recording cheap (no new buffer and bind group per launch) and
    /// is safe because dispatches on one queue run in order with barriers between users; callers
    /// must write the scratch before reading it (its contents are stale) and use a key of their
    /// own. A launch that needs more replaces the buffer; recordings holding the old one keep it
    /// alive.
    pub(crate) fn scratch(
        &self,
        key: &'static str,
        shape: &[usize],
    ) -> crate::Result<crate::tensor::Tensor> {
        let len: usize = shape.iter().product();
        let mut slots = lock(&self.inner.scratch);
        if let Some(t) = slots.get(key) {
            if t.numel() >= len {
                return t.prefix(shape);
            }
        }
        let t = crate::tensor::Tensor::zeros(self, &[len.max(1)], crate::tensor::DType::F32)?;
        slots.insert(key, t.clone());
        t.prefix(shape)
    }

    /// Turns matmul autotuning on or off for this context (default: on unless
    /// `HARK_AUTOTUNE=off`). Off, every product launches the heuristic configuration, so launches
    /// are the same on every run and machine; tests pin it off.
    pub fn set_autotune(&self, enabled: bool) {
        lock(&self.inner.autotune).set_enabled(enabled);
    }

    /// Keeps this context's autotuning choices in `cache` (`None`: in memory only) instead of
    /// the user's cache folder; forgets the choices made so far.
    pub fn set_autotune_cache(&self, cache: Option<std::path::PathBuf>) {
        lock(&self.inner.autotune).set_cache(cache);
    }

    /// Whether matmul autotuning is on (see [`Context::set_autotune`]).
    pub fn autotune(&self) -> bool {
        lock(&self.inner.autotune).enabled()
    }

    pub(crate) fn autotune_state(&self) -> &Mutex<crate::kernels::matmul::autotune::AutotuneState> {
        &self.inner.autotune
    }

    /// Drops cached bind groups (they keep their buffers alive until evicted).
    pub fn clear_bind_group_cache(&self) {
        self.inner.bind_groups.clear();
    }

    /// Uniform chunks created so far for kernel parameters (each holds up to 1024 dispatches;
    /// recordings reuse them once submitted).
    pub fn param_chunks(&self) -> usize {
        lock(&self.inner.params).chunks_created()
    }

    /// Bind groups cached now (entries go when their tensors are dropped, or past 1024).
    pub fn cached_bind_groups(&self) -> usize {
        self.inner.bind_groups.len()
    }

    /// (hits, misses) of the bind-group cache since the context was made.
    pub fn bind_group_stats(&self) -> (u64, u64) {
        self.inner.bind_groups.stats()
    }

    /// Number of compute pipelines compiled so far (each (shader, entry, constants) once).
    pub fn pipeline_count(&self) -> usize {
        self.inner.pipelines.len()
    }
}

async fn pick_adapter(
    instance: &wgpu::Instance,
    backends: wgpu::Backends,
    options: &ContextOptions,
) -> Result<wgpu::Adapter> {
    let adapters = instance.enumerate_adapters(backends).await;
    let seen: Vec<String> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
        })
        .collect();
    let wanted = options.adapter_name.as_ref().map(|s| s.to_lowercase());
    let best = adapters
        .into_iter()
        .filter(|a| match &wanted {
            Some(name) => a.get_info().name.to_lowercase().contains(name),
            None => true,
        })
        .min_by_key(|a| adapter_rank(&a.get_info()));
    best.ok_or_else(|| {
        let mut detail = String::new();
        if let Some(backend) = options.backend {
            detail.push_str(&format!(" for HARK_BACKEND={backend:?}"));
        }
        if let Some(name) = &options.adapter_name {
            detail.push_str(&format!(" matching HARK_ADAPTER={name:?}"));
        }
        if !seen.is_empty() {
            detail.push_str(&format!(" (adapters present: {})", seen.join(", ")));
        }
        HarkError::NoAdapter { detail }
    })
}

/// Locks a mutex, recovering the data if another thread panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse() {
        assert_eq!(parse_backend("Vulkan").ok(), Some(wgpu::Backend::Vulkan));
        assert_eq!(parse_backend(" gl ").ok(), Some(wgpu::Backend::Gl));
        assert_eq!(parse_backend("dx12").ok(), Some(wgpu::Backend::Dx12));
        assert!(matches!(
            parse_backend("cuda"),
            Err(HarkError::InvalidSetting { .. })
        ));
    }

    fn info(
        name: &str,
        device_type: wgpu::DeviceType,
        backend: wgpu::Backend,
    ) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            vendor: 0,
            device: 0,
            device_type,
            device_pci_bus_id: String::new(),
            driver: String::new(),
            driver_info: String::new(),
            backend,
            subgroup_min_size: 1,
            subgroup_max_size: 1,
            transient_saves_memory: None,
            limit_bucket: None,
        }
    }

    #[test]
    fn native_backends_outrank_gl_and_software_is_named() {
        let gl_llvmpipe = info(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            wgpu::DeviceType::Cpu,
            wgpu::Backend::Gl,
        );
        let lavapipe = info(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            wgpu::DeviceType::Cpu,
            wgpu::Backend::Vulkan,
        );
        let gl_gpu = info(
            "Mesa Intel(R) UHD",
            wgpu::DeviceType::IntegratedGpu,
            wgpu::Backend::Gl,
        );
        let discrete = info(
            "NVIDIA H200",
            wgpu::DeviceType::DiscreteGpu,
            wgpu::Backend::Vulkan,
        );
        assert!(adapter_rank(&lavapipe) < adapter_rank(&gl_llvmpipe));
        assert!(adapter_rank(&lavapipe) < adapter_rank(&gl_gpu));
        assert!(adapter_rank(&discrete) < adapter_rank(&lavapipe));
        assert!(
            software_adapter_note(&gl_llvmpipe).is_some_and(|n| n.contains("mesa-vulkan-drivers"))
        );
        assert!(software_adapter_note(&lavapipe).is_some_and(|n| n.contains("CPU-bound")));
        assert!(software_adapter_note(&discrete).is_none());
        let warp = info(
            "Microsoft Basic Render Driver",
            wgpu::DeviceType::Other,
            wgpu::Backend::Dx12,
        );
        assert!(is_software_adapter(&warp));
    }

    #[test]
    fn discrete_outranks_software() {
        assert!(
            device_type_rank(wgpu::DeviceType::DiscreteGpu)
                < device_type_rank(wgpu::DeviceType::Cpu)
        );
        assert!(
            device_type_rank(wgpu::DeviceType::IntegratedGpu)
                < device_type_rank(wgpu::DeviceType::Cpu)
        );
    }
}
