//! GPU vs CPU for the feature kernels (log compression, temporal mean normalisation, frame
//! stacking, waveform standardisation), and the mel filterbank and DCASE log-mel against
//! fixtures made by librosa 0.11 (`tests/fixtures/frontend/make_librosa_fixtures.py`).

use std::path::{Path, PathBuf};

use hark::cpu;
use hark::features::mel::{mel_filterbank, MelNorm, MelOptions, MelScale};
use hark::io::npy::{read_npy, NpyArray};
use hark::kernels::features::{self, mel::MelFilterbank, LogKind};
use hark::testing::{assert_close, compare, test_context, SeededRng, PURPOSEFUL_LENGTHS};
use hark::{Context, DType, Recorder, Tensor};

fn fixture(name: &str) -> NpyArray {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/frontend")
        .join(name);
    read_npy(&path).unwrap()
}

fn run1(
    ctx: &Context,
    input: &Tensor,
    out_shape: &[usize],
    f: impl FnOnce(&mut Recorder, &Tensor),
) -> Vec<f32> {
    let out = Tensor::zeros(ctx, out_shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    let _ = input;
    f(&mut rec, &out);
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

#[test]
fn log_compress_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(21);
    for &n in PURPOSEFUL_LENGTHS {
        // Powers over 26 decades, plus zeros and negatives that the floor must catch.
        let x: Vec<f32> = (0..n)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -1.0,
                _ => 10f32.powf(rng.uniform(-20.0, 6.0)),
            })
            .collect();
        let t = Tensor::from_slice(&ctx, &[n], &x).unwrap();
        for kind in [LogKind::DCASE, LogKind::Natural { eps: 1e-10 }] {
            let got = run1(&ctx, &t, &[n], |rec, out| {
                features::log_compress(rec, kind, &t, out).unwrap()
            });
            // WGSL's log2 is within 3 ulp (2^-21 absolute near 1): well under 1e-4 dB or nepers.
            assert_close(&got, &cpu::features::log_compress(kind, &x), 1e-6, 1e-4);
        }
    }
}

#[test]
fn mean_normalize_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(22);
    for (b, t, f) in [(1, 1, 1), (2, 7, 97), (3, 311, 513), (1, 313, 257)] {
        let x: Vec<f32> = rng
            .vec(b * t * f, -1.0, 1.0)
            .iter()
            .map(|v| v + 5.0)
            .collect();
        let input = Tensor::from_slice(&ctx, &[b, t, f], &x).unwrap();
        let got = run1(&ctx, &input, &[b, t, f], |rec, out| {
            features::mean_normalize(rec, &input, out).unwrap()
        });
        // Same summation order as the CPU twin; the abs floor covers a fused multiply-add.
        assert_close(
            &got,
            &cpu::features::mean_normalize(&x, b, t, f),
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn frame_stack_matches_cpu_and_rejects_short_clips() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(23);
    for (b, t, f, k) in [(1, 5, 3, 5), (2, 313, 128, 5), (3, 10, 7, 1), (1, 9, 1, 4)] {
        let x = rng.vec(b * t * f, -1.0, 1.0);
        let input = Tensor::from_slice(&ctx, &[b, t, f], &x).unwrap();
        let vectors = features::stacked_vectors(t, k);
        let got = run1(&ctx, &input, &[b, vectors, k * f], |rec, out| {
            features::frame_stack(rec, &input, k, out).unwrap()
        });
        // A copy: exact.
        assert_close(&got, &cpu::features::frame_stack(&x, b, t, f, k), 0.0, 0.0);
    }
    let short = Tensor::zeros(&ctx, &[1, 3, 4], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[1, 1, 20], DType::F32).unwrap();
    let err = features::frame_stack(&mut Recorder::new(&ctx), &short, 5, &out).unwrap_err();
    assert!(err.to_string().contains("context 5"), "{err}");
}

#[test]
fn standardize_matches_cpu_including_offsets_and_silence() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(24);
    for (rows, len) in [(1, 1), (3, 257), (2, 16000), (1, 160_000)] {
        // A DC offset of 100 with small noise: a one-pass E[x^2] - E[x]^2 would lose the variance.
        let x: Vec<f32> = rng
            .vec(rows * len, -0.01, 0.01)
            .iter()
            .map(|v| v + 100.0)
            .collect();
        let input = Tensor::from_slice(&ctx, &[rows, len], &x).unwrap();
        let got = run1(&ctx, &input, &[rows, len], |rec, out| {
            features::standardize(rec, &input, out).unwrap()
        });
        let expected = cpu::features::standardize(&x, len, 1e-12);
        if len == 1 {
            // One sample: zero deviation, so zero output rather than NaN.
            assert_close(&got, &[0.0], 0.0, 0.0);
            continue;
        }
        // The f32 mean of values near 100 carries ~1e-5 absolute error, i.e. about 1e-3 of a
        // standard deviation of 0.006 - the CPU twin sums in f64.
        assert_close(&got, &expected, 1e-3, 5e-3);
    }
}

#[test]
fn mel_filters_match_librosa() {
    for (file, scale, norm) in [
        ("mel_filters_slaney.npy", MelScale::Slaney, MelNorm::Slaney),
        ("mel_filters_htk.npy", MelScale::Htk, MelNorm::None),
    ] {
        let expected = fixture(file);
        assert_eq!(expected.shape, vec![128, 513]);
        let options = MelOptions {
            scale,
            norm,
            ..MelOptions::dcase()
        };
        let ours = mel_filterbank(&options).unwrap();
        // Both computed in f64 and rounded to f32: equal up to the last bit or two.
        let peak = expected.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_close(&ours, &expected.data, 1e-6, peak * 1e-7);
    }
}

#[test]
fn gpu_mel_and_dcase_log_match_librosa() {
    let Some(ctx) = test_context() else { return };
    let bank = MelFilterbank::new(&ctx, &MelOptions::dcase()).unwrap();
    for name in ["noise", "chirp"] {
        let power = fixture(&format!("{name}_stft_power.npy"));
        let mel_ref = fixture(&format!("{name}_mel_power.npy"));
        let logmel_ref = fixture(&format!("{name}_logmel_db.npy"));
        let frames = power.shape[0];
        let input = Tensor::from_slice(&ctx, &[frames, 513], &power.data).unwrap();
        let mel = Tensor::zeros(&ctx, &[frames, 128], DType::F32).unwrap();
        let logmel = Tensor::zeros(&ctx, &[frames, 128], DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        bank.apply(&mut rec, &input, &mel, None).unwrap();
        bank.apply(&mut rec, &input, &logmel, Some(LogKind::DCASE))
            .unwrap();
        rec.submit().unwrap();
        let mel = mel.to_vec(&ctx).unwrap();
        let logmel = logmel.to_vec(&ctx).unwrap();
        // Power: < 1e-4 relative to each band's value, where the band is above -100 dB
        // (10 log10(power) > -100, the criterion); f32 sums of 513 products against
        // librosa's f64. Weaker bands are sums of leakage that cancel to tiny values.
        let strong: Vec<usize> = (0..mel.len())
            .filter(|&i| logmel_ref.data[i] > -100.0)
            .collect();
        let pick = |v: &[f32]| strong.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        if let Err(report) = compare(&pick(&mel), &pick(&mel_ref.data), 1e-4, 0.0) {
            panic!("{name} mel power: {report}");
        }
        // Log-mel: < 1e-3 dB on the same bands.
        if let Err(report) = compare(&pick(&logmel), &pick(&logmel_ref.data), 0.0, 1e-3) {
            panic!("{name} log-mel: {report}");
        }
        eprintln!(
            "{name}: {} of {} bands above -100 dB",
            strong.len(),
            mel.len()
        );
        // The chirp sweeps one band at a time: about a third of its bands are above -100 dB.
        assert!(strong.len() >= 2000, "{name}: too few bands compared");
    }
}

/// The banded mel kernel against its CPU twin (same order of fused multiply-adds) and against the
/// dense product on the CPU, on purposeful shapes: one mel, a prime number of mels, mels that
/// outnumber the bins (empty filters), odd and even n_fft, fmin/fmax inside the band, HTK and
/// Slaney scales, one row and a prime number of rows, each log epilogue.
#[test]
fn banded_mel_matches_its_cpu_twin_and_the_dense_product() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    let cases = [
        (
            16_000u32,
            1024usize,
            128usize,
            0.0f64,
            None,
            MelScale::Slaney,
            MelNorm::Slaney,
        ),
        (
            16_000,
            1024,
            1,
            0.0,
            None,
            MelScale::Slaney,
            MelNorm::Slaney,
        ),
        (
            16_000,
            400,
            13,
            50.0,
            Some(7000.0),
            MelScale::Htk,
            MelNorm::None,
        ),
        (
            22_050,
            2048,
            229,
            30.0,
            Some(11_000.0),
            MelScale::Slaney,
            MelNorm::Slaney,
        ),
        (8_000, 31, 40, 0.0, None, MelScale::Htk, MelNorm::Slaney),
    ];
    for (sample_rate, n_fft, n_mels, fmin, fmax, scale, norm) in cases {
        let options = MelOptions {
            sample_rate,
            n_fft,
            n_mels,
            fmin,
            fmax,
            scale,
            norm,
        };
        let bins = options.n_bins();
        let dense = mel_filterbank(&options).unwrap();
        let runs = cpu::features::MelRuns::from_dense(&dense, bins);
        let bank = MelFilterbank::new(&ctx, &options).unwrap();
        for rows in [1usize, 7, 313] {
            let power = rng.vec(rows * bins, 0.0, 4.0);
            let input = Tensor::from_slice(&ctx, &[rows, bins], &power).unwrap();
            for log in [
                None,
                Some(LogKind::DCASE),
                Some(LogKind::Natural { eps: 1e-10 }),
            ] {
                let out = Tensor::zeros(&ctx, &[rows, n_mels], DType::F32).unwrap();
                let mut rec = Recorder::new(&ctx);
                bank.apply(&mut rec, &input, &out, log).unwrap();
                rec.submit().unwrap();
                let got = out.to_vec(&ctx).unwrap();
                let twin = runs.apply(&power, log);
                let what = format!("n_fft {n_fft}, {n_mels} mels, {rows} rows, {log:?}");
                // Same order of multiply-adds; WGSL may or may not fuse them, and its log2 is
                // not the CPU's log10.
                let (rtol, atol) = if log.is_none() {
                    (1e-5, 1e-7)
                } else {
                    (1e-5, 1e-4)
                };
                if let Err(report) = compare(&got, &twin, rtol, atol) {
                    panic!("{what} vs CPU twin: {report}");
                }
                if log.is_none() {
                    // The dense product, summed in f64 over every bin, zeros included.
                    let exact: Vec<f32> = power
                        .chunks(bins)
                        .flat_map(|row| {
                            dense.chunks(bins).map(move |f| {
                                row.iter()
                                    .zip(f)
                                    .map(|(&p, &w)| f64::from(p) * f64::from(w))
                                    .sum::<f64>() as f32
                            })
                        })
                        .collect();
                    if let Err(report) = compare(&got, &exact, 1e-5, 1e-6) {
                        panic!("{what} vs dense: {report}");
                    }
                }
            }
        }
    }
}

/// A bin that is infinite outside a filter's run does not reach that filter (the dense product
/// would turn every filter into NaN through 0 * inf); the filters that cover it see it.
#[test]
fn banded_mel_keeps_bins_outside_a_filter_out_of_it() {
    let Some(ctx) = test_context() else { return };
    let options = MelOptions::dcase();
    let bins = options.n_bins();
    let bank = MelFilterbank::new(&ctx, &options).unwrap();
    let mut power = vec![1.0f32; bins];
    power[bins - 1] = f32::INFINITY;
    let input = Tensor::from_slice(&ctx, &[1, bins], &power).unwrap();
    let out = Tensor::zeros(&ctx, &[1, 128], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    bank.apply(&mut rec, &input, &out, None).unwrap();
    rec.submit().unwrap();
    let got = out.to_vec(&ctx).unwrap();
    assert!(
        got[..100].iter().all(|v| v.is_finite()),
        "low mels stay finite"
    );
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). `mean_normalize`
/// walks a bin's frames twice in one thread: 32,800 frames are 65,600 iterations, past that
/// limit (the old launcher accepted them); the launcher refuses more than 8,192 frames.
#[test]
fn mean_normalize_refuses_clips_past_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let x = Tensor::zeros(&ctx, &[1, 32_800, 2], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[1, 32_800, 2], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = features::mean_normalize(&mut rec, &x, &out).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
    // The limit itself still runs.
    let x = Tensor::zeros(&ctx, &[1, 8_192, 2], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[1, 8_192, 2], DType::F32).unwrap();
    features::mean_normalize(&mut rec, &x, &out).unwrap();
}
