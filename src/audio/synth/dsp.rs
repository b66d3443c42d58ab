//! Small signal-processing parts for the synthetic machines: a seeded generator, a two-pole
//! resonator (impulses ringing in a machine's structure, band-limited noise) and a one-pole filter.

use std::f32::consts::TAU;

/// SplitMix64: tiny, fast and the same on every platform, so a seed gives the same bytes anywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box-Muller; one of the pair is discarded for simplicity).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    /// An index in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// A stable 64-bit mix of several integers, for per-clip seeds that do not depend on the order in
/// which threads render clips.
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut rng = Rng::new(0x5EED);
    let mut state = 0u64;
    for &part in parts {
        rng.0 ^= part.wrapping_add(state);
        state = rng.next_u64();
    }
    state
}

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
