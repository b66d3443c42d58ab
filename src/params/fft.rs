//! Shared parameters of the `fft` kernels (see [`crate::params`]).

use std::f64::consts::PI;

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Radices of the Stockham stages for an `n`-point transform, or `None` when `n` has a prime
/// factor other than 2, 3, 5. Radix 4 first (half the passes of radix 2), then at most one 2,
/// then 3s and 5s; any order gives the same transform. `n = 1` needs no stage.
pub fn fft_radices(n: usize) -> Option<Vec<u32>> {
    if n == 0 {
        return None;
    }
    let mut rest = n;
    let mut radices = Vec::new();
    while rest.is_multiple_of(4) {
        radices.push(4);
        rest /= 4;
    }
    for radix in [2u32, 3, 5] {
        while rest.is_multiple_of(radix as usize) {
            radices.push(radix);
            rest /= radix as usize;
        }
    }
    (rest == 1).then_some(radices)
}

/// `exp(-2 pi i k / n)` for `k < n`, interleaved (re, im), computed in f64.
pub fn twiddle_table(n: usize) -> Vec<f32> {
    let mut table = Vec::with_capacity(2 * n);
    for k in 0..n {
        let angle = -2.0 * PI * k as f64 / n as f64;
        table.push(angle.cos() as f32);
        table.push(angle.sin() as f32);
    }
    table
}

/// Length of Bluestein's power-of-two convolution for an `n`-point transform.
pub fn bluestein_length(n: usize) -> usize {
    (2 * n - 1).next_power_of_two()
}

/// Bluestein's chirp `exp(-pi i t^2 / n)`, `t < n`, interleaved; `t^2 mod 2n` keeps the angle
/// exact for large `t`.
pub fn bluestein_chirp(n: usize) -> Vec<f32> {
    let mut chirp = Vec::with_capacity(2 * n);
    for t in 0..n as u64 {
        let phase = (t * t) % (2 * n as u64);
        let angle = -PI * phase as f64 / n as f64;
        chirp.push(angle.cos() as f32);
        chirp.push(angle.sin() as f32);
    }
    chirp
}

/// `FFT(b) / m` for Bluestein's filter `b[i] = conj(c[i])`, `b[m - i] = conj(c[i])` (`0 < i < n`),
/// computed in f64 with rustfft; the `1 / m` folds the inverse FFT's normalisation in.
pub fn bluestein_spectrum(n: usize, m: usize) -> Vec<f32> {
    let mut b = vec![Complex::new(0.0f64, 0.0); m];
    for t in 0..n {
        let phase = ((t as u64) * (t as u64)) % (2 * n as u64);
        let angle = PI * phase as f64 / n as f64;
        let c = Complex::new(angle.cos(), angle.sin());
        b[t] = c;
        if t > 0 {
            b[m - t] = c;
        }
    }
    FftPlanner::<f64>::new().plan_fft_forward(m).process(&mut b);
    b.iter()
        .flat_map(|z| [(z.re / m as f64) as f32, (z.im / m as f64) as f32])
        .collect()
}

/// What a spectrum kernel writes per bin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpectrumKind {
    /// `(re, im)` interleaved: a trailing axis of 2.
    Complex,
    /// `|X|` (librosa `power=1`).
    #[default]
    Magnitude,
    /// `|X|^2` (librosa `power=2`).
    Power,
}

impl SpectrumKind {
    pub(crate) fn code(self) -> u32 {
        match self {
            SpectrumKind::Complex => 0,
            SpectrumKind::Magnitude => 1,
            SpectrumKind::Power => 2,
        }
    }

    /// Floats written per bin.
    pub fn floats_per_bin(self) -> usize {
        match self {
            SpectrumKind::Complex => 2,
            _ => 1,
        }
    }
}

/// One-sided bins of an `n`-point real FFT.
pub fn rfft_bins(n: usize) -> usize {
    n / 2 + 1
}

/// Which implementation a plan uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FftPath {
    /// The library's choice for the adapter: on a GPU the fused workgroup kernel where the size
    /// and the device allow it, else the global path; on a software adapter (lavapipe, WARP,
    /// SwiftShader) always the global path, which runs faster there (BENCHMARKS.md, front end).
    #[default]
    Auto,
    /// The fused workgroup kernel where the size and the device allow it, whatever the adapter;
    /// else the global path.
    Workgroup,
    /// Always the multi-pass global-memory path (any length).
    Global,
}
