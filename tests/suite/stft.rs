//! GPU vs CPU for the STFT: n_fft 16..4096 (fused workgroup kernel), even non-power-of-two and
//! odd n_fft (global path), zero / reflect / no centring, complex / magnitude / power output,
//! batches of clips, clips shorter than one frame, one sample, and the Wilkinghoff configuration
//! (160000 samples, n_fft 1024, hop 512, no centring: 311 frames).

use hark::cpu::stft as cpu_stft;
use hark::kernels::fft::{rfft_bins, FftPath, SpectrumKind};
use hark::kernels::stft::{stft, stft_frames, Centering, StftOptions, StftPlan};
use hark::testing::{compare, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn gpu_stft(ctx: &Context, data: &[f32], batch: usize, options: &StftOptions) -> Vec<f32> {
    let len = data.len() / batch;
    let input = Tensor::from_slice(ctx, &[batch, len], data).unwrap();
    let frames = stft_frames(len, options.n_fft, options.hop, options.center);
    let mut shape = vec![batch, frames, rfft_bins(options.n_fft)];
    if options.output == SpectrumKind::Complex {
        shape.push(2);
    }
    let out = Tensor::zeros(ctx, &shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    stft(&mut rec, &input, &out, options).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// Error bound of one bin: log2(n) * eps * ||frame||_2 with ||frame||_2 <= sqrt(n_fft) for
/// samples in [-1, 1] (the FFT error growth, see tests/fft.rs), factor 4 for the twiddles, the
/// window and the post-processing; 8 and log2 of Bluestein's length for Bluestein sizes. Power
/// is compared within 2 |X|max * bound + bound^2, so all kinds are relative to the spectrum's
/// largest bin, not to each bin (a near-zero bin carries the same absolute error).
fn check(ctx: &Context, rng: &mut SeededRng, batch: usize, len: usize, options: StftOptions) {
    let data = rng.vec(batch * len, -1.0, 1.0);
    let n = options.n_fft;
    let plan = StftPlan::new(ctx, &options).unwrap();
    let bluestein = plan.rfft_plan().is_bluestein();
    let stages = if bluestein {
        ((2 * n - 1).next_power_of_two() as f32).log2()
    } else {
        (n as f32).log2().max(1.0)
    };
    let factor = if bluestein { 8.0 } else { 4.0 };
    let err = factor * (stages + 1.0) * f32::EPSILON * (n as f32).sqrt();
    let actual = gpu_stft(ctx, &data, batch, &options);
    let expected = cpu_stft::stft(&data, batch, &options);
    let abs = match options.output {
        SpectrumKind::Power => {
            let max_mag = expected.iter().fold(0.0f32, |m, &p| m.max(p.sqrt()));
            2.0 * max_mag * err + err * err
        }
        _ => err,
    };
    if let Err(report) = compare(&actual, &expected, 0.0, abs) {
        panic!("batch {batch}, len {len}, {options:?}: {report}");
    }
}

fn options(n_fft: usize, hop: usize, center: Centering, output: SpectrumKind) -> StftOptions {
    StftOptions {
        n_fft,
        hop,
        center,
        output,
        path: FftPath::Workgroup,
    }
}

#[test]
fn frame_counts_follow_librosa_and_tensorflow() {
    assert_eq!(stft_frames(160_000, 1024, 512, Centering::None), 311);
    assert_eq!(stft_frames(160_000, 1024, 512, Centering::Zero), 313);
    assert_eq!(stft_frames(160_000, 2048, 256, Centering::Reflect), 626);
    // Shorter than a frame: 1 + len / hop when centred, none without centring.
    assert_eq!(stft_frames(100, 1024, 512, Centering::Zero), 1);
    assert_eq!(stft_frames(600, 1024, 512, Centering::Zero), 2);
    assert_eq!(stft_frames(1, 1024, 512, Centering::Reflect), 1);
    assert_eq!(stft_frames(1023, 1024, 512, Centering::None), 0);
    assert_eq!(stft_frames(1024, 1024, 512, Centering::None), 1);
    // Odd n_fft, centred: 1 + (len - 1) / hop, as librosa's padded-length formula gives.
    assert_eq!(stft_frames(10, 5, 2, Centering::Zero), 5);
}

#[test]
fn power_of_two_n_fft_from_16_to_4096() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(21);
    for log in 4..=12 {
        let n = 1usize << log;
        // Two clips of 3.3 frames, hop n/4: frames overlap, and the last one runs into padding.
        let opts = options(n, n / 4, Centering::Zero, SpectrumKind::Power);
        assert!(StftPlan::new(&ctx, &opts)
            .unwrap()
            .rfft_plan()
            .is_workgroup());
        check(&ctx, &mut rng, 2, n * 3 + n / 3, opts);
    }
}

#[test]
fn centring_modes_and_output_kinds() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(22);
    for center in [Centering::Zero, Centering::Reflect, Centering::None] {
        for output in [
            SpectrumKind::Complex,
            SpectrumKind::Magnitude,
            SpectrumKind::Power,
        ] {
            for path in [FftPath::Workgroup, FftPath::Global] {
                let opts = StftOptions {
                    path,
                    ..options(256, 100, center, output)
                };
                check(&ctx, &mut rng, 3, 1000, opts);
            }
        }
    }
}

#[test]
fn non_power_of_two_n_fft() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(23);
    // 400 (25 ms at 16 kHz; mixed radix on the packed half), 15 and 97 (odd: full complex
    // transform; 97 via Bluestein), 1000.
    for (n, hop) in [(400usize, 160usize), (15, 4), (97, 31), (1000, 250)] {
        for center in [Centering::Zero, Centering::Reflect, Centering::None] {
            check(
                &ctx,
                &mut rng,
                2,
                3 * n + 7,
                options(n, hop, center, SpectrumKind::Complex),
            );
        }
    }
}

#[test]
fn clips_shorter_than_one_frame_and_one_sample() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(24);
    for len in [1usize, 2, 100, 511, 513] {
        for center in [Centering::Zero, Centering::Reflect] {
            for path in [FftPath::Workgroup, FftPath::Global] {
                let opts = StftOptions {
                    path,
                    ..options(1024, 512, center, SpectrumKind::Magnitude)
                };
                check(&ctx, &mut rng, 2, len, opts);
            }
        }
    }
    // No centring and a clip shorter than n_fft: zero frames, an empty output, nothing recorded.
    let opts = options(1024, 512, Centering::None, SpectrumKind::Power);
    let input = Tensor::from_slice(&ctx, &[2, 100], &rng.vec(200, -1.0, 1.0)).unwrap();
    let out = Tensor::zeros(&ctx, &[2, 0, 513], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    stft(&mut rec, &input, &out, &opts).unwrap();
    assert_eq!(rec.dispatch_count(), 0);
    rec.submit().unwrap();
}

#[test]
fn wilkinghoff_configuration_160000_samples() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(25);
    let opts = options(1024, 512, Centering::None, SpectrumKind::Magnitude);
    assert_eq!(stft_frames(160_000, 1024, 512, Centering::None), 311);
    check(&ctx, &mut rng, 2, 160_000, opts);
}

#[test]
fn one_dispatch_per_batch_and_typed_errors() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(26);
    let opts = StftOptions {
        path: FftPath::Workgroup,
        ..StftOptions::default()
    };
    let input = Tensor::from_slice(&ctx, &[4, 16000], &rng.vec(64000, -1.0, 1.0)).unwrap();
    let out = Tensor::zeros(&ctx, &[4, 32, 513], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let plan = StftPlan::new(&ctx, &opts).unwrap();
    plan.record(&mut rec, &input, &out).unwrap();
    // The fused kernel: one dispatch for every frame of every clip.
    assert_eq!(rec.dispatch_count(), 1);
    let wrong = Tensor::zeros(&ctx, &[4, 31, 513], DType::F32).unwrap();
    let err = plan.record(&mut rec, &input, &wrong).unwrap_err();
    assert!(err.to_string().contains("32 frames"), "{err}");
    rec.submit().unwrap();
    let bad = StftOptions { hop: 0, ..opts };
    assert!(StftPlan::new(&ctx, &bad).is_err());
    let empty = Tensor::zeros(&ctx, &[1, 0], DType::F32).unwrap();
    let reflect = StftOptions {
        center: Centering::Reflect,
        ..opts
    };
    let out = Tensor::zeros(&ctx, &[1, 1, 513], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    assert!(stft(&mut rec, &empty, &out, &reflect).is_err());
}
