//! Seeded randomness for initialisation, shuffles, data synthesis and test data: one small
//! generator (SplitMix64) so that the same seed gives the same numbers on every machine.
//! Production code takes it from here, never from [`crate::testing`].

/// A small seeded generator (SplitMix64) so that the same seed gives the same numbers everywhere.
#[derive(Clone, Debug)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator's whole state: [`SeededRng::from_state`] of it continues the same stream
    /// (what a resumable training state saves).
    pub fn state(&self) -> u64 {
        self.0
    }

    /// A generator that continues from [`SeededRng::state`].
    pub fn from_state(state: u64) -> Self {
        Self(state)
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
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// An index in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// A stable 64-bit mix of several integers, for per-item seeds that do not depend on the order
/// in which threads reach the items (the synthetic clips' seeds).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut rng = SeededRng::new(0x5EED);
    let mut state = 0u64;
    for &part in parts {
        rng.0 ^= part.wrapping_add(state);
        state = rng.next_u64();
    }
    state
}
