//! Bind groups reused across launches with the same pipeline, parameter chunk and tensors.
//! Recording thousands of dispatches with fresh bind groups is slow (PERF-NOTES §4), and training
//! loops launch the same kernels on the same buffers every step.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::context::lock;

/// Entries kept before the oldest is evicted (a cached bind group keeps its buffers alive).
const CAPACITY: usize = 1024;

/// (pipeline id, parameter chunk, [(tensor storage id, byte offset, byte size)]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BindGroupKey {
    pub pipeline: u64,
    pub param_chunk: usize,
    pub tensors: Vec<(u64, u64, u64)>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<BindGroupKey, wgpu::BindGroup>,
    order: VecDeque<BindGroupKey>,
    hits: u64,
    misses: u64,
}

#[derive(Default)]
pub(crate) struct BindGroupCache {
    entries: Mutex<Entries>,
}

impl BindGroupCache {
    /// Returns the cached bind group for `key`, or creates it with `make`.
    pub(crate) fn get_or_create(
        &self,
        key: BindGroupKey,
        make: impl FnOnce() -> wgpu::BindGroup,
    ) -> wgpu::BindGroup {
        let mut entries = lock(&self.entries);
        if let Some(found) = entries.map.get(&key) {
            let found = found.clone();
            entries.hits += 1;
            return found;
        }
        entries.misses += 1;
        let group = make();
        if entries.map.len() >= CAPACITY {
            if let Some(oldest) = entries.order.pop_front() {
                entries.map.remove(&oldest);
            }
        }
        entries.order.push_back(key.clone());
        entries.map.insert(key, group.clone());
        group
    }

    /// (hits, misses) since the context was made.
    pub(crate) fn stats(&self) -> (u64, u64) {
        let entries = lock(&self.entries);
        (entries.hits, entries.misses)
    }

    /// Drops every entry that binds storage `id` (its last tensor is gone).
    pub(crate) fn evict_storage(&self, id: u64) {
        let mut entries = lock(&self.entries);
        let holds = |key: &BindGroupKey| key.tensors.iter().any(|&(storage, _, _)| storage == id);
        if !entries.map.keys().any(holds) {
            return;
        }
        entries.map.retain(|key, _| !holds(key));
        entries.order.retain(|key| !holds(key));
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).map.len()
    }

    pub(crate) fn clear(&self) {
        let mut entries = lock(&self.entries);
        entries.map.clear();
        entries.order.clear();
    }
}
