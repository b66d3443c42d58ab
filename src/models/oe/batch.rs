//! One OE training batch on the host: half normal segments, half pseudo-anomalies from other
//! machine types, with mixup, drawn from the training loop's generator.

use super::train::OeTrainData;
use crate::rng::SeededRng;

/// One batch's host-side inputs and targets.
pub(super) struct Batch {
    pub(super) x: Vec<f32>,
    pub(super) machine: Vec<f32>,
    pub(super) classes: Vec<f32>,
    pub(super) clean: Vec<bool>,
}

/// The batch of `normal_rows` (segments of `seg` values, targets over `classes`) followed by as
/// many pseudo-anomalies drawn at random, each row mixed with its mirror row (`b - 1 - r`) with
/// probability `mixup_prob`; `clean` marks the unmixed normal rows.
pub(super) fn make_batch(
    data: &OeTrainData,
    normal_rows: &[usize],
    rng: &mut SeededRng,
    seg: usize,
    classes: usize,
    mixup_prob: f32,
) -> Batch {
    let half = normal_rows.len();
    let b = 2 * half;
    let pseudo_rows = data.pseudo.len() / seg;
    let mut x = vec![0.0f32; b * seg];
    let mut machine = vec![0.0f32; b];
    let mut targets = vec![0.0f32; b * classes];
    for (r, &i) in normal_rows.iter().enumerate() {
        x[r * seg..(r + 1) * seg].copy_from_slice(&data.normal[i * seg..(i + 1) * seg]);
        machine[r] = 1.0;
        targets[r * classes + data.classes[i]] = 1.0;
    }
    for r in half..b {
        let j = (rng.next_u64() % pseudo_rows as u64) as usize;
        x[r * seg..(r + 1) * seg].copy_from_slice(&data.pseudo[j * seg..(j + 1) * seg]);
    }
    let (raw_x, raw_m, raw_t) = (x.clone(), machine.clone(), targets.clone());
    let mut clean = vec![false; b];
    for r in 0..b {
        let lambda = if rng.uniform(0.0, 1.0) < mixup_prob {
            rng.uniform(0.0, 1.0)
        } else {
            1.0
        };
        clean[r] = r < half && lambda == 1.0;
        if lambda == 1.0 {
            continue;
        }
        let p = b - 1 - r;
        let mix = |a: f32, b: f32| lambda * a + (1.0 - lambda) * b;
        for k in 0..seg {
            x[r * seg + k] = mix(raw_x[r * seg + k], raw_x[p * seg + k]);
        }
        machine[r] = mix(raw_m[r], raw_m[p]);
        for k in 0..classes {
            targets[r * classes + k] = mix(raw_t[r * classes + k], raw_t[p * classes + k]);
        }
    }
    Batch {
        x,
        machine,
        classes: targets,
        clean,
    }
}
