//! GPU vs CPU for the real FFT: every power of two from 2 to 4096 on the fused workgroup kernel
//! and on the global-memory path, mixed-radix (3, 5, 15, 243, 625, 1000) and Bluestein (7, 97,
//! 1021, 2042) lengths, one sample, and the 160000-point whole-clip spectrum, batched; plus the
//! CPU twins of the GPU stages against realfft, and the error cases.

use hark::cpu::fft as cpu_fft;
use hark::kernels::fft::{rfft, rfft_bins, FftPath, RfftOptions, RfftPlan, SpectrumKind};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// Rounding error bound of an f32 FFT bin: it grows like log2(n) * eps * ||x||_2 (each of the
/// log2(n) stages adds about one rounding of the running values, whose norm is ||x||_2 in every
/// stage by Parseval). The factor 4 covers the twiddle rounding and the post-processing step;
/// Bluestein runs two FFTs of length m >= 2n - 1 plus three complex multiplies, so its bound
/// uses log2(m) and twice the factor.
fn bin_error(n: usize, signal: &[f32], bluestein: bool) -> f32 {
    let norm = signal.iter().map(|x| x * x).sum::<f32>().sqrt();
    let (stages, factor) = if bluestein {
        (((2 * n - 1).next_power_of_two() as f32).log2(), 8.0)
    } else {
        ((n as f32).log2().max(1.0), 4.0)
    };
    factor * (stages + 1.0) * f32::EPSILON * norm.max(1.0)
}

fn gpu_rfft(
    ctx: &Context,
    data: &[f32],
    batch: usize,
    n: usize,
    options: &RfftOptions,
) -> Vec<f32> {
    let input = Tensor::from_slice(ctx, &[batch, n], data).unwrap();
    let bins = rfft_bins(n);
    let shape: Vec<usize> = match options.kind {
        SpectrumKind::Complex => vec![batch, bins, 2],
        _ => vec![batch, bins],
    };
    let out = Tensor::zeros(ctx, &shape, DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    rfft(&mut rec, &input, &out, options).unwrap();
    rec.submit().unwrap();
    out.to_vec(ctx).unwrap()
}

/// Checks every kind for one length: complex and magnitude within the bin error bound, power
/// within 2 |X|max * bound + bound^2 (the square of a value off by at most the bound).
fn check_length(ctx: &Context, rng: &mut SeededRng, n: usize, batch: usize, path: FftPath) {
    let data = rng.vec(batch * n, -1.0, 1.0);
    let bluestein = RfftPlan::new(ctx, n, path).unwrap().is_bluestein();
    let err = (0..batch)
        .map(|b| bin_error(n, &data[b * n..(b + 1) * n], bluestein))
        .fold(0.0f32, f32::max);
    for kind in [
        SpectrumKind::Complex,
        SpectrumKind::Magnitude,
        SpectrumKind::Power,
    ] {
        let options = RfftOptions { kind, path };
        let actual = gpu_rfft(ctx, &data, batch, n, &options);
        let expected = cpu_fft::rfft(&data, n, kind);
        let abs = match kind {
            SpectrumKind::Power => {
                let max_mag = expected.iter().fold(0.0f32, |m, &p| m.max(p.sqrt()));
                2.0 * max_mag * err + err * err
            }
            _ => err,
        };
        // rel 0: the bound is absolute (FFT error does not shrink with a bin's own size).
        if let Err(report) = hark::testing::compare(&actual, &expected, 0.0, abs) {
            panic!("n = {n}, {kind:?}, {path:?}: {report}");
        }
    }
}

#[test]
fn cpu_twins_of_the_gpu_stages_match_realfft() {
    let mut rng = SeededRng::new(1);
    for n in [
        1usize, 2, 3, 5, 7, 8, 15, 16, 97, 243, 625, 1000, 1021, 2042, 4096,
    ] {
        let data = rng.vec(2 * n, -1.0, 1.0);
        let expected = cpu_fft::rfft(&data, n, SpectrumKind::Complex);
        let actual = cpu_fft::rfft_twin(&data, n, SpectrumKind::Complex);
        let bluestein =
            hark::kernels::fft::fft_radices(if n % 2 == 0 { n / 2 } else { n }).is_none();
        // Same bound as the GPU tests: the twin is the GPU path's arithmetic in f32.
        let err = bin_error(n, &data, bluestein);
        assert_close(&actual, &expected, 0.0, err);
    }
}

#[test]
fn workgroup_kernel_matches_cpu_for_every_power_of_two() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(2);
    for log in 1..=12 {
        let n = 1usize << log;
        assert!(
            RfftPlan::new(&ctx, n, FftPath::Workgroup)
                .unwrap()
                .is_workgroup(),
            "n = {n}"
        );
        check_length(&ctx, &mut rng, n, 3, FftPath::Workgroup);
    }
}

#[test]
fn global_path_matches_cpu_for_powers_of_two() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(3);
    for n in [2usize, 4, 16, 64, 512, 4096, 8192] {
        check_length(&ctx, &mut rng, n, 2, FftPath::Global);
    }
}

#[test]
fn mixed_radix_and_bluestein_lengths_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(4);
    // 1: one sample; 3, 5, 15, 243 = 3^5, 625 = 5^4, 1000 = 2^3 5^3: mixed radix;
    // 7, 97, 1021: primes (Bluestein); 2042 = 2 * 1021: even, Bluestein on the packed half;
    // 6000 = 2^4 3 5^3: every radix in one plan.
    for n in [1usize, 3, 5, 7, 15, 97, 243, 625, 1000, 1021, 2042, 6000] {
        check_length(&ctx, &mut rng, n, 3, FftPath::Auto);
    }
}

#[test]
fn whole_clip_spectrum_of_160000_samples() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(5);
    let (n, batch) = (160_000usize, 2usize);
    let data = rng.vec(batch * n, -1.0, 1.0);
    let options = RfftOptions {
        kind: SpectrumKind::Magnitude,
        path: FftPath::Auto,
    };
    let plan = RfftPlan::new(&ctx, n, FftPath::Auto).unwrap();
    assert!(!plan.is_workgroup() && !plan.is_bluestein());
    let actual = gpu_rfft(&ctx, &data, batch, n, &options);
    let expected = cpu_fft::rfft(&data, n, SpectrumKind::Magnitude);
    // ||x||_2 = sqrt(160000 / 3) ~ 231, log2(80000) ~ 16.3: about 2e-3 absolute against bins of
    // typical size 231 (1e-5 relative to a typical bin).
    let err = bin_error(n, &data[..n], false).max(bin_error(n, &data[n..], false));
    assert_close(&actual, &expected, 0.0, err);
}

#[test]
fn plans_record_repeatedly_and_errors_are_typed() {
    let Some(ctx) = test_context() else { return };
    let plan = RfftPlan::new(&ctx, 1000, FftPath::Auto).unwrap();
    let mut rng = SeededRng::new(6);
    let data = rng.vec(2000, -1.0, 1.0);
    let input = Tensor::from_slice(&ctx, &[2, 1000], &data).unwrap();
    let out = Tensor::zeros(&ctx, &[2, 501], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    plan.record(&mut rec, &input, &out, SpectrumKind::Power)
        .unwrap();
    plan.record(&mut rec, &input, &out, SpectrumKind::Power)
        .unwrap();
    rec.submit().unwrap();
    let expected = cpu_fft::rfft(&data, 1000, SpectrumKind::Power);
    let max = expected.iter().fold(0.0f32, |m, &x| m.max(x));
    // Relative to the largest power bin: 2 * bound / |X|max ~ 1e-5 at n = 1000.
    assert_close(&out.to_vec(&ctx).unwrap(), &expected, 0.0, 1e-5 * max);

    let mut rec = Recorder::new(&ctx);
    let wrong = Tensor::zeros(&ctx, &[2, 500], DType::F32).unwrap();
    let err = plan
        .record(&mut rec, &input, &wrong, SpectrumKind::Power)
        .unwrap_err();
    assert!(err.to_string().contains("rfft"), "{err}");
    let other = Tensor::zeros(&ctx, &[2, 999], DType::F32).unwrap();
    assert!(plan
        .record(&mut rec, &other, &out, SpectrumKind::Power)
        .is_err());
    assert!(RfftPlan::new(&ctx, 0, FftPath::Auto).is_err());
}

#[test]
fn auto_takes_the_fused_kernel_on_gpus_and_the_global_path_on_software_adapters() {
    let Some(ctx) = test_context() else { return };
    for n in [512usize, 1024] {
        let auto = RfftPlan::new(&ctx, n, FftPath::Auto).unwrap();
        let fused = RfftPlan::new(&ctx, n, FftPath::Workgroup).unwrap();
        assert!(fused.is_workgroup(), "n = {n}");
        assert_eq!(auto.is_workgroup(), !ctx.is_software(), "n = {n}");
        assert!(!RfftPlan::new(&ctx, n, FftPath::Global)
            .unwrap()
            .is_workgroup());
    }
}
