//! What a monitored stream reads from: a [`Source`] hands out [`Block`]s of mono samples, each
//! placed on the stream's own timeline (sample index), so a source that lost audio says so by
//! the position of its next block and the monitor reports the gap instead of scoring silence.

use crate::error::Result;

/// A source's sample rate and channel count, checked against the model's before it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFormat {
    pub sample_rate: u32,
    pub channels: u16,
}

/// Consecutive mono samples starting at sample `start` of the stream's timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    pub start: u64,
    pub samples: Vec<f32>,
}

/// What a source had when asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Poll {
    /// New audio.
    Block(Block),
    /// Nothing new yet (a live source between deliveries); ask again later.
    Pending,
    /// The stream has ended; it will give nothing more.
    End,
}

/// A named audio stream. `poll` never blocks for long: live sources read on their own threads
/// and hand over what has arrived.
pub trait Source: Send {
    /// The stream's name, as the user gave it (it names the stream in every event and error).
    fn name(&self) -> &str;

    /// The format of the samples the source delivers (before any check against the model).
    fn format(&self) -> AudioFormat;

    /// The next block, `Pending` or `End`.
    fn poll(&mut self) -> Result<Poll>;

    /// Audio the source itself had to throw away since the last call (a reader whose hand-over
    /// queue was full), in samples; it shows up as a gap in the block positions too.
    fn take_overruns(&mut self) -> u64 {
        0
    }
}
