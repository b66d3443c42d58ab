//! A folder a recorder writes WAV clips into, polled for new complete files (no inotify): a file
//! is taken once its size has stayed the same over two looks at least `settle` apart, in name
//! order, and played as the continuation of the stream. Files whose names sort before the last
//! one taken are ignored, so only one name is remembered however long the watch runs. A
//! recorder that writes under another name and renames when done is picked up at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{HarkError, Result};
use crate::monitor::source::{AudioFormat, Block, Poll, Source};
use crate::monitor::sources::wav_file::WavBlocks;

/// A watched folder.
pub struct FolderWatch {
    name: String,
    dir: PathBuf,
    format: AudioFormat,
    /// The last file taken (files sorting at or before it are old).
    last: Option<String>,
    /// A file seen growing or new: (name, size, when first seen at that size).
    candidate: Option<(String, u64, Instant)>,
    current: Option<WavBlocks>,
    settle: Duration,
    chunk: usize,
    position: u64,
    next_look: Instant,
}

fn io_error(path: &Path, source: std::io::Error) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FolderWatch {
    /// Watches `dir` for a stream of `format` (the files must have it; one that differs is an
    /// error naming it). `chunk` samples are handed over per poll.
    pub fn new(
        name: &str,
        dir: &Path,
        format: AudioFormat,
        settle: Duration,
        chunk: usize,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(HarkError::Stream {
                stream: name.to_string(),
                detail: format!("{} is not a folder", dir.display()),
            });
        }
        Ok(Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            format,
            last: None,
            candidate: None,
            current: None,
            settle,
            chunk: chunk.max(1),
            position: 0,
            next_look: Instant::now(),
        })
    }

    /// The first `.wav` file after the last one taken, with its size.
    fn next_file(&self) -> Result<Option<(String, u64)>> {
        let mut best: Option<(String, u64)> = None;
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_wav = Path::new(&name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if !is_wav || self.last.as_ref().is_some_and(|last| name <= *last) {
                continue;
            }
            if best.as_ref().is_some_and(|(b, _)| name >= *b) {
                continue;
            }
            let size = entry
                .metadata()
                .map_err(|e| io_error(&entry.path(), e))?
                .len();
            best = Some((name, size));
        }
        Ok(best)
    }

    /// Opens the next file once it has settled.
    fn open_next(&mut self) -> Result<bool> {
        let now = Instant::now();
        if now < self.next_look {
            return Ok(false);
        }
        self.next_look = now + self.settle / 4;
        let Some((name, size)) = self.next_file()? else {
            return Ok(false);
        };
        let settled = match &self.candidate {
            Some((n, s, since)) if *n == name && *s == size => {
                now.duration_since(*since) >= self.settle
            }
            _ => {
                self.candidate = Some((name.clone(), size, now));
                false
            }
        };
        if !settled {
            return Ok(false);
        }
        self.candidate = None;
        let path = self.dir.join(&name);
        let blocks = WavBlocks::open(&path)?;
        if blocks.format() != self.format {
            return Err(HarkError::Stream {
                stream: self.name.clone(),
                detail: format!(
                    "{} is {} Hz x {} channels, the stream is {} Hz x {}",
                    path.display(),
                    blocks.format().sample_rate,
                    blocks.format().channels,
                    self.format.sample_rate,
                    self.format.channels
                ),
            });
        }
        self.last = Some(name);
        self.current = Some(blocks);
        Ok(true)
    }
}

impl Source for FolderWatch {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        if self.current.is_none() && !self.open_next()? {
            return Ok(Poll::Pending);
        }
        let Some(current) = self.current.as_mut() else {
            return Ok(Poll::Pending);
        };
        let samples = current.read(self.chunk)?;
        if samples.is_empty() {
            self.current = None;
            return Ok(Poll::Pending);
        }
        let start = self.position;
        self.position += samples.len() as u64;
        Ok(Poll::Block(Block { start, samples }))
    }
}
