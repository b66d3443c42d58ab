//! Raw PCM from a byte stream (stdin: `--stdin s16le --rate 16000`), read on its own thread
//! into a bounded hand-over queue. The reader never waits for the monitor: when the queue is
//! full it drops the oldest audio, which then shows as a gap, so memory stays bounded and a slow
//! monitor never stalls the producer.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use crate::error::{HarkError, Result};
use crate::monitor::source::{AudioFormat, Block, Poll, Source};

/// Sample encodings of raw PCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcmEncoding {
    /// Signed 16-bit little-endian.
    S16le,
    /// 32-bit float little-endian.
    F32le,
}

impl PcmEncoding {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "s16le" => Ok(PcmEncoding::S16le),
            "f32le" => Ok(PcmEncoding::F32le),
            other => Err(HarkError::InvalidSetting {
                name: "--stdin",
                value: other.to_string(),
                reason: "expected s16le or f32le".to_string(),
            }),
        }
    }

    fn bytes(self) -> usize {
        match self {
            PcmEncoding::S16le => 2,
            PcmEncoding::F32le => 4,
        }
    }

    fn decode(self, bytes: &[u8]) -> f32 {
        match self {
            // As read_wav scales 16-bit WAV samples.
            PcmEncoding::S16le => {
                (f64::from(i16::from_le_bytes([bytes[0], bytes[1]])) / 32_768.0) as f32
            }
            PcmEncoding::F32le => f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        }
    }
}

#[derive(Default)]
struct Inbox {
    blocks: VecDeque<Block>,
    samples: usize,
    ended: bool,
    error: Option<String>,
}

/// A raw PCM stream read on a background thread.
pub struct PcmSource {
    name: String,
    format: AudioFormat,
    inbox: Arc<Mutex<Inbox>>,
    /// Most samples handed over per poll.
    chunk: usize,
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|p| p.into_inner())
}

impl PcmSource {
    /// Starts reading `input` (interleaved `format.channels` channels; only mono is accepted by
    /// the monitor). At most `capacity` samples wait; `chunk` is the most handed over per poll.
    pub fn spawn(
        name: &str,
        input: Box<dyn Read + Send>,
        encoding: PcmEncoding,
        format: AudioFormat,
        capacity: usize,
        chunk: usize,
    ) -> Self {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let shared = Arc::clone(&inbox);
        let frame = encoding.bytes() * usize::from(format.channels.max(1));
        let read_block = (format.sample_rate as usize / 20).max(1) * frame;
        std::thread::spawn(move || {
            read_loop(input, encoding, frame, read_block, capacity.max(1), &shared)
        });
        Self {
            name: name.to_string(),
            format,
            inbox,
            chunk: chunk.max(1),
        }
    }
}

fn read_loop(
    mut input: Box<dyn Read + Send>,
    encoding: PcmEncoding,
    frame: usize,
    read_block: usize,
    capacity: usize,
    inbox: &Mutex<Inbox>,
) {
    let mut buffer = vec![0u8; read_block];
    let mut carry: Vec<u8> = Vec::new();
    let mut position = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                lock(inbox).error = Some(e.to_string());
                break;
            }
        };
        carry.extend_from_slice(&buffer[..n]);
        let whole = carry.len() / frame * frame;
        // Interleaved channels are kept as read (the monitor refuses non-mono formats).
        let samples: Vec<f32> = carry[..whole]
            .chunks_exact(encoding.bytes())
            .map(|b| encoding.decode(b))
            .collect();
        carry.drain(..whole);
        if samples.is_empty() {
            continue;
        }
        let len = samples.len() as u64;
        let mut guard = lock(inbox);
        guard.samples += samples.len();
        guard.blocks.push_back(Block {
            start: position,
            samples,
        });
        position += len;
        // Full: drop the oldest audio; the positions make it a reported gap.
        while guard.samples > capacity && guard.blocks.len() > 1 {
            if let Some(old) = guard.blocks.pop_front() {
                guard.samples -= old.samples.len();
            }
        }
    }
    lock(inbox).ended = true;
}

impl Source for PcmSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        let mut guard = lock(&self.inbox);
        if let Some(mut block) = guard.blocks.pop_front() {
            if block.samples.len() > self.chunk {
                let rest = block.samples.split_off(self.chunk);
                guard.blocks.push_front(Block {
                    start: block.start + self.chunk as u64,
                    samples: rest,
                });
            }
            guard.samples -= block.samples.len();
            return Ok(Poll::Block(block));
        }
        if let Some(error) = guard.error.take() {
            return Err(HarkError::Stream {
                stream: self.name.clone(),
                detail: format!("reading failed: {error}"),
            });
        }
        Ok(if guard.ended {
            Poll::End
        } else {
            Poll::Pending
        })
    }
}
