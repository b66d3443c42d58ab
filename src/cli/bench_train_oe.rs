//! `hark bench train --system oe` / `oe-flow`: training throughput of the outlier-exposure
//! extractor (segments per second at the default network, 32 x 64 log-mel segments, half normal
//! and half pseudo-anomalous rows), with OE-Flow's jointly trained flow for `oe-flow`, and the
//! per-kernel GPU time of one step, slowest first.

use std::time::Instant;

use hark::models::flow::{FlowConfig, Subnet};
use hark::models::oe::{EmbeddingLoss, FlowEmbeddingLoss, OeNetConfig, OeNetwork, OeStep};
use hark::nn::{Adam, Param};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, Recorder};

/// Section / attribute classes of the synthetic batch.
const CLASSES: usize = 4;

pub fn run(batch: usize, steps: usize, with_flow: bool) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let config = OeNetConfig::default();
    let rows = 2 * (batch / 2).max(1);
    println!(
        "adapter: {} ({:?}, {:?}); OE extractor {config:?}{}, batch {rows}",
        info.name,
        info.device_type,
        info.backend,
        if with_flow {
            " + flow (4 blocks, hidden 64)"
        } else {
            ""
        }
    );
    let mut net = OeNetwork::new(&ctx, &config, CLASSES, 0)?;
    let mut flow = if with_flow {
        let flow_config = FlowConfig {
            channels: config.embedding,
            blocks: 4,
            subnet: Subnet::Dense { hidden: 64 },
            seed: 0,
        };
        Some(FlowEmbeddingLoss::new(&ctx, flow_config, None)?)
    } else {
        None
    };
    let mut params: Vec<&Param> = net.params();
    if let Some(f) = &flow {
        params.extend(f.params());
    }
    let mut optimizer = Adam::new(&ctx, &params, hark::kernels::optim::AdamConfig::adam(1e-3))?;
    drop(params);
    let step = OeStep::new(&ctx, &net, rows, 5.0)?;
    let mut rng = SeededRng::new(1);
    let seg = config.frames * config.mels;
    let machine: Vec<f32> = (0..rows)
        .map(|r| f32::from(u8::from(r < rows / 2)))
        .collect();
    let mut classes = vec![0.0f32; rows * CLASSES];
    for r in 0..rows / 2 {
        classes[r * CLASSES + r % CLASSES] = 1.0;
    }
    step.write(&ctx, &rng.vec(rows * seg, 0.0, 2.0), &machine, &classes)?;
    let clean: Vec<bool> = (0..rows).map(|r| r < rows / 2).collect();
    let mut record = |rec: &mut Recorder| {
        if let Some(f) = flow.as_mut() {
            // As in training: read the previous step back (the flow's input statistics; it
            // joins once the warm-up step has given them).
            f.after_step(&ctx)?;
        }
        let extra = flow.as_mut().map(|f| f as &mut dyn EmbeddingLoss);
        step.record(rec, &mut net, extra, &clean, &mut optimizer)
    };
    // Wall clock of whole steps (one submit each, waited): what a training loop sees.
    let mut warm = Recorder::new(&ctx);
    record(&mut warm)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..steps {
        let mut rec = Recorder::new(&ctx);
        record(&mut rec)?;
        // Training waits for every step (it reads the losses back), with or without the flow.
        rec.submit_and_wait()?;
    }
    ctx.wait()?;
    let per_step = start.elapsed().as_secs_f64() / steps.max(1) as f64;
    println!(
        "training: {:.1} ms/step, {:.1} segments/s",
        per_step * 1e3,
        rows as f64 / per_step
    );
    let prof = profile(&ctx, 2, false, record)?;
    super::bench_train::print_kernel_breakdown(&prof);
    Ok(())
}
