//! Clip scores from segment scores (paper 004 §3.2, §4.2): a clip is cut into fixed-length
//! segments with 75 % overlap, each segment is scored, and the clip's score is the mean or the
//! power-weighted mean of its segments' scores. The weights are the mean power of the clip's
//! high-passed signal inside each segment (004: passband edge 4000 Hz, stopband edge 3500 Hz),
//! so that silent stretches (event absence) count little. `max` and the mean of the `k` highest
//! segment scores keep a fault that sounds in one segment of forty from being averaged away.

use crate::error::{HarkError, Result};

/// How segment scores combine into a clip score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregation {
    #[default]
    Mean,
    /// Weighted by the high-passed signal power of each segment.
    PowerWeighted,
    /// The highest segment score.
    Max,
    /// The mean of the `k` highest segment scores (all of them when a clip has fewer).
    TopK(usize),
}

/// The checkpoint metadata key that records a model's segment aggregation (absent: mean).
pub const SEGMENT_AGGREGATION_KEY: &str = "segment_aggregation";

impl Aggregation {
    /// The name on the command line and in checkpoints: `mean`, `power`, `max`, `topk:K`.
    pub fn name(self) -> String {
        match self {
            Aggregation::Mean => "mean".to_string(),
            Aggregation::PowerWeighted => "power".to_string(),
            Aggregation::Max => "max".to_string(),
            Aggregation::TopK(k) => format!("topk:{k}"),
        }
    }

    /// Parses [`Aggregation::name`]'s forms (k at least 1).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            HarkError::invalid(
                "segment aggregation",
                format!("'{text}': expected mean, power, max or topk:K with K >= 1"),
            )
        };
        match text {
            "mean" => Ok(Aggregation::Mean),
            "power" => Ok(Aggregation::PowerWeighted),
            "max" => Ok(Aggregation::Max),
            _ => {
                let k: usize = text
                    .strip_prefix("topk:")
                    .and_then(|k| k.parse().ok())
                    .ok_or_else(bad)?;
                if k == 0 {
                    return Err(bad());
                }
                Ok(Aggregation::TopK(k))
            }
        }
    }

    /// The aggregation recorded in a checkpoint's metadata; checkpoints from before the key
    /// averaged their segments.
    pub fn from_metadata(metadata: &std::collections::HashMap<String, String>) -> Result<Self> {
        metadata
            .get(SEGMENT_AGGREGATION_KEY)
            .map_or(Ok(Aggregation::Mean), |s| Aggregation::parse(s))
    }
}

/// The overlap of consecutive segments in 004.
pub const SEGMENT_OVERLAP: f64 = 0.75;

/// First frames of the segments of `segment` frames covering `frames` frames with `overlap`
/// (hop = `segment * (1 - overlap)`, at least 1). The last segment is moved back to end at the
/// last frame so that no frame is left out. Error: a clip shorter than one segment.
pub fn segment_starts(frames: usize, segment: usize, overlap: f64) -> Result<Vec<usize>> {
    if segment == 0 || !(0.0..1.0).contains(&overlap) {
        return Err(HarkError::invalid(
            "segments",
            format!("segment {segment} frames, overlap {overlap}: need >= 1 and [0, 1)"),
        ));
    }
    if frames < segment {
        return Err(HarkError::invalid(
            "segments",
            format!("a clip of {frames} frames is shorter than one segment of {segment}"),
        ));
    }
    let hop = ((segment as f64 * (1.0 - overlap)).round() as usize).max(1);
    let mut starts: Vec<usize> = (0..=frames - segment).step_by(hop).collect();
    if starts.last() != Some(&(frames - segment)) {
        starts.push(frames - segment);
    }
    Ok(starts)
}

/// A linear-phase FIR high-pass: a Hamming-windowed ideal high-pass with its cut-off halfway
/// between the stopband and passband edges, long enough for that transition width
/// (`3.3 / (transition / rate)` taps, Hamming's rule), odd length.
pub fn highpass_fir(sample_rate: f64, stop_hz: f64, pass_hz: f64) -> Result<Vec<f64>> {
    if !(0.0 < stop_hz && stop_hz < pass_hz && pass_hz < sample_rate / 2.0) {
        return Err(HarkError::invalid(
            "highpass",
            format!(
                "need 0 < stop {stop_hz} < pass {pass_hz} < Nyquist {}",
                sample_rate / 2.0
            ),
        ));
    }
    let transition = (pass_hz - stop_hz) / sample_rate;
    let taps = ((3.3 / transition).ceil() as usize) | 1;
    let cutoff = 0.5 * (stop_hz + pass_hz) / sample_rate;
    let centre = (taps / 2) as f64;
    let sinc = |x: f64| {
        if x == 0.0 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        }
    };
    Ok((0..taps)
        .map(|n| {
            let t = n as f64 - centre;
            let lowpass = 2.0 * cutoff * sinc(2.0 * cutoff * t);
            let delta = if t == 0.0 { 1.0 } else { 0.0 };
            let window =
                0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (taps - 1) as f64).cos();
            (delta - lowpass) * window
        })
        .collect())
}

/// `samples` filtered by `fir` ("same" length, zero padding, centred).
pub fn filter_same(samples: &[f32], fir: &[f64]) -> Vec<f64> {
    let half = fir.len() / 2;
    (0..samples.len())
        .map(|i| {
            fir.iter()
                .enumerate()
                .filter_map(|(j, h)| {
                    let k = (i + half).checked_sub(j)?;
                    samples.get(k).map(|&s| h * f64::from(s))
                })
                .sum()
        })
        .collect()
}

/// Mean power of `filtered` over each segment's samples `[start * hop, (start + frames) * hop)`
/// (clamped to the signal), for segments given by their first frame.
pub fn segment_powers(filtered: &[f64], starts: &[usize], frames: usize, hop: usize) -> Vec<f64> {
    starts
        .iter()
        .map(|&s| {
            let a = (s * hop).min(filtered.len());
            let b = ((s + frames) * hop).min(filtered.len());
            let span = &filtered[a..b];
            span.iter().map(|v| v * v).sum::<f64>() / span.len().max(1) as f64
        })
        .collect()
}

/// The clip score from its segment scores; `weights` (one per segment) are used by
/// [`Aggregation::PowerWeighted`] and fall back to the plain mean when they sum to zero.
pub fn aggregate(how: Aggregation, scores: &[f64], weights: &[f64]) -> Result<f64> {
    if scores.is_empty() {
        return Err(HarkError::invalid("aggregate", "no segment scores"));
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    match how {
        Aggregation::Mean => Ok(mean),
        Aggregation::Max => Ok(scores.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        Aggregation::TopK(k) => {
            let mut sorted = scores.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let top = &sorted[..k.clamp(1, sorted.len())];
            Ok(top.iter().sum::<f64>() / top.len() as f64)
        }
        Aggregation::PowerWeighted => {
            if weights.len() != scores.len() {
                return Err(HarkError::shape(
                    "aggregate",
                    format!("{} weights for {} scores", weights.len(), scores.len()),
                ));
            }
            let total: f64 = weights.iter().sum();
            if !(total > 0.0 && total.is_finite()) {
                return Ok(mean);
            }
            Ok(scores.iter().zip(weights).map(|(s, w)| s * w).sum::<f64>() / total)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_overlap_by_three_quarters_and_cover_the_clip() {
        assert_eq!(
            segment_starts(64, 32, 0.75).unwrap(),
            vec![0, 8, 16, 24, 32]
        );
        // 70 frames: the last segment is moved back to end at frame 70.
        assert_eq!(
            segment_starts(70, 32, 0.75).unwrap(),
            vec![0, 8, 16, 24, 32, 38]
        );
        assert_eq!(segment_starts(32, 32, 0.75).unwrap(), vec![0]);
        assert!(segment_starts(31, 32, 0.75).is_err());
        assert!(segment_starts(40, 0, 0.75).is_err());
    }

    fn tone(freq: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / 16_000.0).sin() as f32)
            .collect()
    }

    #[test]
    fn the_highpass_keeps_high_tones_and_removes_low_ones() {
        let fir = highpass_fir(16_000.0, 3500.0, 4000.0).unwrap();
        assert_eq!(fir.len() % 2, 1);
        let power = |x: &[f64]| {
            let mid = &x[500..x.len() - 500];
            mid.iter().map(|v| v * v).sum::<f64>() / mid.len() as f64
        };
        let high = power(&filter_same(&tone(5000.0, 4000), &fir));
        let low = power(&filter_same(&tone(1000.0, 4000), &fir));
        // A unit sine has power 0.5.
        assert!((high - 0.5).abs() < 0.02, "passband power {high}");
        assert!(low < 1e-4, "stopband power {low}");
        assert!(highpass_fir(16_000.0, 4000.0, 3500.0).is_err());
    }

    #[test]
    fn weighted_mean_follows_the_loud_segments() {
        // First half silent, second half a high tone: the silent segments (first frames 0 to 4)
        // score high, and the weights leave them out.
        let mut signal = vec![0.0f32; 4096];
        signal.extend(tone(6000.0, 4096));
        let fir = highpass_fir(16_000.0, 3500.0, 4000.0).unwrap();
        let filtered = filter_same(&signal, &fir);
        let hop = 512;
        let starts = segment_starts(16, 4, 0.75).unwrap();
        let weights = segment_powers(&filtered, &starts, 4, hop);
        let scores: Vec<f64> = starts
            .iter()
            .map(|&s| if s <= 4 { 10.0 } else { 1.0 })
            .collect();
        let weighted = aggregate(Aggregation::PowerWeighted, &scores, &weights).unwrap();
        let mean = aggregate(Aggregation::Mean, &scores, &weights).unwrap();
        assert!(
            weighted < 2.0 && mean > 4.0,
            "weighted {weighted}, mean {mean}"
        );
        // All-zero weights fall back to the mean.
        let zeros = vec![0.0; scores.len()];
        assert_eq!(
            aggregate(Aggregation::PowerWeighted, &scores, &zeros).unwrap(),
            mean
        );
        assert!(aggregate(Aggregation::Mean, &[], &[]).is_err());
    }

    #[test]
    fn max_and_top_k_keep_one_loud_segment() {
        let scores = [1.0, 9.0, 2.0, 4.0];
        assert_eq!(aggregate(Aggregation::Max, &scores, &[]).unwrap(), 9.0);
        assert_eq!(aggregate(Aggregation::TopK(2), &scores, &[]).unwrap(), 6.5);
        // More than the clip has: all of them.
        assert_eq!(aggregate(Aggregation::TopK(9), &scores, &[]).unwrap(), 4.0);
        for text in ["mean", "power", "max", "topk:3"] {
            assert_eq!(Aggregation::parse(text).unwrap().name(), text);
        }
        for bad in ["topk:0", "topk:", "median", "topk:x"] {
            assert!(Aggregation::parse(bad).is_err(), "{bad}");
        }
        let old = std::collections::HashMap::new();
        assert_eq!(Aggregation::from_metadata(&old).unwrap(), Aggregation::Mean);
    }
}
