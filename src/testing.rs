//! Test support shared by hark's tests, benches and examples (and usable by embedders):
//! one closeness check, the purposeful shapes, the seeded generator (re-exported from
//! [`crate::rng`]), and GPU-context discovery
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

/// Difference quotients of a loss at one coordinate with step `h`: central, forward (`x` to
/// `x + h`) and backward (`x - h` to `x`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slopes {
    pub central: f64,
    pub forward: f64,
    pub backward: f64,
}

impl Slopes {
    /// From the loss at `x - h`, `x` and `x + h`.
    pub fn new(minus: f64, at: f64, plus: f64, h: f64) -> Self {
        Self {
            central: (plus - minus) / (2.0 * h),
            forward: (plus - at) / h,
            backward: (at - minus) / h,
        }
    }
}

fn within(a: f64, e: f64, rel: f64, abs: f64) -> bool {
    (a - e).abs() <= (rel * a.abs().max(e.abs())).max(abs)
}

/// Whether `a` lies between the central differences of the steps, widened by the tolerance,
/// when they spread by at most four tolerances (see [`compare_kink_aware`]).
fn bracketed(a: f64, steps: &[Slopes], rel: f64, abs: f64) -> bool {
    if steps.len() < 2 {
        return false;
    }
    let lo = steps
        .iter()
        .map(|s| s.central)
        .fold(f64::INFINITY, f64::min);
    let hi = steps
        .iter()
        .map(|s| s.central)
        .fold(f64::NEG_INFINITY, f64::max);
    let tol = (rel * lo.abs().max(hi.abs())).max(abs);
    hi - lo <= 4.0 * tol && a >= lo - tol && a <= hi + tol
}

/// Compares analytic gradients with finite differences of a function with kinks (ReLU, max
/// pooling after normalisations). When a kink lies inside `[x - h, x + h]` the central difference
/// averages two slopes, while the derivative at `x` is the slope on the side without the kink.
/// Element `i` passes when the analytic value is within tolerance of the central difference, or,
/// only where the forward and backward slopes disagree with each other beyond the same tolerance
/// (a kink, or curvature, inside the step), of one of the two one-sided slopes. A wiring error
/// misses all three; a coordinate where the loss is linear over the step must match the central
/// difference. `slopes[i]` may hold the slopes at several steps (a smaller step crosses fewer
/// kinks, a larger one has less rounding noise): the element passes when it passes at any of
/// them. When the central differences of two steps disagree with each other (rounding noise
/// grows as the step shrinks, kinks and curvature as it grows: the estimate itself is uncertain
/// by their spread), an analytic value between them (within tolerance of the interval) also
/// passes, provided the spread is at most four tolerances: a wiring error, off by a whole
/// gradient term, still falls outside. The report names each failing element with its slopes.
pub fn compare_kink_aware(
    actual: &[f32],
    slopes: &[Vec<Slopes>],
    rel: f32,
    abs: f32,
) -> Result<(), String> {
    if actual.len() != slopes.len() {
        return Err(format!(
            "length mismatch: actual {} vs slopes {}",
            actual.len(),
            slopes.len()
        ));
    }
    let (rel, abs) = (f64::from(rel), f64::from(abs));
    let failures: Vec<String> = actual
        .iter()
        .zip(slopes)
        .enumerate()
        .filter(|(_, (&a, steps))| {
            let a = f64::from(a);
            let passes = |s: &Slopes| {
                let kinked = !within(s.forward, s.backward, rel, abs);
                within(a, s.central, rel, abs)
                    || (kinked
                        && (within(a, s.forward, rel, abs) || within(a, s.backward, rel, abs)))
            };
            !steps.iter().any(passes) && !bracketed(a, steps, rel, abs)
        })
        .map(|(i, (a, steps))| {
            let slopes: Vec<String> = steps
                .iter()
                .map(|s| {
                    format!(
                        "central {:e}, forward {:e}, backward {:e}",
                        s.central, s.forward, s.backward
                    )
                })
                .collect();
            format!("  [{i}] analytic {a:e}; {}", slopes.join("; "))
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} elements match neither the central difference nor a one-sided slope \
             (rel {rel:e} / abs {abs:e}):\n{}",
            failures.len(),
            actual.len(),
            failures.join("\n")
        ))
    }
}

pub use crate::rng::SeededRng;

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
        Ok(ctx) => {
            // Deterministic launches: the heuristic tiles, never a timing-dependent choice.
            ctx.set_autotune(false);
            Some(ctx.clone())
        }
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
    fn kink_aware_compare_takes_the_one_sided_slope_only_across_a_kink() {
        // relu(x) at x = -0.5e-3 with h = 1e-3: the kink at 0 is inside the step.
        let relu = |x: f64| x.max(0.0);
        let (x, h) = (-0.5e-3, 1e-3);
        let kink = Slopes::new(relu(x - h), relu(x), relu(x + h), h);
        assert_eq!(kink.backward, 0.0);
        assert!((kink.central - 0.25).abs() < 1e-12);
        // The true derivative (0) matches the backward slope; 0.25 (central) too; 1 does not
        // (the forward slope is 0.5 here, not 1).
        assert!(compare_kink_aware(&[0.0], &[vec![kink]], 1e-2, 1e-6).is_ok());
        assert!(compare_kink_aware(&[1.0], &[vec![kink]], 1e-2, 1e-6).is_err());
        // A smaller step that stays clear of the kink matches 0 through its central difference.
        let small = Slopes::new(relu(x - 1e-4), relu(x), relu(x + 1e-4), 1e-4);
        assert!(compare_kink_aware(&[0.0], &[vec![small]], 0.0, 1e-12).is_ok());
        assert!(compare_kink_aware(&[1.0], &[vec![kink, small]], 1e-2, 1e-6).is_err());
        // A linear coordinate: the slopes agree, so only the central difference counts.
        let line = Slopes::new(1.0 - 2e-3, 1.0, 1.0 + 2e-3, 1e-3);
        assert!(compare_kink_aware(&[2.0], &[vec![line]], 1e-2, 1e-6).is_ok());
        let report =
            compare_kink_aware(&[2.0, 3.0], &[vec![line], vec![line]], 1e-2, 1e-6).unwrap_err();
        assert!(
            report.contains("[1]") && report.contains("1 of 2"),
            "{report}"
        );
        assert!(compare_kink_aware(&[1.0], &[], 1.0, 1.0).is_err());
    }

    #[test]
    fn kink_aware_compare_accepts_a_value_bracketed_by_noisy_central_differences() {
        // Two steps whose central differences (-0.158, -0.148) disagree by 6 %, each with
        // agreeing one-sided slopes (no kink): the ssc TgramNet LayerNorm case, where f32
        // rounding moves the small step's estimate. A value between them passes; one outside by
        // more than the tolerance, or a bracket wider than four tolerances, does not.
        let at = |c: f64| Slopes {
            central: c,
            forward: c,
            backward: c,
        };
        let steps = vec![at(-0.15827), at(-0.14837)];
        assert!(compare_kink_aware(&[-0.15416], std::slice::from_ref(&steps), 2e-2, 3e-3).is_ok());
        assert!(compare_kink_aware(&[-0.17], std::slice::from_ref(&steps), 2e-2, 3e-3).is_err());
        assert!(compare_kink_aware(&[-0.30833], &[steps], 2e-2, 3e-3).is_err());
        let wide = vec![at(-0.16), at(-0.10)];
        assert!(compare_kink_aware(&[-0.13], &[wide], 2e-2, 3e-3).is_err());
        // One step only: no bracket.
        assert!(compare_kink_aware(&[-0.15416], &[vec![at(-0.15827)]], 2e-2, 3e-3).is_err());
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
