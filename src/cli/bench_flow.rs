//! `hark bench train --system flow`: training throughput of the flow system's density model
//! (640-dim vectors per second: forward, NLL, backward, Adam) with the per-kernel GPU time of one
//! step, slowest first.

use std::time::Instant;

use hark::kernels::optim::AdamConfig;
use hark::models::flow::{Flow, FlowConfig, FlowNll, FlowSystemConfig, Subnet};
use hark::nn::{Adam, Mode};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, Recorder, Tensor};

const DIMS: usize = 640;

pub fn run(batch: usize, steps: usize) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let defaults = FlowSystemConfig::default();
    println!(
        "adapter: {} ({:?}, {:?}); flow {} blocks, hidden {}, {DIMS}-dim vectors, batch {batch}",
        info.name, info.device_type, info.backend, defaults.blocks, defaults.hidden
    );
    let mut flow = Flow::new(
        &ctx,
        FlowConfig {
            channels: DIMS,
            blocks: defaults.blocks,
            subnet: Subnet::Dense {
                hidden: defaults.hidden,
            },
            seed: 0,
        },
    )?;
    let mut optimizer = Adam::new(&ctx, &flow.params(), AdamConfig::adam(1e-3))?;
    let mut nll = FlowNll::new(&ctx, None);
    let mut rng = SeededRng::new(1);
    let x = Tensor::from_slice(&ctx, &[batch, DIMS], &rng.vec(batch * DIMS, -1.0, 1.0))?;
    let mut step = |rec: &mut Recorder| -> hark::Result<()> {
        let (z, logdet) = flow.forward(rec, &x, Mode::Train)?;
        nll.forward(rec, &z, &logdet)?;
        let (grad_z, grad_logdet) = nll.backward(rec, &z, &logdet, 1.0 / batch as f32)?;
        flow.backward(rec, &grad_z, &grad_logdet)?;
        optimizer.step(rec, &flow.params())
    };
    let mut warm = Recorder::new(&ctx);
    step(&mut warm)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..steps {
        let mut rec = Recorder::new(&ctx);
        step(&mut rec)?;
        rec.submit()?;
    }
    ctx.wait()?;
    let per_step = start.elapsed().as_secs_f64() / steps.max(1) as f64;
    println!(
        "training: {:.1} ms/step, {:.0} vectors/s",
        per_step * 1e3,
        batch as f64 / per_step
    );
    let prof = profile(&ctx, 3, false, |rec| step(rec))?;
    super::bench_train::print_kernel_breakdown(&prof);
    Ok(())
}
