//! The decision state of every stream, saved atomically (a crash leaves the previous file
//! whole) as JSON after each tick that decided something, and read back on a restart so an
//! alert in force stays in force and the k-of-n history carries over.

use std::collections::VecDeque;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{HarkError, Result};
use crate::monitor::decision::{AlertState, Decision};

const VERSION: u64 = 1;

/// Writes `decisions` (by stream name) for `machine` to `path`, atomically.
pub fn save_state(path: &Path, machine: &str, decisions: &[(String, Decision)]) -> Result<()> {
    let streams: serde_json::Map<String, Value> = decisions
        .iter()
        .map(|(name, d)| {
            (
                name.clone(),
                json!({
                    "state": d.state.as_str(),
                    "recent": d.recent.iter().copied().collect::<Vec<bool>>(),
                    "quiet_run": d.quiet_run,
                    "windows": d.windows,
                }),
            )
        })
        .collect();
    let doc = json!({"version": VERSION, "machine": machine, "streams": streams});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| bad(path, e.to_string()))?;
    crate::io::atomic::write_bytes_atomically(path, text.as_bytes())
}

fn bad(path: &Path, detail: impl Into<String>) -> HarkError {
    HarkError::Dataset {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

/// Reads a state file written by [`save_state`]: the decisions by stream name. A missing file
/// is no state (`Ok(empty)`); a file for another machine type, or one that does not parse, is
/// an error naming the file.
pub fn load_state(path: &Path, machine: &str) -> Result<Vec<(String, Decision)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HarkError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| bad(path, format!("not a monitor state file: {e}")))?;
    if doc["version"].as_u64() != Some(VERSION) {
        return Err(bad(
            path,
            format!("not a version {VERSION} monitor state file"),
        ));
    }
    let saved_machine = doc["machine"].as_str().unwrap_or("");
    if saved_machine != machine {
        return Err(bad(
            path,
            format!(
                "holds the state of machine type '{saved_machine}', not '{machine}' (give \
                 another --state file)"
            ),
        ));
    }
    let streams = doc["streams"]
        .as_object()
        .ok_or_else(|| bad(path, "no 'streams' object"))?;
    let mut decisions = Vec::new();
    for (name, s) in streams {
        let field = |what: &str| bad(path, format!("stream '{name}': bad or missing '{what}'"));
        let state = s["state"]
            .as_str()
            .and_then(AlertState::parse)
            .ok_or_else(|| field("state"))?;
        let recent = s["recent"]
            .as_array()
            .ok_or_else(|| field("recent"))?
            .iter()
            .map(|v| v.as_bool().ok_or_else(|| field("recent")))
            .collect::<Result<VecDeque<bool>>>()?;
        let quiet_run = s["quiet_run"].as_u64().ok_or_else(|| field("quiet_run"))?;
        let windows = s["windows"].as_u64().ok_or_else(|| field("windows"))?;
        decisions.push((
            name.clone(),
            Decision {
                state,
                recent,
                quiet_run: usize::try_from(quiet_run).map_err(|_| field("quiet_run"))?,
                windows,
            },
        ));
    }
    Ok(decisions)
}
