//! One monitored stream: its ring of recent samples, where on its timeline the next block
//! should start (a later start is a gap, an earlier one repeated audio), the windows cut every
//! hop and waiting to be scored (a bounded backlog: the oldest are dropped and counted), and its
//! decision state.

use std::collections::VecDeque;
use std::time::Instant;

use crate::monitor::decision::Decision;
use crate::monitor::events::Event;
use crate::monitor::ring::Ring;
use crate::monitor::source::Block;

/// Samples at or above this magnitude count as clipped (16-bit full scale is 0.99997).
pub const CLIP_LEVEL: f32 = 0.999;

/// Window geometry and limits shared by every stream, in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub sample_rate: u32,
    pub window: usize,
    pub hop: usize,
    /// Windows waiting to be scored per stream before the oldest is dropped.
    pub max_backlog: usize,
}

impl Geometry {
    pub fn seconds(&self, samples: u64) -> f64 {
        samples as f64 / f64::from(self.sample_rate)
    }

    /// The most memory one stream holds: its ring and a full backlog of windows, in bytes.
    pub fn bytes_per_stream(&self) -> usize {
        (1 + self.max_backlog) * self.window * std::mem::size_of::<f32>()
    }
}

/// A window cut from a stream, waiting to be scored.
#[derive(Clone, Debug)]
pub struct PendingWindow {
    /// Timeline position of its first sample.
    pub start: u64,
    pub samples: Vec<f32>,
    /// When its last sample arrived.
    pub due: Instant,
    /// The stream's run of contiguous audio it belongs to (a gap starts the next).
    pub segment: u64,
}

/// The live state of one stream.
#[derive(Debug)]
pub struct StreamState {
    pub name: String,
    pub section: u32,
    ring: Ring,
    /// Where the next block should start; `None` before the first block.
    next: Option<u64>,
    /// Samples still needed before the next window is due.
    need: usize,
    pending: VecDeque<PendingWindow>,
    pub decision: Decision,
    pub ended: bool,
    pub dropped: u64,
    dropped_unreported: u64,
    pub gaps: u64,
    /// Runs of contiguous audio so far, less one (counts gaps and nothing else).
    segment: u64,
    /// Where the current run of contiguous audio began (its first window starts there).
    origin: u64,
}

impl StreamState {
    pub fn new(name: String, section: u32, geometry: &Geometry) -> Self {
        Self {
            name,
            section,
            ring: Ring::new(geometry.window),
            next: None,
            need: geometry.window,
            pending: VecDeque::new(),
            decision: Decision::default(),
            ended: false,
            dropped: 0,
            dropped_unreported: 0,
            gaps: 0,
            segment: 0,
            origin: 0,
        }
    }

    /// The current run of contiguous audio: its number and where it began.
    pub fn segment(&self) -> (u64, u64) {
        (self.segment, self.origin)
    }

    /// The timeline span `[from, to)` of the samples the ring holds.
    pub fn held(&self) -> (u64, u64) {
        let to = self.position();
        (to - self.ring.len() as u64, to)
    }

    /// The samples from timeline position `from` to the latest, when the ring holds them.
    pub fn samples_since(&self, from: u64) -> Option<Vec<f32>> {
        let (held_from, to) = self.held();
        (from >= held_from && from <= to).then(|| self.ring.last((to - from) as usize))
    }

    /// Windows waiting to be scored.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The oldest waiting window.
    pub fn pop_pending(&mut self) -> Option<PendingWindow> {
        self.pending.pop_front()
    }

    /// Timeline position just past the last sample taken.
    pub fn position(&self) -> u64 {
        self.next.unwrap_or(0)
    }

    /// Takes a block: reports a gap or repeated audio, appends the new samples and cuts every
    /// window that comes due (at `now`).
    pub fn push(&mut self, geometry: &Geometry, block: Block, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        let expected = self.next.unwrap_or(block.start);
        if self.next.is_none() {
            self.origin = block.start;
        }
        let mut samples = block.samples.as_slice();
        let mut start = block.start;
        if start > expected {
            self.gaps += 1;
            events.push(Event::Gap {
                stream: self.name.clone(),
                time_s: geometry.seconds(expected),
                missing_s: geometry.seconds(start - expected),
            });
            // The next window must be contiguous audio: start it afresh after the gap.
            self.ring.clear();
            self.need = geometry.window;
            self.segment += 1;
            self.origin = start;
        } else if start < expected {
            let repeated = (expected - start).min(samples.len() as u64);
            events.push(Event::Overlap {
                stream: self.name.clone(),
                time_s: geometry.seconds(start),
                repeated_s: geometry.seconds(repeated),
            });
            samples = &samples[repeated as usize..];
            start += repeated;
        }
        let mut position = start;
        while !samples.is_empty() {
            let n = samples.len().min(self.need);
            self.ring.push(&samples[..n]);
            samples = &samples[n..];
            position += n as u64;
            self.need -= n;
            if self.need == 0 {
                self.need = geometry.hop;
                self.cut(geometry, position, now);
            }
        }
        self.next = Some(position.max(expected));
        events.extend(self.take_dropped());
        events
    }

    /// Queues the window ending at timeline position `end`, dropping the oldest waiting window
    /// when the backlog is full.
    fn cut(&mut self, geometry: &Geometry, end: u64, now: Instant) {
        let samples = self.ring.last(geometry.window);
        self.pending.push_back(PendingWindow {
            start: end - samples.len() as u64,
            samples,
            due: now,
            segment: self.segment,
        });
        while self.pending.len() > geometry.max_backlog.max(1) {
            self.pending.pop_front();
            self.dropped += 1;
            self.dropped_unreported += 1;
        }
    }

    /// A `Dropped` event for windows dropped since the last report.
    pub fn take_dropped(&mut self) -> Option<Event> {
        if self.dropped_unreported == 0 {
            return None;
        }
        let windows = std::mem::take(&mut self.dropped_unreported);
        Some(Event::Dropped {
            stream: self.name.clone(),
            windows,
            total: self.dropped,
        })
    }
}
