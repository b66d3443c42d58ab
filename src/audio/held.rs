//! Clips held in memory under a virtual path, so that audio that never was a file (a window of a
//! live stream) reaches every system through the same [`crate::audio::wav::read_wav`] call a
//! file on disk does: the scoring contract takes clips by path, and a held clip is found there
//! before the file system is asked. A [`HeldClips`] guard releases its clips when dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{HarkError, Result};

/// Every virtual path starts with this, so it can never name a file a user passed.
pub const HELD_PREFIX: &str = "hark-held:";

struct HeldClip {
    sample_rate: u32,
    samples: Arc<[f32]>,
}

static HELD: Mutex<Option<HashMap<PathBuf, HeldClip>>> = Mutex::new(None);
/// How many clips are held: `read_wav` skips the lock when none are.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Distinguishes the guards of one process.
static NEXT_GUARD: AtomicUsize = AtomicUsize::new(0);

fn with_held<T>(f: impl FnOnce(&mut HashMap<PathBuf, HeldClip>) -> T) -> T {
    // A panic elsewhere while the lock was held leaves the map usable.
    let mut guard = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// A set of held clips under one virtual folder; dropping it releases them.
pub struct HeldClips {
    root: PathBuf,
    paths: Vec<PathBuf>,
}

impl HeldClips {
    /// An empty set whose paths start with `HELD_PREFIX/<label>-<n>/`.
    pub fn new(label: &str) -> Self {
        let n = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        Self {
            root: PathBuf::from(format!("{HELD_PREFIX}/{label}-{}-{n}", std::process::id())),
            paths: Vec::new(),
        }
    }

    /// Holds `samples` (mono, at `sample_rate`) as `<root>/<file_name>` and returns that path.
    pub fn hold(&mut self, file_name: &str, sample_rate: u32, samples: Vec<f32>) -> PathBuf {
        let path = self.root.join(file_name);
        let clip = HeldClip {
            sample_rate,
            samples: samples.into(),
        };
        let replaced = with_held(|held| held.insert(path.clone(), clip));
        if replaced.is_none() {
            COUNT.fetch_add(1, Ordering::Relaxed);
            self.paths.push(path.clone());
        }
        path
    }

    /// Releases every clip held so far (the guard stays usable).
    pub fn release(&mut self) {
        if self.paths.is_empty() {
            return;
        }
        let removed = with_held(|held| {
            self.paths
                .drain(..)
                .filter(|p| held.remove(p).is_some())
                .count()
        });
        COUNT.fetch_sub(removed, Ordering::Relaxed);
    }
}

impl Drop for HeldClips {
    fn drop(&mut self) {
        self.release();
    }
}

/// The samples held under `path`, checked against the sample rate the reader expects; `None`
/// when `path` is not held (then it is a file).
pub(crate) fn read_held(path: &Path, sample_rate: u32) -> Option<Result<Vec<f32>>> {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    with_held(|held| {
        held.get(path).map(|clip| {
            if clip.sample_rate == sample_rate {
                Ok(clip.samples.to_vec())
            } else {
                Err(HarkError::Wav {
                    path: path.display().to_string(),
                    reason: format!(
                        "sample rate is {} Hz, expected {sample_rate} Hz",
                        clip.sample_rate
                    ),
                })
            }
        })
    })
}
