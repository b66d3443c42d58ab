//! Mel filterbanks exactly as `librosa.filters.mel` builds them (REFERENCE-SPECS §1): Slaney scale
//! (linear below 1 kHz, logarithmic above) with Slaney area normalisation by default, or the HTK
//! scale and no normalisation (torchaudio's defaults). Computed in f64, stored as f32.

use crate::error::{HarkError, Result};

/// Mel scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MelScale {
    /// librosa's default (`htk=False`).
    #[default]
    Slaney,
    /// `2595 log10(1 + f / 700)`.
    Htk,
}

/// Filter normalisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MelNorm {
    /// Each triangle scaled by `2 / (f[m+2] - f[m])` (constant energy per band), librosa's default.
    #[default]
    Slaney,
    /// Peak 1.
    None,
}

/// Parameters of a mel filterbank.
#[derive(Clone, Copy, Debug)]
pub struct MelOptions {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub n_mels: usize,
    pub fmin: f64,
    /// `None`: `sample_rate / 2`.
    pub fmax: Option<f64>,
    pub scale: MelScale,
    pub norm: MelNorm,
}

impl MelOptions {
    /// The DCASE baseline configuration: 16 kHz, n_fft 1024, 128 Slaney mels over 0..8 kHz.
    pub fn dcase() -> Self {
        Self {
            sample_rate: 16_000,
            n_fft: 1024,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
        }
    }

    /// Frequency bins of the one-sided spectrum: `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hertz to mel on `scale` (librosa `hz_to_mel`).
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney if hz >= MIN_LOG_HZ => MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step(),
        MelScale::Slaney => hz / F_SP,
    }
}

/// Mel to hertz on `scale` (librosa `mel_to_hz`).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney if mel >= MIN_LOG_MEL => {
            MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
        }
        MelScale::Slaney => F_SP * mel,
    }
}

/// The filter matrix, `[n_mels, n_fft / 2 + 1]` row-major.
pub fn mel_filterbank(options: &MelOptions) -> Result<Vec<f32>> {
    let o = options;
    let nyquist = f64::from(o.sample_rate) / 2.0;
    let fmax = o.fmax.unwrap_or(nyquist);
    if o.n_fft < 2 || o.n_mels == 0 || o.sample_rate == 0 {
        return Err(HarkError::invalid(
            "mel_filterbank",
            format!(
                "n_fft {} (>= 2), n_mels {} and the sample rate must be positive",
                o.n_fft, o.n_mels
            ),
        ));
    }
    if !(0.0..fmax).contains(&o.fmin) || fmax > nyquist {
        return Err(HarkError::invalid(
            "mel_filterbank",
            format!(
                "need 0 <= fmin ({}) < fmax ({fmax}) <= sample_rate/2 ({nyquist})",
                o.fmin
            ),
        ));
    }
    let n_bins = o.n_bins();
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * nyquist / (n_bins - 1) as f64)
        .collect();
    let (mel_lo, mel_hi) = (hz_to_mel(o.fmin, o.scale), hz_to_mel(fmax, o.scale));
    let points = o.n_mels + 2;
    let mel_f: Vec<f64> = (0..points)
        .map(|i| {
            let mel = mel_lo + (mel_hi - mel_lo) * i as f64 / (points - 1) as f64;
            mel_to_hz(mel, o.scale)
        })
        .collect();
    let mut weights = vec![0.0f32; o.n_mels * n_bins];
    for m in 0..o.n_mels {
        let (lo, centre, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = match o.norm {
            MelNorm::Slaney => 2.0 / (hi - lo),
            MelNorm::None => 1.0,
        };
        for (k, &f) in fft_freqs.iter().enumerate() {
            // librosa: lower = -(mel_f[m] - f) / fdiff[m], upper = (mel_f[m+2] - f) / fdiff[m+1].
            let lower = (f - lo) / (centre - lo);
            let upper = (hi - f) / (hi - centre);
            let w = lower.min(upper).max(0.0);
            weights[m * n_bins + k] = (w * enorm) as f32;
        }
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_invert_and_match_known_points() {
        for scale in [MelScale::Slaney, MelScale::Htk] {
            for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
                assert!((mel_to_hz(hz_to_mel(hz, scale), scale) - hz).abs() < 1e-9);
            }
        }
        // librosa.hz_to_mel(1000) == 15, hz_to_mel(8000) ~= 45.245640471924965 (Slaney).
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(8000.0, MelScale::Slaney) - 45.245_640_471_924_965).abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_ranges() {
        let mut o = MelOptions::dcase();
        o.fmax = Some(9000.0);
        assert!(mel_filterbank(&o).is_err());
        o.fmax = Some(100.0);
        o.fmin = 200.0;
        assert!(mel_filterbank(&o).is_err());
    }
}
