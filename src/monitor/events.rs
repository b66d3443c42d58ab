//! What the monitor reports, one [`Event`] per JSON line: each scored window with its threshold
//! and state, alerts and all-clears, and every fault in a stream (gaps, repeated audio, dropped
//! windows, stalls, the end). Times are stream seconds: the position on the stream's own timeline.

use serde_json::{json, Value};

use crate::monitor::decision::AlertState;

/// One thing that happened on one stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A window was scored.
    Score {
        stream: String,
        /// Stream seconds of the window's first sample and just past its last.
        start_s: f64,
        end_s: f64,
        score: f64,
        threshold: f64,
        /// The state after this window.
        state: AlertState,
        /// Share of the window's samples at full scale (|x| >= 0.999); 0 when none.
        clipped: f64,
        /// Wall seconds from the arrival of the window's last sample to this decision.
        latency_s: f64,
    },
    /// `k` of the last `n` windows exceeded the threshold.
    Alert {
        stream: String,
        time_s: f64,
        score: f64,
    },
    /// `m` windows in a row stayed below the threshold.
    AllClear { stream: String, time_s: f64 },
    /// Audio missing between `time_s` and `time_s + missing_s`: not scored, and the next window
    /// waits for a full window of audio after it.
    Gap {
        stream: String,
        time_s: f64,
        missing_s: f64,
    },
    /// Audio delivered again for a time already seen (`repeated_s` of it), dropped.
    Overlap {
        stream: String,
        time_s: f64,
        repeated_s: f64,
    },
    /// Windows dropped unscored because the backlog was full (oldest first).
    Dropped {
        stream: String,
        windows: u64,
        total: u64,
    },
    /// A window holding NaN or infinite samples, not scored.
    NotFinite { stream: String, time_s: f64 },
    /// A live source delivered nothing for `silent_s` wall seconds.
    Stalled { stream: String, silent_s: f64 },
    /// A stalled source delivers again.
    Resumed { stream: String, silent_s: f64 },
    /// The source failed (unreadable data, a file of another format); the stream ends.
    SourceError { stream: String, detail: String },
    /// The stream ended.
    End {
        stream: String,
        time_s: f64,
        windows: u64,
        dropped: u64,
        gaps: u64,
    },
}

impl Event {
    /// The stream the event is about.
    pub fn stream(&self) -> &str {
        match self {
            Event::Score { stream, .. }
            | Event::Alert { stream, .. }
            | Event::AllClear { stream, .. }
            | Event::Gap { stream, .. }
            | Event::Overlap { stream, .. }
            | Event::Dropped { stream, .. }
            | Event::NotFinite { stream, .. }
            | Event::Stalled { stream, .. }
            | Event::Resumed { stream, .. }
            | Event::SourceError { stream, .. }
            | Event::End { stream, .. } => stream,
        }
    }

    /// The event as one JSON object; `wall` (Unix seconds) is added by the writer.
    pub fn to_json(&self) -> Value {
        match self {
            Event::Score {
                stream,
                start_s,
                end_s,
                score,
                threshold,
                state,
                clipped,
                latency_s,
            } => json!({
                "event": "score", "stream": stream, "time": end_s, "start": start_s,
                "score": score, "threshold": threshold, "state": state.as_str(),
                "clipped": clipped, "latency_s": latency_s,
            }),
            Event::Alert {
                stream,
                time_s,
                score,
            } => json!({"event": "alert", "stream": stream, "time": time_s, "score": score}),
            Event::AllClear { stream, time_s } => {
                json!({"event": "all-clear", "stream": stream, "time": time_s})
            }
            Event::Gap {
                stream,
                time_s,
                missing_s,
            } => json!({"event": "gap", "stream": stream, "time": time_s, "missing_s": missing_s}),
            Event::Overlap {
                stream,
                time_s,
                repeated_s,
            } => json!({
                "event": "overlap", "stream": stream, "time": time_s, "repeated_s": repeated_s,
            }),
            Event::Dropped {
                stream,
                windows,
                total,
            } => json!({"event": "dropped", "stream": stream, "windows": windows, "total": total}),
            Event::NotFinite { stream, time_s } => {
                json!({"event": "not-finite", "stream": stream, "time": time_s})
            }
            Event::Stalled { stream, silent_s } => {
                json!({"event": "stalled", "stream": stream, "silent_s": silent_s})
            }
            Event::Resumed { stream, silent_s } => {
                json!({"event": "resumed", "stream": stream, "silent_s": silent_s})
            }
            Event::SourceError { stream, detail } => {
                json!({"event": "source-error", "stream": stream, "detail": detail})
            }
            Event::End {
                stream,
                time_s,
                windows,
                dropped,
                gaps,
            } => json!({
                "event": "end", "stream": stream, "time": time_s, "windows": windows,
                "dropped": dropped, "gaps": gaps,
            }),
        }
    }
}
