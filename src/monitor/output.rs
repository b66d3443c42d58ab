//! Where the monitor's events are written: JSON lines (one object per event, with the wall time)
//! on stdout or to a file, flushed after every round, and optionally one CSV per stream of its
//! scored windows (`time_s,score,threshold,state`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{HarkError, Result};
use crate::monitor::events::Event;
use crate::monitor::runner::EventSink;

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// JSON lines and per-stream CSVs.
pub struct Outputs {
    json: Box<dyn Write>,
    json_name: String,
    csv_dir: Option<PathBuf>,
    csv: HashMap<String, BufWriter<File>>,
}

impl Outputs {
    /// JSON lines to `json` (named `json_name` in errors); CSVs into `csv_dir` when given
    /// (appended to, so a restarted run continues them).
    pub fn new(json: Box<dyn Write>, json_name: &str, csv_dir: Option<PathBuf>) -> Result<Self> {
        if let Some(dir) = &csv_dir {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        Ok(Self {
            json,
            json_name: json_name.to_string(),
            csv_dir,
            csv: HashMap::new(),
        })
    }

    fn csv_row(&mut self, stream: &str, row: String) -> Result<()> {
        let Some(dir) = &self.csv_dir else {
            return Ok(());
        };
        if !self.csv.contains_key(stream) {
            let path = dir.join(format!("{stream}.csv"));
            let fresh = !path.exists();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_error(&path, e))?;
            let mut writer = BufWriter::new(file);
            if fresh {
                writeln!(writer, "time_s,score,threshold,state").map_err(|e| io_error(&path, e))?;
            }
            self.csv.insert(stream.to_string(), writer);
        }
        if let Some(writer) = self.csv.get_mut(stream) {
            writeln!(writer, "{row}").map_err(|e| io_error(&dir.join(stream), e))?;
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, for the `wall` field.
fn wall_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventSink for Outputs {
    fn emit(&mut self, events: &[Event]) -> Result<()> {
        let wall = wall_seconds();
        let json_path = PathBuf::from(&self.json_name);
        for event in events {
            let mut value = event.to_json();
            if let Some(object) = value.as_object_mut() {
                object.insert("wall".to_string(), wall.into());
            }
            writeln!(self.json, "{value}").map_err(|e| io_error(&json_path, e))?;
            if let Event::Score {
                stream,
                end_s,
                score,
                threshold,
                state,
                ..
            } = event
            {
                self.csv_row(
                    stream,
                    format!("{end_s},{score},{threshold},{}", state.as_str()),
                )?;
            }
        }
        self.json.flush().map_err(|e| io_error(&json_path, e))?;
        for (stream, writer) in &mut self.csv {
            writer.flush().map_err(|e| io_error(Path::new(stream), e))?;
        }
        Ok(())
    }
}

/// Keeps every event in memory (tests, and library users who want them as values).
#[derive(Debug, Default)]
pub struct Collect {
    pub events: Vec<Event>,
}

impl EventSink for Collect {
    fn emit(&mut self, events: &[Event]) -> Result<()> {
        self.events.extend_from_slice(events);
        Ok(())
    }
}
