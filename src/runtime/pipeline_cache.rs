//! Compute pipelines compiled once per (shader, entry point, override constants), as candle's
//! kernel cache does. Nothing on a hot path creates a shader module or a pipeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::launch::{Access, Kernel};
use crate::context::lock;
use crate::error::{HarkError, Result};
use crate::shaders::Shader;

/// Size of every kernel's parameter binding; parameter structs must fit in it.
pub(crate) const PARAMS_BINDING_SIZE: u64 = 256;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: Shader,
    entry: &'static str,
    /// Constants as (name, f64 bits), in launch order.
    constants: Vec<(&'static str, u64)>,
}

/// A compiled kernel and the layout its bind groups use.
pub(crate) struct CachedPipeline {
    /// Unique id, part of bind-group cache keys.
    pub id: u64,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    pipelines: Mutex<HashMap<PipelineKey, Arc<CachedPipeline>>>,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
}

impl PipelineCache {
    pub(crate) fn len(&self) -> usize {
        lock(&self.pipelines).len()
    }

    pub(crate) fn get(
        &self,
        device: &wgpu::Device,
        kernel: &Kernel,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<CachedPipeline>> {
        let key = PipelineKey {
            shader: kernel.shader,
            entry: kernel.entry,
            constants: constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        };
        let mut pipelines = lock(&self.pipelines);
        if let Some(found) = pipelines.get(&key) {
            return Ok(Arc::clone(found));
        }
        let id = pipelines.len() as u64 + 1;
        let compiled = Arc::new(self.compile(device, kernel, constants, id)?);
        pipelines.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn module(&self, device: &wgpu::Device, shader: Shader) -> Result<wgpu::ShaderModule> {
        let mut modules = lock(&self.modules);
        if let Some(module) = modules.get(&shader) {
            return Ok(module.clone());
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some(shader.path()),
            source: wgpu::ShaderSource::Wgsl(shader.source().into()),
        };
        let module = if runtime_checks_wanted() {
            device.create_shader_module(descriptor)
        } else {
            // SAFETY: every hark kernel guards its own indices (bounds tests before each access,
            // which the GPU-vs-CPU tests exercise on shapes that are not multiples of the
            // workgroup), and nothing divides by a runtime zero. Bounds checks cost 17-40 % on
            // matmul (PERF-NOTES §2). Debug builds and HARK_SHADER_CHECKS=1 keep them.
            unsafe {
                device.create_shader_module_trusted(
                    descriptor,
                    wgpu::ShaderRuntimeChecks::unchecked(),
                )
            }
        };
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(HarkError::from_wgpu(
                format!("compiling shader {}", shader.path()),
                error,
            ));
        }
        modules.insert(shader, module.clone());
        Ok(module)
    }

    fn compile(
        &self,
        device: &wgpu::Device,
        kernel: &Kernel,
        constants: &[(&'static str, f64)],
        id: u64,
    ) -> Result<CachedPipeline> {
        let module = self.module(device, kernel.shader)?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(PARAMS_BINDING_SIZE),
            },
            count: None,
        }];
        for (i, access) in kernel.bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.name),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every hark kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(HarkError::from_wgpu(
                format!("creating pipeline {} ({:?})", kernel.name, constants),
                error,
            ));
        }
        Ok(CachedPipeline {
            id,
            pipeline,
            layout,
        })
    }
}

/// Whether shaders keep wgpu's runtime bounds checks: in debug builds, or when asked for with
/// `HARK_SHADER_CHECKS=1`.
fn runtime_checks_wanted() -> bool {
    cfg!(debug_assertions)
        || matches!(
            std::env::var("HARK_SHADER_CHECKS").as_deref(),
            Ok("1") | Ok("true") | Ok("yes")
        )
}
