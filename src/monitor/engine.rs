//! The monitor proper: streams checked against the model's format, blocks pushed into their
//! rings, and on every tick all waiting windows of all streams scored in one batched call, then
//! decided. Synchronous and clock-free apart from latency stamps, so tests drive it directly;
//! [`crate::monitor::runner`] drives it from sources. A system whose clip score is a mean of
//! vector scores is scored incrementally ([`crate::monitor::incremental`]) unless told not to.

use std::time::Instant;

use crate::error::{HarkError, Result};
use crate::monitor::decision::{Decision, DecisionRule, Transition};
use crate::monitor::events::Event;
use crate::monitor::incremental::{Incremental, IncrementalWindow, VectorLayout, WarmAudio};
use crate::monitor::scoring::{WindowInput, WindowScorer};
use crate::monitor::source::{AudioFormat, Block};
use crate::monitor::stream::{Geometry, PendingWindow, StreamState, CLIP_LEVEL};

/// Window, hop, backlog and decision settings.
#[derive(Clone, Copy, Debug)]
pub struct MonitorConfig {
    /// Window length in samples (`None`: the model's training clip length).
    pub window: Option<usize>,
    /// Hop in samples between windows.
    pub hop: usize,
    /// Windows waiting per stream before the oldest is dropped.
    pub max_backlog: usize,
    /// Most windows in one scoring call (bounds the memory of a tick).
    pub max_batch: usize,
    pub rule: DecisionRule,
    /// Score incrementally where the system allows it (`ae`, `flow`): the hop is then rounded
    /// to a whole number of STFT hops. `false`: every window is scored whole.
    pub incremental: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            window: None,
            hop: 16_000,
            max_backlog: 4,
            max_batch: 256,
            rule: DecisionRule::default(),
            incremental: true,
        }
    }
}

/// The longest window a monitor takes, in seconds.
pub const MAX_WINDOW_SECONDS: u32 = 600;

/// Index of a stream in its monitor.
pub type StreamId = usize;

/// Streams, their windows and decisions, and the scorer they share.
pub struct Monitor {
    scorer: WindowScorer,
    geometry: Geometry,
    rule: DecisionRule,
    max_batch: usize,
    streams: Vec<StreamState>,
    /// Streams served first in the next tick (rotates so no stream starves under `max_batch`).
    next_first: usize,
    /// Per-stream vector caches, when scoring incrementally.
    incremental: Option<Incremental>,
    /// The hop asked for (the geometry's may be rounded to whole STFT hops).
    requested_hop: usize,
}

/// Stream names are file names (per-stream CSV) and JSON strings: letters, digits, `-_.`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    Err(HarkError::Stream {
        stream: name.to_string(),
        detail: "a stream name is 1-100 letters, digits, '-', '_' or '.' (not starting with '.')"
            .to_string(),
    })
}

impl Monitor {
    pub fn new(mut scorer: WindowScorer, config: MonitorConfig) -> Result<Self> {
        config.rule.check()?;
        let window = config.window.or(scorer.clip_samples()).ok_or_else(|| {
            HarkError::invalid("monitor", "no window length: give one (the model has none)")
        })?;
        if window == 0 || config.hop == 0 || config.max_batch == 0 {
            return Err(HarkError::invalid(
                "monitor",
                format!(
                    "window ({window}), hop ({}) and batch ({}) must be positive",
                    config.hop, config.max_batch
                ),
            ));
        }
        // A window is held per stream, plus a backlog of them: keep it to minutes, not hours.
        let longest = MAX_WINDOW_SECONDS as usize * scorer.sample_rate() as usize;
        if window > longest {
            return Err(HarkError::invalid(
                "monitor",
                format!(
                    "a window of {window} samples is longer than {MAX_WINDOW_SECONDS} s at {} Hz",
                    scorer.sample_rate()
                ),
            ));
        }
        let layout = if config.incremental {
            scorer.vector_layout(window)
        } else {
            None
        };
        // Reused vectors must sit on the same STFT frame grid in every window.
        let hop = layout.map_or(config.hop, |l| l.round_hop(config.hop));
        let geometry = Geometry {
            sample_rate: scorer.sample_rate(),
            window,
            hop,
            max_backlog: config.max_backlog.max(1),
        };
        Ok(Self {
            scorer,
            geometry,
            rule: config.rule,
            max_batch: config.max_batch,
            streams: Vec::new(),
            next_first: 0,
            incremental: layout.map(Incremental::new),
            requested_hop: config.hop,
        })
    }

    /// The vector layout windows are scored incrementally with (`None`: scored whole).
    pub fn incremental(&self) -> Option<&VectorLayout> {
        self.incremental.as_ref().map(Incremental::layout)
    }

    /// Interior-vector scores cached for stream `id` (0 when scoring whole windows).
    pub fn cached_vectors(&self, id: StreamId) -> usize {
        self.incremental.as_ref().map_or(0, |i| i.cached(id))
    }

    /// The hop asked for; [`Geometry::hop`] differs when it was rounded to whole STFT hops.
    pub fn requested_hop(&self) -> usize {
        self.requested_hop
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn scorer(&self) -> &WindowScorer {
        &self.scorer
    }

    /// The scorer back, for another monitor (the benchmark's runs share one model).
    pub fn into_scorer(self) -> WindowScorer {
        self.scorer
    }

    pub fn streams(&self) -> &[StreamState] {
        &self.streams
    }

    /// Adds a stream after checking its format and section against the model: another sample
    /// rate or more than one channel is refused with the stream's name.
    pub fn add_stream(
        &mut self,
        name: &str,
        format: AudioFormat,
        section: u32,
    ) -> Result<StreamId> {
        check_name(name)?;
        let refuse = |detail: String| HarkError::Stream {
            stream: name.to_string(),
            detail,
        };
        if self.streams.iter().any(|s| s.name == name) {
            return Err(refuse("two streams have this name".to_string()));
        }
        if format.sample_rate != self.geometry.sample_rate {
            return Err(refuse(format!(
                "sample rate is {} Hz, the model expects {} Hz (resample the source)",
                format.sample_rate, self.geometry.sample_rate
            )));
        }
        if format.channels != 1 {
            return Err(refuse(format!(
                "has {} channels, the model expects mono (down-mix the source)",
                format.channels
            )));
        }
        if self.scorer.threshold(section).is_none() {
            let known: Vec<String> = self
                .scorer
                .thresholds()
                .keys()
                .map(|s| format!("{s:02}"))
                .collect();
            return Err(refuse(format!(
                "section {section:02} is not in the {} model of {} (sections {})",
                self.scorer.system(),
                self.scorer.machine(),
                known.join(", ")
            )));
        }
        self.streams
            .push(StreamState::new(name.to_string(), section, &self.geometry));
        Ok(self.streams.len() - 1)
    }

    fn stream_mut(&mut self, id: StreamId) -> Result<&mut StreamState> {
        self.streams
            .get_mut(id)
            .ok_or_else(|| HarkError::invalid("monitor", format!("no stream {id}")))
    }

    /// Takes a block of stream `id` (arrived now).
    pub fn push(&mut self, id: StreamId, block: Block) -> Result<Vec<Event>> {
        let geometry = self.geometry;
        let stream = self.stream_mut(id)?;
        Ok(stream.push(&geometry, block, Instant::now()))
    }

    /// Marks stream `id` as ended; its waiting windows are still scored.
    pub fn end_stream(&mut self, id: StreamId) -> Result<Vec<Event>> {
        let geometry = self.geometry;
        let stream = self.stream_mut(id)?;
        if stream.ended {
            return Ok(Vec::new());
        }
        stream.ended = true;
        Ok(vec![Event::End {
            stream: stream.name.clone(),
            time_s: geometry.seconds(stream.position()),
            windows: stream.decision.windows,
            dropped: stream.dropped,
            gaps: stream.gaps,
        }])
    }

    /// Windows waiting in all streams.
    pub fn pending(&self) -> usize {
        self.streams.iter().map(StreamState::pending).sum()
    }

    /// Decision state of every stream, by name.
    pub fn decisions(&self) -> Vec<(String, Decision)> {
        self.streams
            .iter()
            .map(|s| (s.name.clone(), s.decision.clone()))
            .collect()
    }

    /// Restores a stream's decision state (after a restart); unknown names are ignored.
    pub fn restore(&mut self, name: &str, decision: Decision) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.name == name) {
            stream.decision = decision;
        }
    }

    /// Scores waiting windows (up to the batch limit, oldest first and fairly across streams)
    /// in one call, decides each and returns the events.
    pub fn tick(&mut self) -> Result<Vec<Event>> {
        let mut taken: Vec<(StreamId, PendingWindow)> = Vec::new();
        let n = self.streams.len();
        // Round-robin, one window per stream per pass, so a full batch is shared fairly.
        'fill: loop {
            let before = taken.len();
            for k in 0..n {
                let id = (self.next_first + k) % n;
                if taken.len() >= self.max_batch {
                    break 'fill;
                }
                if let Some(w) = self.streams[id].pop_pending() {
                    taken.push((id, w));
                }
            }
            if taken.len() == before {
                break;
            }
        }
        if n > 0 {
            self.next_first = (self.next_first + 1) % n;
        }
        let mut events = Vec::new();
        let mut scored: Vec<(StreamId, PendingWindow)> = Vec::with_capacity(taken.len());
        for (id, w) in taken {
            if w.samples.iter().all(|v| v.is_finite()) {
                scored.push((id, w));
            } else {
                events.push(Event::NotFinite {
                    stream: self.streams[id].name.clone(),
                    time_s: self.geometry.seconds(w.start),
                });
            }
        }
        let scores = match (&mut self.incremental, self.scorer.vector_mean()) {
            (Some(incremental), Some(system)) => {
                // Each stream's windows in time order (the batch interleaves streams).
                let mut order: Vec<usize> = (0..scored.len()).collect();
                order.sort_by_key(|&i| (scored[i].0, scored[i].1.start));
                let windows: Vec<IncrementalWindow> = order
                    .iter()
                    .map(|&i| IncrementalWindow {
                        stream: scored[i].0,
                        segment: scored[i].1.segment,
                        start: scored[i].1.start,
                        samples: &scored[i].1.samples,
                    })
                    .collect();
                // Streams with nothing waiting compute their new audio's vectors now.
                let busy: Vec<bool> = (0..n)
                    .map(|id| {
                        self.streams[id].pending() > 0 || scored.iter().any(|(s, _)| *s == id)
                    })
                    .collect();
                let warm_audio = warm_audio(incremental, &self.streams, &busy);
                let warm: Vec<WarmAudio> = warm_audio.iter().map(WarmClip::audio).collect();
                let sorted = incremental.score(system, &windows, &warm)?;
                let mut scores = vec![0.0; scored.len()];
                for (&i, score) in order.iter().zip(sorted) {
                    scores[i] = score;
                }
                scores
            }
            _ => {
                let inputs: Vec<WindowInput> = scored
                    .iter()
                    .map(|(id, w)| WindowInput {
                        stream: &self.streams[*id].name,
                        section: self.streams[*id].section,
                        start: w.start,
                        samples: &w.samples,
                    })
                    .collect();
                self.scorer.score(&inputs)?
            }
        };
        let decided = Instant::now();
        for ((id, w), score) in scored.into_iter().zip(scores) {
            events.extend(self.decide(id, &w, score, decided));
        }
        Ok(events)
    }

    /// Computes the vectors of the audio that arrived since the last tick in streams with no
    /// window waiting (incremental scoring only: their next windows then compute less, and a
    /// stream's first window is not the whole window's work at once). Nothing is decided.
    pub fn warm(&mut self) -> Result<()> {
        let (Some(incremental), Some(system)) = (&mut self.incremental, self.scorer.vector_mean())
        else {
            return Ok(());
        };
        let busy: Vec<bool> = self.streams.iter().map(|s| s.pending() > 0).collect();
        let warm_audio = warm_audio(incremental, &self.streams, &busy);
        if warm_audio.is_empty() {
            return Ok(());
        }
        let warm: Vec<WarmAudio> = warm_audio.iter().map(WarmClip::audio).collect();
        incremental.score(system, &[], &warm)?;
        Ok(())
    }

    fn decide(&mut self, id: StreamId, w: &PendingWindow, score: f64, now: Instant) -> Vec<Event> {
        let g = self.geometry;
        let rule = self.rule;
        let threshold = self
            .scorer
            .threshold(self.streams[id].section)
            .unwrap_or(f64::INFINITY);
        let stream = &mut self.streams[id];
        // A NaN score is never above the threshold; it still counts as a decided window.
        let transition = stream.decision.update(&rule, score > threshold);
        let clipped = w.samples.iter().filter(|v| v.abs() >= CLIP_LEVEL).count();
        let end = w.start + w.samples.len() as u64;
        let mut events = vec![Event::Score {
            stream: stream.name.clone(),
            start_s: g.seconds(w.start),
            end_s: g.seconds(end),
            score,
            threshold,
            state: stream.decision.state,
            clipped: clipped as f64 / w.samples.len().max(1) as f64,
            latency_s: now.saturating_duration_since(w.due).as_secs_f64(),
        }];
        match transition {
            Some(Transition::Raised) => events.push(Event::Alert {
                stream: stream.name.clone(),
                time_s: g.seconds(end),
                score,
            }),
            Some(Transition::Cleared) => events.push(Event::AllClear {
                stream: stream.name.clone(),
                time_s: g.seconds(end),
            }),
            None => {}
        }
        events
    }
}

/// A stream's new audio to warm its vector cache with (owned: copied out of its ring).
struct WarmClip {
    stream: StreamId,
    segment: u64,
    start: u64,
    held_from: u64,
    samples: Vec<f32>,
}

impl WarmClip {
    fn audio(&self) -> WarmAudio<'_> {
        WarmAudio {
            stream: self.stream,
            segment: self.segment,
            start: self.start,
            samples: &self.samples,
            held_from: self.held_from,
        }
    }
}

/// The warm-up clips of the streams not `busy` (with windows to score) that have enough new
/// complete vectors.
fn warm_audio(incremental: &Incremental, streams: &[StreamState], busy: &[bool]) -> Vec<WarmClip> {
    let mut out = Vec::new();
    for (id, stream) in streams.iter().enumerate() {
        if busy.get(id).copied().unwrap_or(true) {
            continue;
        }
        let (segment, origin) = stream.segment();
        let (held_from, end) = stream.held();
        let Some(start) = incremental.warm_from(id, segment, origin, held_from, end) else {
            continue;
        };
        if let Some(samples) = stream.samples_since(start) {
            out.push(WarmClip {
                stream: id,
                segment,
                start,
                held_from,
                samples,
            });
        }
    }
    out
}
