//! `hark bench train --system ssc`: training throughput of the self-supervised classifier (clips
//! per second at the chosen clip length and batch) with the per-kernel GPU time of one step.

use std::time::Instant;

use hark::kernels::optim::AdamConfig;
use hark::models::ssc::data::ClipInputs;
use hark::models::ssc::train::{Labels, Step};
use hark::models::ssc::{LossWeights, SscNetwork, SscShape, TripletLabels};
use hark::nn::Adam;
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, Recorder};

/// Runs the benchmark: `batch` clips of `seconds` seconds, TDNN width `channels`.
pub fn run(batch: usize, steps: usize, seconds: f64, channels: usize) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let samples = (seconds * 16_000.0) as usize;
    let shape = SscShape {
        samples,
        mel_bins: 128,
        tgram: true,
        extra_dims: 0,
        channels,
        pool_channels: 2 * channels,
        embedding: 128,
        sections: 3,
        attributes: 12,
    };
    println!(
        "adapter: {} ({:?}, {:?}); ssc (TgramNet + TDNN {channels}), batch {batch}, {seconds} s clips ({} frames)",
        info.name,
        info.device_type,
        info.backend,
        shape.frames()
    );
    let mut network = SscNetwork::new(&ctx, shape, 0)?;
    let mut optimizer = Adam::new(&ctx, &network.params(), AdamConfig::adam(2e-4))?;
    let mut rng = SeededRng::new(1);
    let frames = shape.frames();
    let data = ClipInputs {
        count: batch,
        waves: rng.vec(batch * samples, -0.5, 0.5),
        mels: rng.vec(batch * 128 * frames, -1.0, 1.0),
        extras: Vec::new(),
    };
    let labels = Labels {
        sections: (0..batch).map(|i| i % 3).collect(),
        attributes: (0..batch).map(|i| i % 12).collect(),
    };
    let mut step = Step::new(&ctx, &network, batch)?;
    let picked: Vec<usize> = (0..batch).collect();
    step.upload(
        &ctx,
        &network,
        &data,
        &labels,
        &picked,
        TripletLabels::Section,
    )?;
    let weights = LossWeights::default();
    let mut train_step = |rec: &mut Recorder| -> hark::Result<()> {
        step.record(rec, &mut network, &weights, false)?;
        let params = network.params();
        optimizer.step(rec, &params)
    };
    let mut warm = Recorder::new(&ctx);
    train_step(&mut warm)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..steps {
        let mut rec = Recorder::new(&ctx);
        train_step(&mut rec)?;
        rec.submit()?;
    }
    ctx.wait()?;
    let per_step = start.elapsed().as_secs_f64() / steps.max(1) as f64;
    println!(
        "training: {:.1} ms/step, {:.2} clips/s ({:.2} audio s/s)",
        per_step * 1e3,
        batch as f64 / per_step,
        batch as f64 * seconds / per_step
    );
    let prof = profile(&ctx, 2, false, &mut train_step)?;
    super::bench_train::print_kernel_breakdown(&prof);
    Ok(())
}
