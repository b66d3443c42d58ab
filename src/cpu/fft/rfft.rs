//! CPU references for the real FFT: `realfft` in f64 (the accuracy reference), and the twin of the
//! GPU's global-memory path (framing, Stockham or Bluestein, post-processing) in f32.

use realfft::RealFftPlanner;

use super::bluestein::complex_fft;
use super::fft_stage::C32;
use super::rfft_post::rfft_post;
use crate::cpu::stft::stft_frame_twin;
use crate::params::fft::{rfft_bins, SpectrumKind};

/// Writes one complex bin as `kind` asks.
pub(crate) fn push_bin(out: &mut Vec<f32>, re: f64, im: f64, kind: SpectrumKind) {
    match kind {
        SpectrumKind::Complex => {
            out.push(re as f32);
            out.push(im as f32);
        }
        SpectrumKind::Magnitude => out.push(re.hypot(im) as f32),
        SpectrumKind::Power => out.push((re * re + im * im) as f32),
    }
}

/// One-sided spectra of `rows` rows of `n` samples with `realfft` in f64:
/// `[rows, n/2 + 1]` (`[.., 2]` complex).
pub fn rfft(input: &[f32], n: usize, kind: SpectrumKind) -> Vec<f32> {
    let rows = input.len().checked_div(n).unwrap_or(0);
    let plan = RealFftPlanner::<f64>::new().plan_fft_forward(n.max(1));
    let mut spectrum = plan.make_output_vec();
    let mut out = Vec::with_capacity(rows * rfft_bins(n) * kind.floats_per_bin());
    for row in input.chunks_exact(n.max(1)).take(rows) {
        let mut buf: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
        // realfft only fails on buffer length mismatches, which the plan rules out.
        if plan.process(&mut buf, &mut spectrum).is_err() {
            return Vec::new();
        }
        for z in &spectrum {
            push_bin(&mut out, z.re, z.im, kind);
        }
    }
    out
}

/// The GPU's global-memory path step by step in f32: `stft_frame` (whole-clip framing), the
/// complex plan, `rfft_post`.
pub fn rfft_twin(input: &[f32], n: usize, kind: SpectrumKind) -> Vec<f32> {
    let rows = input.len() / n.max(1);
    let packed = n.is_multiple_of(2);
    let points = if packed { n / 2 } else { n };
    let frames: Vec<C32> = stft_frame_twin(input, rows, n, n, n, 1, 0, false, false, packed);
    let spectra = complex_fft(&frames, points, rows);
    rfft_post(&spectra, n, rows, packed, kind)
}
