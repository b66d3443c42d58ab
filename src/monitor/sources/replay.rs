//! WAV files replayed as one stream, back to back: at real-time speed (each poll delivers the
//! audio whose time has come on the wall clock since the first poll) or as fast as the monitor
//! takes it (one hop per poll, so every stream advances in step and shares each tick's batch).

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{HarkError, Result};
use crate::monitor::source::{AudioFormat, Block, Poll, Source};
use crate::monitor::sources::wav_file::WavBlocks;

/// How fast a replay runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// As a live source would deliver it.
    Realtime,
    /// As fast as it is taken.
    Fast,
}

/// WAV files played one after the other as one stream.
pub struct WavReplay {
    name: String,
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<WavBlocks>,
    format: AudioFormat,
    pace: Pace,
    /// Samples per poll in fast mode (the hop).
    chunk: usize,
    started: Option<Instant>,
    position: u64,
}

impl WavReplay {
    /// Opens the first file (its format is the stream's) and checks that every other file has
    /// the same format, naming the one that differs.
    pub fn new(name: &str, files: Vec<PathBuf>, pace: Pace, chunk: usize) -> Result<Self> {
        let first = files.first().ok_or_else(|| HarkError::Stream {
            stream: name.to_string(),
            detail: "no WAV files to replay".to_string(),
        })?;
        let current = WavBlocks::open(first)?;
        let format = current.format();
        for path in &files[1..] {
            let other = WavBlocks::open(path)?.format();
            if other != format {
                return Err(HarkError::Stream {
                    stream: name.to_string(),
                    detail: format!(
                        "{} is {} Hz x {} channels, the stream's first file {} Hz x {}",
                        path.display(),
                        other.sample_rate,
                        other.channels,
                        format.sample_rate,
                        format.channels
                    ),
                });
            }
        }
        Ok(Self {
            name: name.to_string(),
            files,
            next_file: 1,
            current: Some(current),
            format,
            pace,
            chunk: chunk.max(1),
            started: None,
            position: 0,
        })
    }

    /// Up to `max` samples, crossing into the next file when one ends.
    fn read(&mut self, max: usize) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(current) = self.current.as_mut() else {
                break;
            };
            let got = current.read(max - out.len())?;
            if got.is_empty() {
                self.current = match self.files.get(self.next_file) {
                    Some(path) => Some(WavBlocks::open(path)?),
                    None => None,
                };
                self.next_file += 1;
                continue;
            }
            out.extend(got);
        }
        Ok(out)
    }
}

impl Source for WavReplay {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        let wanted = match self.pace {
            Pace::Fast => self.chunk,
            Pace::Realtime => {
                let started = *self.started.get_or_insert_with(Instant::now);
                let due =
                    (started.elapsed().as_secs_f64() * f64::from(self.format.sample_rate)) as u64;
                let wanted = due.saturating_sub(self.position) as usize;
                if wanted == 0 {
                    return Ok(if self.current.is_none() {
                        Poll::End
                    } else {
                        Poll::Pending
                    });
                }
                // A monitor that fell far behind takes the backlog in bounded blocks.
                wanted.min(self.chunk * 64)
            }
        };
        let samples = self.read(wanted)?;
        if samples.is_empty() {
            return Ok(Poll::End);
        }
        let start = self.position;
        self.position += samples.len() as u64;
        Ok(Poll::Block(Block { start, samples }))
    }
}
