//! A live audio input device through cpal (feature `audio-input`). The device stream lives on
//! its own thread (cpal streams are not `Send` everywhere); its callback places each buffer on
//! the stream's timeline by the capture timestamp, so audio the driver dropped shows as a gap,
//! and hands it over through a bounded queue that drops the oldest audio when full.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::error::{HarkError, Result};
use crate::monitor::source::{AudioFormat, Block, Poll, Source};

#[derive(Default)]
struct Inbox {
    blocks: VecDeque<Block>,
    samples: usize,
    error: Option<String>,
    /// Timeline position after the last buffer, and the capture time of sample 0.
    next: u64,
    origin: Option<cpal::StreamInstant>,
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|p| p.into_inner())
}

/// The names of the input devices cpal finds.
pub fn input_device_names() -> Vec<String> {
    let host = cpal::default_host();
    host.input_devices()
        .map(|devices| devices.filter_map(|d| d.name().ok()).collect())
        .unwrap_or_default()
}

fn refuse(stream: &str, detail: String) -> HarkError {
    HarkError::Stream {
        stream: stream.to_string(),
        detail,
    }
}

/// A live input device read at `sample_rate`, mono.
pub struct DeviceSource {
    name: String,
    format: AudioFormat,
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
    chunk: usize,
}

impl DeviceSource {
    /// Opens the input device whose name contains `device` (`None`: the default input) at
    /// `sample_rate` Hz mono. Without such a device, the error lists the devices found.
    pub fn open(
        name: &str,
        device: Option<&str>,
        sample_rate: u32,
        capacity: usize,
        chunk: usize,
    ) -> Result<Self> {
        let host = cpal::default_host();
        let found = match device {
            Some(wanted) => host.input_devices().ok().and_then(|mut devices| {
                devices.find(|d| {
                    d.name()
                        .is_ok_and(|n| n.to_lowercase().contains(&wanted.to_lowercase()))
                })
            }),
            None => host.default_input_device(),
        };
        let listed = || {
            let names = input_device_names();
            if names.is_empty() {
                "no input devices found".to_string()
            } else {
                format!("input devices found: {}", names.join(", "))
            }
        };
        let dev = found.ok_or_else(|| {
            refuse(
                name,
                format!(
                    "no input device {}; {}",
                    device.map_or("(default)".to_string(), |d| format!("matching '{d}'")),
                    listed()
                ),
            )
        })?;
        let rate = cpal::SampleRate(sample_rate);
        let supported = dev
            .supported_input_configs()
            .map_err(|e| refuse(name, format!("cannot list the device's formats: {e}")))?
            .filter(|c| c.channels() == 1 && c.min_sample_rate() <= rate && rate <= c.max_sample_rate())
            .find(|c| c.sample_format() == cpal::SampleFormat::F32)
            .ok_or_else(|| {
                refuse(
                    name,
                    format!("the device offers no {sample_rate} Hz mono f32 input (resample it, e.g. through an ALSA plug device)"),
                )
            })?
            .with_sample_rate(rate);
        let config: cpal::StreamConfig = supported.into();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::result::Result<(), String>>();
        let (shared, errors, halt) = (Arc::clone(&inbox), Arc::clone(&inbox), Arc::clone(&stop));
        let capacity = capacity.max(1);
        std::thread::spawn(move || {
            let stream = dev.build_input_stream(
                &config,
                move |data: &[f32], info: &cpal::InputCallbackInfo| {
                    deliver(
                        &shared,
                        data,
                        info.timestamp().capture,
                        sample_rate,
                        capacity,
                    )
                },
                move |err| lock(&errors).error = Some(err.to_string()),
                None,
            );
            let stream = match stream.map_err(|e| e.to_string()).and_then(|s| {
                s.play().map_err(|e| e.to_string())?;
                Ok(s)
            }) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            while !halt.load(Ordering::Relaxed) {
                std::thread::park_timeout(std::time::Duration::from_millis(200));
            }
            drop(stream);
        });
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(refuse(name, format!("cannot start the input: {e}"))),
            Err(_) => return Err(refuse(name, "the input thread stopped".to_string())),
        }
        Ok(Self {
            name: name.to_string(),
            format: AudioFormat {
                sample_rate,
                channels: 1,
            },
            inbox,
            stop,
            chunk: chunk.max(1),
        })
    }
}

/// Places a buffer on the timeline by its capture time: more than 10 ms after where the last
/// one ended means the driver dropped audio (a gap); less is jitter, absorbed.
fn deliver(
    inbox: &Mutex<Inbox>,
    data: &[f32],
    capture: cpal::StreamInstant,
    sample_rate: u32,
    capacity: usize,
) {
    let mut guard = lock(inbox);
    let origin = *guard.origin.get_or_insert(capture);
    let at = capture
        .duration_since(&origin)
        .map_or(0, |d| (d.as_secs_f64() * f64::from(sample_rate)) as u64);
    let tolerance = u64::from(sample_rate / 100);
    let start = if at > guard.next + tolerance {
        at
    } else {
        guard.next
    };
    guard.next = start + data.len() as u64;
    guard.samples += data.len();
    guard.blocks.push_back(Block {
        start,
        samples: data.to_vec(),
    });
    while guard.samples > capacity && guard.blocks.len() > 1 {
        if let Some(old) = guard.blocks.pop_front() {
            guard.samples -= old.samples.len();
        }
    }
}

impl Drop for DeviceSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Source for DeviceSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn poll(&mut self) -> Result<Poll> {
        let mut guard = lock(&self.inbox);
        if let Some(error) = guard.error.take() {
            return Err(refuse(&self.name, format!("the input failed: {error}")));
        }
        let Some(mut block) = guard.blocks.pop_front() else {
            return Ok(Poll::Pending);
        };
        if block.samples.len() > self.chunk {
            let rest = block.samples.split_off(self.chunk);
            guard.blocks.push_front(Block {
                start: block.start + self.chunk as u64,
                samples: rest,
            });
        }
        guard.samples -= block.samples.len();
        Ok(Poll::Block(block))
    }
}
