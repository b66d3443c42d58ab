//! Per-dispatch kernel parameters. `queue.write_buffer` lands before *every* command of the next
//! submit, so one uniform buffer rewritten between dispatches of one submit would give all of them
//! the last value (PERF-NOTES §5). Instead each dispatch gets its own 256-byte slot in a ring of
//! uniform chunks, bound with a dynamic offset, and a slot is not handed out twice between two
//! submits: when a recording has used every slot, the ring grows by a chunk.

use super::pipeline_cache::PARAMS_BINDING_SIZE;

/// Slots per chunk: 4096 dispatches between submits before the ring grows.
const SLOTS_PER_CHUNK: u64 = 4096;

/// A slot handed to one dispatch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParamSlot {
    pub chunk: usize,
    pub offset: u32,
}

pub(crate) struct ParamRing {
    chunks: Vec<wgpu::Buffer>,
    stride: u64,
    /// Next slot, as an index over all chunks' slots.
    cursor: u64,
    /// Slots handed out since the last point where earlier slots may be rewritten.
    since_reset: u64,
}

impl ParamRing {
    pub(crate) fn new(device: &wgpu::Device, limits: &wgpu::Limits) -> Self {
        let stride = PARAMS_BINDING_SIZE.max(u64::from(limits.min_uniform_buffer_offset_alignment));
        let mut ring = Self {
            chunks: Vec::new(),
            stride,
            cursor: 0,
            since_reset: 0,
        };
        ring.grow(device);
        ring
    }

    fn capacity(&self) -> u64 {
        self.chunks.len() as u64 * SLOTS_PER_CHUNK
    }

    fn grow(&mut self, device: &wgpu::Device) {
        let index = self.chunks.len();
        self.chunks
            .push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("hark params chunk {index}")),
                size: self.stride * SLOTS_PER_CHUNK,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        // Start the new chunk: its slots have never been used.
        self.cursor = index as u64 * SLOTS_PER_CHUNK;
    }

    /// Hands out a slot and writes `params` into it (zero-padded to the binding size).
    pub(crate) fn push(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        params: &[u8],
    ) -> ParamSlot {
        if self.since_reset >= self.capacity() {
            self.grow(device);
        }
        let slot = self.cursor;
        self.cursor = (self.cursor + 1) % self.capacity();
        self.since_reset += 1;
        let chunk = (slot / SLOTS_PER_CHUNK) as usize;
        let offset = (slot % SLOTS_PER_CHUNK) * self.stride;
        let mut bytes = [0u8; PARAMS_BINDING_SIZE as usize];
        bytes[..params.len()].copy_from_slice(params);
        queue.write_buffer(&self.chunks[chunk], offset, &bytes);
        ParamSlot {
            chunk,
            offset: offset as u32,
        }
    }

    /// Called after a submit: every slot handed out so far has been written for that submit.
    pub(crate) fn reset(&mut self) {
        self.since_reset = 0;
    }

    pub(crate) fn chunk(&self, index: usize) -> &wgpu::Buffer {
        &self.chunks[index]
    }

    /// Slots the ring holds now.
    pub(crate) fn slots(&self) -> u64 {
        self.capacity()
    }
}
