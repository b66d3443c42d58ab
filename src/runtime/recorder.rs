//! The [`Recorder`]: where launchers record dispatches. It owns a command encoder, or borrows the
//! caller's (the embedding API); it keeps one compute pass open across dispatches, and when asked
//! it times each dispatch with GPU timestamps or, without them, with the wall clock.

use std::time::{Duration, Instant};

use super::bind_group_cache::BindGroupKey;
use super::launch::{Access, Launch};
use super::param_pool::ParamLease;
use super::pipeline_cache::PARAMS_BINDING_SIZE;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

/// GPU time of one dispatch.
#[derive(Clone, Debug)]
pub struct DispatchTiming {
    /// Kernel name.
    pub kernel: &'static str,
    /// Seconds: from timestamps, or wall clock of a lone submit when the adapter has none.
    pub seconds: f64,
}

/// wgpu forbids one buffer bound both read-only and read-write in a dispatch; say so clearly
/// (in-place operation is not supported by kernels whose inputs are read-only).
fn check_aliasing(launch: &Launch<'_>) -> Result<()> {
    let bindings = launch.kernel.bindings;
    for (i, written) in launch.tensors.iter().enumerate() {
        if bindings[i] != Access::ReadWrite {
            continue;
        }
        for (j, other) in launch.tensors.iter().enumerate() {
            if i != j && other.buffer() == written.buffer() {
                return Err(HarkError::invalid(
                    launch.kernel.name,
                    format!(
                        "binding {} and binding {} share one buffer, and binding {} is written; \
                         use a separate output tensor",
                        j + 1,
                        i + 1,
                        i + 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Timestamp queries allowed per query set (wgpu's limit).
const MAX_QUERIES: u32 = 4096;

enum EncoderSlot<'a> {
    Owned(wgpu::CommandEncoder),
    Borrowed(&'a mut wgpu::CommandEncoder),
}

impl EncoderSlot<'_> {
    fn get(&mut self) -> &mut wgpu::CommandEncoder {
        match self {
            EncoderSlot::Owned(encoder) => encoder,
            EncoderSlot::Borrowed(encoder) => encoder,
        }
    }
}

enum Timing {
    Off,
    Timestamps {
        queries: wgpu::QuerySet,
        kernels: Vec<&'static str>,
        /// Part of a whole-run profile (see `profiler::run`): timestamps go to the context,
        /// read back later, and dispatches past the query set run untimed instead of failing.
        run: bool,
        untimed: usize,
    },
    WallClock {
        timings: Vec<DispatchTiming>,
    },
}

/// Records hark kernels into a command encoder. Launchers only record; nothing runs until
/// [`Recorder::submit`] (or, for a borrowed encoder, until the caller submits it).
pub struct Recorder<'a> {
    // Declared before the encoder so that an open pass is dropped first.
    pass: Option<wgpu::ComputePass<'static>>,
    ctx: Context,
    encoder: EncoderSlot<'a>,
    params: ParamLease,
    timing: Timing,
    dispatches: usize,
}

fn timestamp_queries(ctx: &Context) -> wgpu::QuerySet {
    ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("hark profiler"),
        ty: wgpu::QueryType::Timestamp,
        count: MAX_QUERIES,
    })
}

fn new_encoder(ctx: &Context) -> wgpu::CommandEncoder {
    ctx.device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("hark recorder"),
        })
}

impl Recorder<'static> {
    /// A recorder with its own encoder, submitted by [`Recorder::submit`].
    pub fn new(ctx: &Context) -> Self {
        let timing = if crate::profiler::run::active() && ctx.has_timestamps() {
            Timing::Timestamps {
                queries: timestamp_queries(ctx),
                kernels: Vec::new(),
                run: true,
                untimed: 0,
            }
        } else {
            Timing::Off
        };
        Self::with_timing(ctx, timing)
    }

    fn with_timing(ctx: &Context, timing: Timing) -> Self {
        Self {
            ctx: ctx.clone(),
            encoder: EncoderSlot::Owned(new_encoder(ctx)),
            params: ParamLease::new(ctx.inner.params.clone(), false),
            pass: None,
            timing,
            dispatches: 0,
        }
    }

    /// A recorder that times every dispatch: GPU timestamps when the adapter has
    /// `TIMESTAMP_QUERY` (and `wall_clock` is false), otherwise a submit-and-wait per dispatch
    /// timed on the CPU.
    pub fn profiling(ctx: &Context, wall_clock: bool) -> Self {
        let timing = if ctx.has_timestamps() && !wall_clock {
            Timing::Timestamps {
                queries: timestamp_queries(ctx),
                kernels: Vec::new(),
                run: false,
                untimed: 0,
            }
        } else {
            Timing::WallClock {
                timings: Vec::new(),
            }
        };
        Self::with_timing(ctx, timing)
    }
}

impl<'a> Recorder<'a> {
    /// Records into the caller's encoder (the embedding API). Finish with
    /// [`Recorder::finish`], then submit the encoder whenever you like: the recording's kernel
    /// parameters live in uniform chunks of its own that hark never hands out again.
    pub fn for_encoder(ctx: &Context, encoder: &'a mut wgpu::CommandEncoder) -> Self {
        Self {
            ctx: ctx.clone(),
            encoder: EncoderSlot::Borrowed(encoder),
            params: ParamLease::new(ctx.inner.params.clone(), true),
            pass: None,
            timing: Timing::Off,
            dispatches: 0,
        }
    }

    /// The context this recorder records for.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Dispatches recorded so far.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches
    }

    /// Ends the open compute pass, so that the encoder can take copies or clears.
    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Fills `tensor` with zeros.
    pub fn zero(&mut self, tensor: &Tensor) {
        self.end_pass();
        let bytes = tensor.binding_size();
        self.encoder
            .get()
            .clear_buffer(tensor.buffer(), tensor.offset(), Some(bytes));
    }

    /// Fills the elements `from..` of `tensor` with zeros (4-byte elements).
    pub fn zero_from(&mut self, tensor: &Tensor, from: usize) -> Result<()> {
        let size = tensor.dtype().size();
        if size != 4 || from > tensor.numel() {
            return Err(HarkError::shape(
                "zero_from",
                format!(
                    "elements {from}.. of a {:?} {} tensor",
                    tensor.shape(),
                    tensor.dtype().name()
                ),
            ));
        }
        let start = from as u64 * size;
        let bytes = tensor.numel() as u64 * size - start;
        if bytes > 0 {
            self.end_pass();
            self.encoder
                .get()
                .clear_buffer(tensor.buffer(), tensor.offset() + start, Some(bytes));
        }
        Ok(())
    }

    /// Copies `src` into `dst` (same element type and element count).
    pub fn copy(&mut self, src: &Tensor, dst: &Tensor) -> Result<()> {
        if src.numel() != dst.numel() || src.dtype() != dst.dtype() {
            return Err(HarkError::shape(
                "copy",
                format!(
                    "source {:?} {:?} vs destination {:?} {:?}",
                    src.shape(),
                    src.dtype(),
                    dst.shape(),
                    dst.dtype()
                ),
            ));
        }
        self.end_pass();
        self.encoder.get().copy_buffer_to_buffer(
            src.buffer(),
            src.offset(),
            dst.buffer(),
            dst.offset(),
            Some(src.binding_size()),
        );
        Ok(())
    }

    pub(crate) fn dispatch(&mut self, launch: Launch<'_>) -> Result<()> {
        let kernel = launch.kernel;
        if launch.tensors.len() != kernel.bindings.len() {
            return Err(HarkError::invalid(
                kernel.name,
                format!(
                    "{} tensors bound, kernel has {} storage bindings",
                    launch.tensors.len(),
                    kernel.bindings.len()
                ),
            ));
        }
        if launch.params.len() as u64 > PARAMS_BINDING_SIZE {
            return Err(HarkError::invalid(
                kernel.name,
                "parameter struct over 256 bytes",
            ));
        }
        let max_groups = self.ctx.limits().max_compute_workgroups_per_dimension;
        if launch.workgroups.iter().any(|&g| g > max_groups) {
            return Err(HarkError::TooLarge {
                what: format!("{} grid {:?}", kernel.name, launch.workgroups),
                bytes: u64::from(*launch.workgroups.iter().max().unwrap_or(&0)),
                limit: u64::from(max_groups),
                limit_name: "max_compute_workgroups_per_dimension",
            });
        }
        check_aliasing(&launch)?;
        if launch.workgroups.contains(&0) {
            return Ok(());
        }
        let inner = &self.ctx.inner;
        let pipeline = inner
            .pipelines
            .get(&inner.device, kernel, &launch.constants)?;
        let slot = self.params.push(&inner.device, &inner.queue, launch.params);
        let chunk = slot.buffer.clone();
        let key = BindGroupKey {
            pipeline: pipeline.id,
            param_chunk: slot.chunk_id,
            tensors: launch
                .tensors
                .iter()
                .map(|t| (t.storage_id(), t.offset(), t.binding_size()))
                .collect(),
        };
        let bind_group = inner.bind_groups.get_or_create(key, || {
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &chunk,
                    offset: 0,
                    size: wgpu::BufferSize::new(PARAMS_BINDING_SIZE),
                }),
            }];
            for (i, tensor) in launch.tensors.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: tensor.buffer(),
                        offset: tensor.offset(),
                        size: wgpu::BufferSize::new(tensor.binding_size()),
                    }),
                });
            }
            inner.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.name),
                layout: &pipeline.layout,
                entries: &entries,
            })
        });

        let [x, y, z] = launch.workgroups;
        match &mut self.timing {
            Timing::Off => {
                let encoder = self.encoder.get();
                let pass = self.pass.get_or_insert_with(|| {
                    encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("hark"),
                            timestamp_writes: None,
                        })
                        .forget_lifetime()
                });
                pass.set_pipeline(&pipeline.pipeline);
                pass.set_bind_group(0, &bind_group, &[slot.offset]);
                pass.dispatch_workgroups(x, y, z);
            }
            Timing::Timestamps {
                queries,
                kernels,
                run,
                untimed,
            } => {
                let index = kernels.len() as u32 * 2;
                if index + 2 > MAX_QUERIES && *run {
                    self.pass = None;
                    let mut pass =
                        self.encoder
                            .get()
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(kernel.name),
                                timestamp_writes: None,
                            });
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, &bind_group, &[slot.offset]);
                    pass.dispatch_workgroups(x, y, z);
                    drop(pass);
                    *untimed += 1;
                } else {
                    if index + 2 > MAX_QUERIES {
                        return Err(HarkError::invalid(
                            kernel.name,
                            format!(
                                "a profiled recording holds at most {} dispatches",
                                MAX_QUERIES / 2
                            ),
                        ));
                    }
                    self.pass = None;
                    let mut pass =
                        self.encoder
                            .get()
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(kernel.name),
                                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                                    query_set: queries,
                                    beginning_of_pass_write_index: Some(index),
                                    end_of_pass_write_index: Some(index + 1),
                                }),
                            });
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, &bind_group, &[slot.offset]);
                    pass.dispatch_workgroups(x, y, z);
                    drop(pass);
                    kernels.push(kernel.name);
                }
            }
            Timing::WallClock { .. } => {
                self.pass = None;
                {
                    let mut pass =
                        self.encoder
                            .get()
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(kernel.name),
                                timestamp_writes: None,
                            });
                    pass.set_pipeline(&pipeline.pipeline);
                    pass.set_bind_group(0, &bind_group, &[slot.offset]);
                    pass.dispatch_workgroups(x, y, z);
                }
                let seconds = self.flush_and_time()?;
                if let Timing::WallClock { timings } = &mut self.timing {
                    timings.push(DispatchTiming {
                        kernel: kernel.name,
                        seconds,
                    });
                }
            }
        }
        self.dispatches += 1;
        Ok(())
    }

    /// Wall-clock mode: submits what is recorded, waits, and returns the elapsed seconds.
    fn flush_and_time(&mut self) -> Result<f64> {
        let EncoderSlot::Owned(encoder) = &mut self.encoder else {
            return Err(HarkError::invalid(
                "profiler",
                "wall-clock timing needs a recorder that owns its encoder",
            ));
        };
        let done = std::mem::replace(encoder, new_encoder(&self.ctx));
        let start = Instant::now();
        self.ctx.queue().submit([done.finish()]);
        // Submitted: the chunks may go back to the pool (and come straight back).
        self.params = ParamLease::new(self.ctx.inner.params.clone(), false);
        self.ctx.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// Submits the recorded work (no wait). Errors wgpu reported while recording come back here.
    pub fn submit(self) -> Result<()> {
        self.submit_profiled().map(|_| ())
    }

    /// Submits the recorded work and returns the time of every dispatch, in order (empty when the
    /// recorder was not made by [`Recorder::profiling`]). Waits for the GPU when timing.
    pub fn submit_profiled(mut self) -> Result<Vec<DispatchTiming>> {
        self.pass = None;
        let ctx = self.ctx.clone();
        let timing = std::mem::replace(&mut self.timing, Timing::Off);
        let params = self.params;
        let EncoderSlot::Owned(mut encoder) = self.encoder else {
            return Err(HarkError::invalid(
                "recorder",
                "a recorder on the caller's encoder is finished with finish(), not submitted",
            ));
        };
        let mut readback = None;
        if let Timing::Timestamps {
            queries, kernels, ..
        } = &timing
        {
            if !kernels.is_empty() {
                let count = kernels.len() as u32 * 2;
                let bytes = u64::from(count) * 8;
                let resolve = ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("hark timestamps"),
                    size: bytes,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let staging = ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("hark timestamps readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                encoder.resolve_query_set(queries, 0..count, &resolve, 0);
                encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, Some(bytes));
                readback = Some(staging);
            }
        }
        ctx.queue().submit([encoder.finish()]);
        // Only now may other recordings write these parameter slots.
        drop(params);
        ctx.take_error("submit")?;
        match timing {
            Timing::Off => Ok(Vec::new()),
            Timing::WallClock { timings } => Ok(timings),
            Timing::Timestamps {
                kernels,
                run: true,
                untimed,
                ..
            } => {
                let pending = readback.map(|staging| crate::profiler::run::PendingTimestamps {
                    ctx: ctx.clone(),
                    staging,
                    kernels,
                });
                crate::profiler::run::push(pending, untimed)?;
                Ok(Vec::new())
            }
            Timing::Timestamps { kernels, .. } => {
                let Some(staging) = readback else {
                    return Ok(Vec::new());
                };
                let ticks: Vec<u64> = crate::tensor::read_mapped(&ctx, &staging, "timestamps")?;
                let period = f64::from(ctx.queue().get_timestamp_period());
                Ok(kernels
                    .iter()
                    .enumerate()
                    .map(|(i, kernel)| DispatchTiming {
                        kernel,
                        seconds: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64
                            * period
                            * 1e-9,
                    })
                    .collect())
            }
        }
    }

    /// Submits and waits for the GPU.
    pub fn submit_and_wait(self) -> Result<()> {
        let ctx = self.ctx.clone();
        self.submit()?;
        ctx.wait()
    }

    /// Ends recording into the caller's encoder. The caller submits the encoder.
    pub fn finish(mut self) -> Result<()> {
        self.pass = None;
        self.ctx.take_error("recording")
    }
}

/// Keeps `Duration` in the public vocabulary for callers that prefer it.
impl DispatchTiming {
    /// The time as a `Duration`.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.0))
    }
}
