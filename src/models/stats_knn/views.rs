//! The per-clip statistics the stats-knn system embeds a clip with, computed on the host from the
//! front end's outputs: log-mel moments (per-band mean and standard deviation over time), temporal
//! change (per-band mean absolute frame-to-frame change and peak above the mean) and the
//! whole-clip spectrum pooled into equal-width bands. The same functions serve the GPU front end
//! and its CPU reference, so the two embeddings differ only by their front ends.

use crate::error::{HarkError, Result};

/// One group of statistics; each view is standardised and searched on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    /// Per-band mean and standard deviation of the log-mel over time, `[2 * mels]`.
    Logmel,
    /// Per-band mean |frame-to-frame change| and peak (max over time minus mean), `[2 * mels]`.
    Change,
    /// log10 power of the whole clip's spectrum averaged in equal-width bands, `[bands]`.
    Spectrum,
}

impl View {
    /// Every view, in embedding order.
    pub const ALL: [View; 3] = [View::Logmel, View::Change, View::Spectrum];

    /// The name in checkpoints and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            View::Logmel => "logmel",
            View::Change => "change",
            View::Spectrum => "spectrum",
        }
    }

    /// The view called `name`.
    pub fn parse(name: &str) -> Result<View> {
        View::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                HarkError::invalid(
                    "stats-knn",
                    format!("unknown view '{name}' (expected logmel, change or spectrum)"),
                )
            })
    }
}

fn check_logmel(logmel: &[f32], frames: usize, mels: usize, min_frames: usize) -> Result<()> {
    if mels == 0 || frames < min_frames || logmel.len() != frames * mels {
        return Err(HarkError::shape(
            "stats-knn",
            format!(
                "log-mel of {} values as [{frames} frames, {mels} bands]: need at least \
                 {min_frames} frames and whole rows",
                logmel.len()
            ),
        ));
    }
    Ok(())
}

/// Per-band mean over time, then per-band (biased) standard deviation: `[2 * mels]` from a
/// row-major `[frames, mels]` log-mel.
pub fn logmel_moments(logmel: &[f32], frames: usize, mels: usize) -> Result<Vec<f32>> {
    check_logmel(logmel, frames, mels, 1)?;
    let mut out = vec![0.0f32; 2 * mels];
    for band in 0..mels {
        let values = (0..frames).map(|t| f64::from(logmel[t * mels + band]));
        let mean = values.clone().sum::<f64>() / frames as f64;
        let variance = values.map(|v| (v - mean).powi(2)).sum::<f64>() / frames as f64;
        out[band] = mean as f32;
        out[mels + band] = variance.sqrt() as f32;
    }
    Ok(out)
}

/// Per-band mean absolute change between consecutive frames, then per-band peak (max over time
/// minus the band's mean): `[2 * mels]`. Both keep what a mean and a deviation average away: how
/// fast a band moves, and how far its loudest moment stands out (a click, an impact).
pub fn temporal_change(logmel: &[f32], frames: usize, mels: usize) -> Result<Vec<f32>> {
    check_logmel(logmel, frames, mels, 2)?;
    let mut out = vec![0.0f32; 2 * mels];
    for band in 0..mels {
        let at = |t: usize| f64::from(logmel[t * mels + band]);
        let change = (1..frames).map(|t| (at(t) - at(t - 1)).abs()).sum::<f64>();
        let mean = (0..frames).map(at).sum::<f64>() / frames as f64;
        let peak = (0..frames).map(at).fold(f64::NEG_INFINITY, f64::max);
        out[band] = (change / (frames - 1) as f64) as f32;
        out[mels + band] = (peak - mean) as f32;
    }
    Ok(out)
}

/// `10 log10` of the mean power `|X|^2` of a whole-clip magnitude spectrum in `bands` equal-width
/// bands of bins (band `b` holds bins `[b * n / bands, (b + 1) * n / bands)`), `[bands]`.
pub fn spectrum_bands(magnitude: &[f32], bands: usize) -> Result<Vec<f32>> {
    let n = magnitude.len();
    if bands == 0 || n < bands {
        return Err(HarkError::invalid(
            "stats-knn",
            format!("a spectrum of {n} bins cannot fill {bands} bands (need 1 <= bands <= bins)"),
        ));
    }
    Ok((0..bands)
        .map(|b| {
            let bins = &magnitude[b * n / bands..(b + 1) * n / bands];
            let power = bins.iter().map(|&m| f64::from(m).powi(2)).sum::<f64>() / bins.len() as f64;
            (10.0 * (power + 1e-12).log10()) as f32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_and_change_follow_their_definitions() {
        // Two bands over three frames: band 0 = 1, 3, 2; band 1 = 5, 5, 5.
        let logmel = [1.0, 5.0, 3.0, 5.0, 2.0, 5.0];
        let m = logmel_moments(&logmel, 3, 2).unwrap();
        let std0 = ((1.0f64 + 1.0 + 0.0) / 3.0).sqrt() as f32;
        assert_eq!(m, vec![2.0, 5.0, std0, 0.0]);
        let c = temporal_change(&logmel, 3, 2).unwrap();
        assert_eq!(c, vec![1.5, 0.0, 1.0, 0.0]);
        assert!(temporal_change(&logmel[..2], 1, 2).is_err());
        assert!(logmel_moments(&logmel[..5], 3, 2).is_err());
    }

    #[test]
    fn spectrum_bands_average_power_in_decibels() {
        let b = spectrum_bands(&[1.0, 3.0, 10.0, 10.0, 10.0], 2).unwrap();
        // Bands: bins [0, 2) and [2, 5).
        assert!((b[0] - 10.0 * 5.0f32.log10()).abs() < 1e-5, "{b:?}");
        assert!((b[1] - 20.0).abs() < 1e-5, "{b:?}");
        assert!(spectrum_bands(&[1.0], 2).is_err());
        assert!(View::parse("loudness").is_err());
        assert_eq!(View::parse("change").unwrap(), View::Change);
    }
}
