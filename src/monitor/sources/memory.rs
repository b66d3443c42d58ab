//! Sources over audio already in memory: a list of blocks given in advance (tests place them on
//! the timeline, gaps included) and a clip looped for a set length (the benchmark's synthetic
//! streams, which share one clip instead of holding one each), optionally losing audio at
//! regular intervals to inject gaps, and a wrapper that makes any source stall for a while.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::monitor::source::{AudioFormat, Block, Poll, Source};

/// Hands out the given blocks one per poll, then ends.
pub struct BlockSource {
    name: String,
    format: AudioFormat,
    blocks: VecDeque<Block>,
}

impl BlockSource {
    pub fn new(name: &str, format: AudioFormat, blocks: Vec<Block>) -> Self {
        Self {
            name: name.to_string(),
            format,
            blocks: blocks.into(),
        }
    }
}

impl Source for BlockSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        Ok(self.blocks.pop_front().map_or(Poll::End, Poll::Block))
    }
}

/// `total` samples of `clip` played in a loop from `offset`, `chunk` samples per poll.
pub struct LoopSource {
    name: String,
    format: AudioFormat,
    clip: Arc<[f32]>,
    offset: usize,
    chunk: usize,
    position: u64,
    total: u64,
    /// (audio between gaps, gap length) in samples, and where the next gap starts.
    gaps: Option<(u64, u64)>,
    next_gap: u64,
    /// Gaps injected so far, shared with whoever counts them.
    injected: Arc<AtomicU64>,
}

impl LoopSource {
    pub fn new(
        name: &str,
        sample_rate: u32,
        clip: Arc<[f32]>,
        offset: usize,
        chunk: usize,
        total: u64,
    ) -> Self {
        Self {
            name: name.to_string(),
            format: AudioFormat {
                sample_rate,
                channels: 1,
            },
            offset: offset % clip.len().max(1),
            clip,
            chunk: chunk.max(1),
            position: 0,
            total,
            gaps: None,
            next_gap: u64::MAX,
            injected: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Loses `gap` samples after every `every` samples delivered (timeline positions jump),
    /// counting each gap in `injected`.
    pub fn with_gaps(mut self, every: u64, gap: u64, injected: Arc<AtomicU64>) -> Self {
        if every > 0 && gap > 0 {
            self.gaps = Some((every, gap));
            self.next_gap = every;
        }
        self.injected = injected;
        self
    }
}

impl Source for LoopSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        if let Some((every, gap)) = self.gaps {
            if self.position >= self.next_gap {
                self.position += gap;
                self.next_gap = self.position + every;
                if self.position < self.total {
                    self.injected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let to_gap = self.next_gap.saturating_sub(self.position);
        let n = (self.total.saturating_sub(self.position))
            .min(self.chunk as u64)
            .min(to_gap) as usize;
        if n == 0 || self.clip.is_empty() {
            return Ok(Poll::End);
        }
        let len = self.clip.len();
        let samples: Vec<f32> = (0..n)
            .map(|i| self.clip[(self.offset + self.position as usize + i) % len])
            .collect();
        let start = self.position;
        self.position += n as u64;
        Ok(Poll::Block(Block { start, samples }))
    }
}

/// A source that, once `after` samples have come through, delivers nothing (`Pending`) for
/// `pause` of wall time and then goes on where it stopped, losing no audio: a live input that
/// stalls and recovers. Stalls once.
pub struct StallingSource<S> {
    inner: S,
    after: u64,
    pause: Duration,
    delivered: u64,
    stalled_since: Option<Instant>,
    recovered: bool,
}

impl<S: Source> StallingSource<S> {
    pub fn new(inner: S, after: u64, pause: Duration) -> Self {
        Self {
            inner,
            after,
            pause,
            delivered: 0,
            stalled_since: None,
            recovered: false,
        }
    }
}

impl<S: Source> Source for StallingSource<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn format(&self) -> AudioFormat {
        self.inner.format()
    }

    fn poll(&mut self) -> Result<Poll> {
        if !self.recovered && self.delivered >= self.after {
            let since = *self.stalled_since.get_or_insert_with(Instant::now);
            if since.elapsed() < self.pause {
                return Ok(Poll::Pending);
            }
            self.recovered = true;
        }
        let poll = self.inner.poll()?;
        if let Poll::Block(block) = &poll {
            self.delivered += block.samples.len() as u64;
        }
        Ok(poll)
    }

    fn take_overruns(&mut self) -> u64 {
        self.inner.take_overruns()
    }
}
