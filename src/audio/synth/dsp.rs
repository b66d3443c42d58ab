//! Small signal-processing parts for the synthetic machines: the seeded generator, a two-pole
//! resonator (impulses ringing in a machine's structure, band-limited noise) and a one-pole filter.

use std::f32::consts::TAU;

/// The synthetic machines draw from the crate's seeded generator (SplitMix64: a seed gives the
/// same bytes on every platform).
pub use crate::rng::{mix_seed, SeededRng as Rng};

/// Two-pole resonator `y[n] = g x[n] + 2r cos(w) y[n-1] - r² y[n-2]`, gain-normalised so that
/// white noise in gives roughly unit-variance-scaled band noise out.
#[derive(Clone, Debug)]
pub struct Resonator {
    a1: f32,
    a2: f32,
    gain: f32,
    y1: f32,
    y2: f32,
}

impl Resonator {
    /// Centre `frequency` and `bandwidth` in Hz.
    pub fn new(frequency: f32, bandwidth: f32, sample_rate: f32) -> Self {
        let r = (-std::f32::consts::PI * bandwidth / sample_rate).exp();
        let w = TAU * frequency / sample_rate;
        Self {
            a1: 2.0 * r * w.cos(),
            a2: -r * r,
            gain: (1.0 - r * r).sqrt(),
            y1: 0.0,
            y2: 0.0,
        }
    }

    pub fn process(&mut self, x: f32) -> f32 {
        let y = self.gain * x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// One-pole low-pass `y += a (x - y)` with its corner at `cutoff` Hz.
#[derive(Clone, Debug)]
pub struct OnePole {
    a: f32,
    y: f32,
}

impl OnePole {
    pub fn new(cutoff: f32, sample_rate: f32) -> Self {
        Self {
            a: 1.0 - (-TAU * cutoff / sample_rate).exp(),
            y: 0.0,
        }
    }

    pub fn process(&mut self, x: f32) -> f32 {
        self.y += self.a * (x - self.y);
        self.y
    }
}

/// Mean power of `signal`.
pub fn power(signal: &[f32]) -> f32 {
    let sum: f64 = signal.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / signal.len().max(1) as f64) as f32
}
