//! Per-dispatch kernel parameters. `queue.write_buffer` lands before *every* command of the next
//! submit, so one uniform buffer rewritten between dispatches of one submit would give all of them
//! the last value (PERF-NOTES §5). Instead each dispatch gets its own 256-byte slot in a uniform
//! chunk, bound with a dynamic offset.
//!
//! A [`ParamLease`] holds the chunks of one recording. Chunks of a recorder that hark submits go
//! back to the shared pool only after that submit, so a slot is never rewritten before the
//! commands that read it have been submitted, even with several recorders on several threads;
//! reusing the same chunk next time lets repeated launches hit the bind-group cache. A recording
//! into a caller's encoder (submitted when the caller chooses) gets chunks of its own that are
//! never handed out again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::pipeline_cache::PARAMS_BINDING_SIZE;
use crate::context::lock;

/// Slots per pooled chunk: 1024 dispatches (256 KiB) before a recording takes another chunk.
const POOL_CHUNK_SLOTS: u32 = 1024;
/// First chunk size of a caller-encoder recording; later ones double up to the pooled size.
const PRIVATE_CHUNK_SLOTS: u32 = 32;

static NEXT_CHUNK_ID: AtomicUsize = AtomicUsize::new(1);

/// One uniform buffer of parameter slots.
pub(crate) struct ParamChunk {
    /// Unique, never reused: part of bind-group cache keys.
    pub id: usize,
    pub buffer: wgpu::Buffer,
    slots: u32,
}

/// A slot handed to one dispatch.
pub(crate) struct ParamSlot {
    pub chunk_id: usize,
    pub buffer: wgpu::Buffer,
    pub offset: u32,
}

/// Free chunks shared by a context's recorders.
pub(crate) struct ParamPool {
    free: Vec<ParamChunk>,
    stride: u64,
    created: usize,
}

impl ParamPool {
    pub(crate) fn new(limits: &wgpu::Limits) -> Self {
        Self {
            free: Vec::new(),
            stride: PARAMS_BINDING_SIZE.max(u64::from(limits.min_uniform_buffer_offset_alignment)),
            created: 0,
        }
    }

    /// Chunks created so far (pooled and private).
    pub(crate) fn chunks_created(&self) -> usize {
        self.created
    }
}

fn new_chunk(device: &wgpu::Device, stride: u64, slots: u32) -> ParamChunk {
    let id = NEXT_CHUNK_ID.fetch_add(1, Ordering::Relaxed);
    ParamChunk {
        id,
        buffer: device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("hark kernel parameters"),
            size: stride * u64::from(slots),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }),
        slots,
    }
}

/// The parameter chunks of one recording.
pub(crate) struct ParamLease {
    pool: Arc<Mutex<ParamPool>>,
    /// Private chunks are never returned to the pool.
    private: bool,
    chunks: Vec<ParamChunk>,
    /// Slots used in the last chunk.
    used: u32,
}

impl ParamLease {
    pub(crate) fn new(pool: Arc<Mutex<ParamPool>>, private: bool) -> Self {
        Self {
            pool,
            private,
            chunks: Vec::new(),
            used: 0,
        }
    }

    /// Hands out a fresh slot and writes `params` into it (zero-padded to the binding size).
    pub(crate) fn push(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        params: &[u8],
    ) -> ParamSlot {
        let full = self.chunks.last().is_none_or(|c| self.used >= c.slots);
        let stride = lock(&self.pool).stride;
        if full {
            let chunk = if self.private {
                let slots = self
                    .chunks
                    .last()
                    .map_or(PRIVATE_CHUNK_SLOTS, |c| (c.slots * 2).min(POOL_CHUNK_SLOTS));
                lock(&self.pool).created += 1;
                new_chunk(device, stride, slots)
            } else {
                let mut pool = lock(&self.pool);
                match pool.free.pop() {
                    Some(chunk) => chunk,
                    None => {
                        pool.created += 1;
                        new_chunk(device, stride, POOL_CHUNK_SLOTS)
                    }
                }
            };
            self.chunks.push(chunk);
            self.used = 0;
        }
        let index = self.chunks.len() - 1;
        let chunk = &self.chunks[index];
        let offset = u64::from(self.used) * stride;
        self.used += 1;
        let mut bytes = [0u8; PARAMS_BINDING_SIZE as usize];
        bytes[..params.len()].copy_from_slice(params);
        queue.write_buffer(&chunk.buffer, offset, &bytes);
        ParamSlot {
            chunk_id: chunk.id,
            buffer: chunk.buffer.clone(),
            offset: offset as u32,
        }
    }
}

impl Drop for ParamLease {
    /// Returns pooled chunks. Only call sites that have already submitted (or that never will)
    /// drop a lease, so another recording may write these slots from now on.
    fn drop(&mut self) {
        if !self.private && !self.chunks.is_empty() {
            lock(&self.pool).free.append(&mut self.chunks);
        }
    }
}
