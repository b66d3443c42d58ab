//! The sources a stream can read from: WAV files replayed, a watched folder, raw PCM on a byte
//! stream (stdin), audio already in memory, and (feature `audio-input`) a live input device.

#[cfg(feature = "audio-input")]
pub mod device;
pub mod folder;
pub mod memory;
pub mod pcm;
pub mod replay;
pub mod wav_file;

pub use folder::FolderWatch;
pub use memory::{BlockSource, LoopSource, StallingSource};
pub use pcm::{PcmEncoding, PcmSource};
pub use replay::{Pace, WavReplay};
