//! `hark bench train --system embed`: training throughput of Wilkinghoff's embedding system
//! (clips per second at a given clip length and batch, mixup, both branches, sub-cluster
//! AdaCos, Adam) with the per-kernel GPU time of one step, slowest first.

use std::time::Instant;

use hark::kernels::fft::FftPath;
use hark::models::embedding::{
    Branches, EmbedTrainConfig, EmbeddingModel, EmbeddingNetConfig, TrainStep,
};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, Recorder};

/// Classes of the synthetic batch (a machine type with a few sections and attributes).
const CLASSES: usize = 12;

pub fn run(batch: usize, seconds: f64, steps: usize) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let samples = (seconds * 16_000.0).round() as usize;
    println!(
        "adapter: {} ({:?}, {:?}); Wilkinghoff embedding system, batch {batch} x {seconds} s \
         clips, {CLASSES} classes x 16 sub-clusters",
        info.name, info.device_type, info.backend
    );
    let fft_path = FftPath::Auto;
    let net = EmbeddingNetConfig {
        samples,
        branches: Branches::Both,
        temporal_norm: true,
        fft_path,
    };
    let classes = (0..CLASSES).map(|c| format!("class{c}")).collect();
    let mut model = EmbeddingModel::new(&ctx, net, classes, 16, 0)?;
    let config = EmbedTrainConfig::default();
    let mut step = TrainStep::new(&ctx, &model, batch, &config)?;
    let mut rng = SeededRng::new(1);
    let mut labels = vec![0.0f32; batch * CLASSES];
    for row in 0..batch {
        labels[row * CLASSES + row % CLASSES] = 1.0;
    }
    step.write(
        &ctx,
        &rng.vec(batch * samples, -0.5, 0.5),
        &labels,
        &rng.vec(batch, 0.0, 1.0),
    )?;
    // Wall clock of whole steps (one submit each, waited): what a training loop sees.
    let mut warm = Recorder::new(&ctx);
    step.record(&mut warm, &mut model)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..steps {
        let mut rec = Recorder::new(&ctx);
        step.record(&mut rec, &mut model)?;
        rec.submit()?;
    }
    ctx.wait()?;
    let per_step = start.elapsed().as_secs_f64() / steps.max(1) as f64;
    println!(
        "training: {:.1} ms/step, {:.2} clips/s ({:.1} audio s/s)",
        per_step * 1e3,
        batch as f64 / per_step,
        batch as f64 * seconds / per_step
    );
    let prof = profile(&ctx, 2, false, |rec| step.record(rec, &mut model))?;
    super::bench_train::print_kernel_breakdown(&prof);
    Ok(())
}
