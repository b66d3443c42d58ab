//! The MobileNetV2 baseline's data side: a clip's log-mel spectrogram `[frames, mels]` cut into
//! `frames_per_patch`-frame patches every `hop` frames, and the clip score from the classifier's
//! logits, `mean over patches of log(1 - p) - log(p)` for the clip's section.

use crate::error::{HarkError, Result};

/// Where the patches of one clip start (frame offsets): `0, hop, 2 hop, ...` while a whole
/// patch fits, as the reference's `vectors[::n_hop_frames]`. Errors when the clip is shorter
/// than one patch.
pub fn patch_starts(frames: usize, frames_per_patch: usize, hop: usize) -> Result<Vec<usize>> {
    if frames_per_patch == 0 || hop == 0 {
        return Err(HarkError::invalid(
            "mobilenet",
            format!("patch length {frames_per_patch} and hop {hop} must be at least 1"),
        ));
    }
    if frames < frames_per_patch {
        return Err(HarkError::invalid(
            "mobilenet",
            format!(
                "a clip of {frames} log-mel frames is shorter than one {frames_per_patch}-frame \
                 patch"
            ),
        ));
    }
    Ok((0..=frames - frames_per_patch).step_by(hop).collect())
}

/// `log(1 - p) - log(p)` for `p = softmax(logits)[class]`, computed from the logits without
/// forming `p`: `logsumexp_{j != class}(z_j) - z_class`. Exact where `p` rounds to 0 or 1 in
/// f32 (the reference clamps `p` to machine epsilon instead, which caps the score at about
/// +-36).
pub fn log_odds_against(logits: &[f32], class: usize) -> f64 {
    let target = f64::from(logits[class]);
    let others = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != class)
        .map(|(_, &z)| f64::from(z));
    let max = others.clone().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = others.map(|z| (z - max).exp()).sum();
    max + sum.ln() - target
}

/// Mean of [`log_odds_against`] over a clip's patches: `logits` is `[patches, classes]`
/// row-major.
pub fn clip_score(logits: &[f32], classes: usize, class: usize) -> Result<f64> {
    if classes < 2 || class >= classes || logits.is_empty() || !logits.len().is_multiple_of(classes)
    {
        return Err(HarkError::shape(
            "mobilenet",
            format!(
                "{} logits for {classes} classes (class {class}) do not form patch rows",
                logits.len()
            ),
        ));
    }
    let rows = logits.len() / classes;
    let total: f64 = logits
        .chunks(classes)
        .map(|row| log_odds_against(row, class))
        .sum();
    Ok(total / rows as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_starts_follow_the_hop_and_refuse_short_clips() {
        assert_eq!(patch_starts(64, 64, 8).unwrap(), vec![0]);
        assert_eq!(patch_starts(80, 64, 8).unwrap(), vec![0, 8, 16]);
        assert_eq!(patch_starts(79, 64, 8).unwrap(), vec![0, 8]);
        assert_eq!(patch_starts(313, 64, 8).unwrap().len(), 32);
        assert!(patch_starts(63, 64, 8).is_err());
        assert!(patch_starts(100, 64, 0).is_err());
    }
}
