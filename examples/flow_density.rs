//! Fits a coupling-layer normalizing flow to 2-D samples from a ring of four Gaussians through
//! hark's library API and scores new points by their negative log-likelihood: held-out samples
//! from the mixture score low, points between or beyond the modes score high.
//!
//! `cargo run --release --example flow_density` (a few seconds on a software adapter).

use hark::models::flow::{clip_nll, train, Flow, FlowConfig, FlowTrainConfig, Subnet};
use hark::testing::SeededRng;
use hark::Context;

/// `n` points from four Gaussians (std 0.3) at radius 2 on the axes.
fn ring(rng: &mut SeededRng, n: usize) -> Vec<f32> {
    let centers = [(2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0)];
    let mut points = Vec::with_capacity(2 * n);
    for i in 0..n {
        let (cx, cy) = centers[i % 4];
        // Box-Muller from the seeded uniform generator.
        let (u1, u2) = (rng.uniform(1e-6, 1.0), rng.uniform(0.0, 1.0));
        let r = (-2.0 * u1.ln()).sqrt() * 0.3;
        let angle = 2.0 * std::f32::consts::PI * u2;
        points.push(cx + r * angle.cos());
        points.push(cy + r * angle.sin());
    }
    points
}

fn main() -> hark::Result<()> {
    let ctx = Context::new()?;
    let mut rng = SeededRng::new(0);
    let training = ring(&mut rng, 2048);
    let config = FlowConfig {
        channels: 2,
        blocks: 4,
        subnet: Subnet::Dense { hidden: 32 },
        seed: 0,
    };
    let mut flow = Flow::new(&ctx, config)?;
    let settings = FlowTrainConfig {
        epochs: 20,
        batch_size: 512,
        lr: 1e-2,
        seed: 0,
    };
    let start = std::time::Instant::now();
    train(&ctx, &mut flow, &training, &settings, |report| {
        if report.epoch % 4 == 0 {
            println!(
                "epoch {:>2}: NLL per dimension {:.3}",
                report.epoch, report.loss
            );
        }
    })?;
    println!("trained in {:.1} s", start.elapsed().as_secs_f64());

    // Each "clip" here is one point: clip_nll averages over one vector.
    let held_out = ring(&mut rng, 256);
    // Between the modes (5 standard deviations from the nearest) and far outside the ring.
    let outliers = [
        1.4, 1.4, -1.4, 1.4, 1.4, -1.4, -1.4, -1.4, 4.5, 0.0, 0.0, -4.5, 5.0, 5.0,
    ];
    let ones = |values: &[f32]| vec![1; values.len() / 2];
    let inlier_scores = clip_nll(&ctx, &mut flow, &held_out, &ones(&held_out))?;
    let outlier_scores = clip_nll(&ctx, &mut flow, &outliers, &ones(&outliers))?;
    println!("{:>16}  {:>8}", "point", "NLL");
    for (point, score) in held_out.chunks(2).zip(&inlier_scores).take(6) {
        println!(
            "({:>6.2}, {:>5.2})  {score:>8.3}  in-distribution",
            point[0], point[1]
        );
    }
    for (point, score) in outliers.chunks(2).zip(&outlier_scores) {
        println!(
            "({:>6.2}, {:>5.2})  {score:>8.3}  outlier",
            point[0], point[1]
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // The AUC of NLL as an anomaly score: the fraction of (inlier, outlier) pairs it orders.
    let ordered = inlier_scores
        .iter()
        .flat_map(|i| {
            outlier_scores
                .iter()
                .map(move |o| f64::from(u8::from(o > i)))
        })
        .sum::<f64>()
        / (inlier_scores.len() * outlier_scores.len()) as f64;
    println!(
        "mean NLL: {:.3} over {} held-out samples, {:.3} over {} outliers; AUC {ordered:.3}",
        mean(&inlier_scores),
        inlier_scores.len(),
        mean(&outlier_scores),
        outlier_scores.len()
    );
    Ok(())
}
