//! Test support shared by hark's tests, benches and examples (and usable by embedders):
//! one closeness check, the purposeful shapes, a seeded generator, and GPU-context discovery
//! that fails instead of skipping when `HARK_REQUIRE_GPU=1`.

use crate::context::Context;

/// Sizes that catch the usual kernel bugs: 1, primes, non-multiples of the workgroup sizes
/// (8, 16, 64, 256), and a large case that needs several grid rows.
pub const PURPOSEFUL_LENGTHS: &[usize] = &[1, 2, 3, 7, 31, 64, 97, 255, 256, 257, 1000, 4099];

/// Compares `actual` to `expected`: element `i` passes when
/// `|a - e| <= max(rel * max(|a|, |e|), abs)`, NaN only matching NaN. On failure the message
/// lists the first failing indices with both values and both errors.
pub fn compare(actual: &[f32], expected: &[f32], rel: f32, abs: f32) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "length mismatch: actual {} vs expected {}",
            actual.len(),
            expected.len()
        ));
    }
    let mut failures = Vec::new();
    let mut count = 0usize;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let ok = if a.is_nan() || e.is_nan() {
            a.is_nan() && e.is_nan()
        } else if a.is_infinite() || e.is_infinite() {
            a == e
        } else {
            let diff = (a - e).abs();
            diff <= (rel * a.abs().max(e.abs())).max(abs)
        };
        if !ok {
            count += 1;
            if failures.len() < 8 {
                let diff = (a - e).abs();
                let rel_err = diff / e.abs().max(f32::MIN_POSITIVE);
                failures.push(format!(
                    "  [{i}] actual {a:e} expected {e:e} (abs err {diff:e}, rel err {rel_err:e})"
                ));
            }
        }
    }
    if count == 0 {
        Ok(())
    } else {
        Err(format!(
            "{count} of {} elements differ beyond rel {rel:e} / abs {abs:e}; first:\n{}",
            actual.len(),
            failures.join("\n")
        ))
    }
}

/// [`compare`] that panics with its report (for tests).
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32], rel: f32, abs: f32) {
    if let Err(report) = compare(actual, expected, rel, abs) {
        panic!("assert_close failed: {report}");
    }
}

/// A small seeded generator (SplitMix64) so that test data is the same on every machine.
#[derive(Clone, Debug)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// The shared folder beside the checkout (`../shared`, or `$HARK_SHARED_DIR`), which holds the
/// real DCASE clips under `data/real` (non-commercial licence: read there, never copied in).
pub fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("HARK_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// `<shared>/data/real` when it is there.
pub fn real_data_dir() -> Option<std::path::PathBuf> {
    let root = shared_dir().join("data/real");
    root.is_dir().then_some(root)
}

/// Whether `HARK_REQUIRE_GPU` asks for a hard failure when no adapter is found.
pub fn gpu_required() -> bool {
    matches!(
        std::env::var("HARK_REQUIRE_GPU").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// A context for GPU tests: `Some` when an adapter is found. Without one, `None` (the test
/// skips, saying so) unless `HARK_REQUIRE_GPU=1`, when it panics with the reason.
pub fn test_context() -> Option<Context> {
    use std::sync::OnceLock;
    // One device per test binary: creating a device per test is slow on lavapipe.
    static SHARED: OnceLock<Result<Context, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| Context::new().map_err(|e| e.to_string()));
    match shared {
        Ok(ctx) => Some(ctx.clone()),
        Err(reason) if gpu_required() => {
            panic!("HARK_REQUIRE_GPU=1 but no GPU context: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping GPU test: {reason}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_accepts_within_tolerance_and_reports_failures() {
        assert!(compare(&[1.0, 2.0], &[1.0 + 1e-7, 2.0], 1e-6, 0.0).is_ok());
        assert!(compare(&[0.0], &[1e-9], 0.0, 1e-8).is_ok());
        let report = compare(&[1.0, 5.0, 3.0], &[1.0, 2.0, 3.0], 1e-3, 1e-3).unwrap_err();
        assert!(
            report.contains("[1]") && report.contains("1 of 3"),
            "{report}"
        );
        assert!(compare(&[f32::NAN], &[1.0], 1.0, 1.0).is_err());
        assert!(compare(&[f32::NAN], &[f32::NAN], 0.0, 0.0).is_ok());
        assert!(compare(&[1.0], &[1.0, 2.0], 1.0, 1.0).is_err());
    }

    #[test]
    fn seeded_rng_is_deterministic_and_in_range() {
        let a = SeededRng::new(7).vec(100, -1.0, 1.0);
        let b = SeededRng::new(7).vec(100, -1.0, 1.0);
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (-1.0..1.0).contains(x)));
        assert_ne!(a, SeededRng::new(8).vec(100, -1.0, 1.0));
    }
}
