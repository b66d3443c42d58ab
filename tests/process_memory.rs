//! The process does not grow while the front end runs batch after batch, as `hark monitor` and
//! `hark score` run it for hours. Its own test binary: the resident memory of a process running
//! other tests beside it says nothing. Linux only (`/proc/self/status`).
//!
//! lavapipe (Mesa 22.3) once kept about 150 KiB per dispatch of the global-path FFT stage
//! (radix from the uniform, butterfly values in loop-indexed arrays), 1 MiB per batch here:
//! 120 batches grew the process by over 100 MiB.

use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::monitor::bench::resident_mib;
use hark::testing::{test_context, SeededRng};

#[test]
fn the_front_end_runs_batch_after_batch_in_bounded_memory() {
    let Some(ctx) = test_context() else { return };
    if resident_mib().is_none() {
        eprintln!("skipping: no /proc/self/status on this system");
        return;
    }
    let spec = FeatureSpec::dcase(FeatureKind::Dcase640);
    let mut extractor = FeatureExtractor::new(&ctx, &spec).unwrap();
    let mut rng = SeededRng::new(7);
    let clips: Vec<Vec<f32>> = (0..8).map(|_| rng.vec(16_384, -1.0, 1.0)).collect();
    // Warm up: pipelines, scratch buffers, the driver's pools.
    for _ in 0..20 {
        extractor.extract(&clips).unwrap();
    }
    let before = resident_mib().unwrap();
    for _ in 0..120 {
        extractor.extract(&clips).unwrap();
    }
    let growth = resident_mib().unwrap() - before;
    assert!(
        growth < 24.0,
        "120 front-end batches grew the process by {growth:.1} MiB"
    );
}
