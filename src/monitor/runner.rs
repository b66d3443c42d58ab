//! The monitoring loop: poll every source once per round, push what arrived, score everything
//! due in one tick, hand the events to a sink, save the decision state, and sleep briefly only
//! when no source had anything. A source that fails or ends ends its stream alone; the run ends
//! when every stream has ended and every waiting window was scored.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::monitor::engine::{Monitor, StreamId};
use crate::monitor::events::Event;
use crate::monitor::source::{Poll, Source};
use crate::monitor::state_file::{load_state, save_state};

/// Where events go.
pub trait EventSink {
    /// Takes the events of one round (flushing any output: one round, one flush).
    fn emit(&mut self, events: &[Event]) -> Result<()>;
}

/// How a run behaves around the monitor.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Decision state file: read at the start (when present), rewritten after every tick.
    pub state_file: Option<PathBuf>,
    /// A live source silent this long is reported as stalled.
    pub stall_timeout: Duration,
    /// Sleep when no source delivered anything.
    pub idle_sleep: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            state_file: None,
            stall_timeout: Duration::from_secs(5),
            idle_sleep: Duration::from_millis(5),
        }
    }
}

/// Counts of a finished run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub ticks: u64,
    pub windows: u64,
    /// Samples taken from all sources.
    pub samples: u64,
    pub wall_s: f64,
}

struct Attached {
    id: StreamId,
    source: Box<dyn Source>,
    last_data: Instant,
    stalled: bool,
    done: bool,
    end_reported: bool,
}

/// Adds every source as a stream of its section (format checked by the monitor), restores the
/// saved decision state, and runs until all streams end.
pub fn run(
    monitor: &mut Monitor,
    sources: Vec<(Box<dyn Source>, u32)>,
    sink: &mut dyn EventSink,
    options: &RunOptions,
) -> Result<RunSummary> {
    let mut attached = Vec::with_capacity(sources.len());
    for (source, section) in sources {
        let id = monitor.add_stream(source.name(), source.format(), section)?;
        attached.push(Attached {
            id,
            source,
            last_data: Instant::now(),
            stalled: false,
            done: false,
            end_reported: false,
        });
    }
    let machine = monitor.scorer().machine().to_string();
    if let Some(path) = &options.state_file {
        for (name, decision) in load_state(path, &machine)? {
            monitor.restore(&name, decision);
        }
    }
    let started = Instant::now();
    let mut summary = RunSummary::default();
    loop {
        let mut events = Vec::new();
        let mut delivered = false;
        for a in attached.iter_mut().filter(|a| !a.done) {
            let now = Instant::now();
            match a.source.poll() {
                Ok(Poll::Block(block)) => {
                    if a.stalled {
                        a.stalled = false;
                        events.push(Event::Resumed {
                            stream: a.source.name().to_string(),
                            silent_s: now.duration_since(a.last_data).as_secs_f64(),
                        });
                    }
                    a.last_data = now;
                    delivered = true;
                    summary.samples += block.samples.len() as u64;
                    events.extend(monitor.push(a.id, block)?);
                }
                Ok(Poll::Pending) => {
                    let silent = now.duration_since(a.last_data);
                    if !a.stalled && silent >= options.stall_timeout {
                        a.stalled = true;
                        events.push(Event::Stalled {
                            stream: a.source.name().to_string(),
                            silent_s: silent.as_secs_f64(),
                        });
                    }
                }
                Ok(Poll::End) => a.done = true,
                Err(e) => {
                    a.done = true;
                    events.push(Event::SourceError {
                        stream: a.source.name().to_string(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        let mut decided = false;
        if monitor.pending() > 0 {
            let scored = monitor.tick()?;
            summary.ticks += 1;
            let n = scored
                .iter()
                .filter(|e| matches!(e, Event::Score { .. }))
                .count();
            summary.windows += n as u64;
            decided = n > 0;
            events.extend(scored);
        } else if delivered {
            // Incremental scoring computes new audio's vectors before its window is due.
            monitor.warm()?;
        }
        // A stream's end is reported once its last window is decided.
        for a in attached.iter_mut().filter(|a| a.done && !a.end_reported) {
            if monitor.streams()[a.id].pending() == 0 {
                a.end_reported = true;
                events.extend(monitor.end_stream(a.id)?);
            }
        }
        if !events.is_empty() {
            sink.emit(&events)?;
        }
        if decided {
            if let Some(path) = &options.state_file {
                save_state(path, &machine, &monitor.decisions())?;
            }
        }
        if attached.iter().all(|a| a.end_reported) {
            break;
        }
        if !delivered && monitor.pending() == 0 {
            std::thread::sleep(options.idle_sleep);
        }
    }
    summary.wall_s = started.elapsed().as_secs_f64();
    Ok(summary)
}
