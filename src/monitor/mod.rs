//! Live monitoring: many machines' audio streams scored at once with bounded latency. Each
//! stream keeps a ring of its latest samples; every hop its last window is cut, and all windows
//! due in a tick are scored in one batched call of a system's scoring contract, against the
//! threshold `hark score` would set; a k-of-n rule raises alerts and m quiet windows clear them.
//! Gaps, repeated audio, a full backlog, stalls and the end of a stream are reported as events.
//! Systems whose clip score is a mean of vector scores (`ae`, `flow`) are scored incrementally:
//! only the vectors new since the last window, and each window's edges, are computed.
//!
//! ```no_run
//! # fn demo(scorer: hark::monitor::WindowScorer, source: Box<dyn hark::monitor::Source>) -> hark::Result<()> {
//! use hark::monitor::{run, Monitor, MonitorConfig, Outputs, RunOptions};
//! let mut monitor = Monitor::new(scorer, MonitorConfig::default())?;
//! let mut out = Outputs::new(Box::new(std::io::stdout()), "stdout", None)?;
//! run(&mut monitor, vec![(source, 0)], &mut out, &RunOptions::default())?;
//! # Ok(()) }
//! ```

pub mod bench;
pub mod decision;
pub mod engine;
pub mod events;
pub mod incremental;
pub mod output;
pub mod ring;
pub mod runner;
pub mod scoring;
pub mod source;
pub mod sources;
pub mod state_file;
pub mod stream;

pub use decision::{AlertState, Decision, DecisionRule};
pub use engine::{Monitor, MonitorConfig, StreamId};
pub use events::Event;
pub use incremental::{VectorLayout, VectorMeanScorer};
pub use output::{Collect, Outputs};
pub use runner::{run, EventSink, RunOptions, RunSummary};
pub use scoring::{ScoringModel, WindowInput, WindowScorer};
pub use source::{AudioFormat, Block, Poll, Source};
