//! `hark bench train --system <s>`: training throughput (feature vectors, clips or patches per
//! second) with the per-kernel GPU time of one step, slowest first. The autoencoder's bench is
//! here; the other systems' are in `bench_<system>.rs` / `bench_train_<system>.rs`.

use std::time::Instant;

use clap::{Args, ValueEnum};
use hark::kernels::loss::mse_backward;
use hark::kernels::optim::AdamConfig;
use hark::models::autoencoder::DenseAutoencoder;
use hark::nn::{Adam, Layer, Mode};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, DType, Recorder, Tensor};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum System {
    /// The DCASE dense autoencoder on 640-dim vectors.
    Ae,
    /// The flow system's normalizing flow (4 blocks, hidden 256) on 640-dim vectors.
    Flow,
    /// Wilkinghoff's embedding system on raw clips (--seconds long).
    Embed,
    /// The DCASE 2022 MobileNetV2 (width 0.5) on 64 x 128 log-mel patches, 3 sections.
    Mobilenet,
    /// The self-supervised classifier (TgramNet + TDNN, three losses) on raw clips.
    Ssc,
    /// The outlier-exposure extractor (default network) on 32 x 64 log-mel segments.
    Oe,
    /// The OE extractor with OE-Flow's jointly trained flow on its embeddings.
    OeFlow,
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    #[arg(long, value_enum, default_value_t = System::Ae)]
    system: System,
    /// Default: 512 (ae, flow), 64 (embed), 128 (mobilenet), 32 (ssc).
    #[arg(long)]
    batch: Option<usize>,
    /// ssc: width of the TDNN's frame layers.
    #[arg(long, default_value_t = 256)]
    tdnn_channels: usize,
    /// embed, ssc: clip length in seconds (16 kHz).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Timed training steps (after one untimed warm-up step).
    #[arg(long, default_value_t = 10)]
    steps: usize,
}

pub fn run(args: &BenchTrainArgs) -> hark::Result<()> {
    match args.system {
        System::Ae => {}
        System::Flow => return super::bench_flow::run(args.batch.unwrap_or(512), args.steps),
        System::Embed => {
            let batch = args.batch.unwrap_or(64);
            return super::bench_train_embed::run(batch, args.seconds, args.steps);
        }
        System::Mobilenet => {
            return super::bench_train_mobilenet::run(args.batch.unwrap_or(128), args.steps)
        }
        System::Ssc => {
            let batch = args.batch.unwrap_or(32);
            return super::bench_train_ssc::run(
                batch,
                args.steps,
                args.seconds,
                args.tdnn_channels,
            );
        }
        System::Oe => {
            return super::bench_train_oe::run(args.batch.unwrap_or(32), args.steps, false)
        }
        System::OeFlow => {
            return super::bench_train_oe::run(args.batch.unwrap_or(32), args.steps, true)
        }
    }
    let batch = args.batch.unwrap_or(512);
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?}); DCASE autoencoder, batch {}",
        info.name, info.device_type, info.backend, batch
    );
    let mut model = DenseAutoencoder::new(&ctx, 640, 0)?;
    let mut optimizer = Adam::new(&ctx, &model.params(), AdamConfig::adam(1e-3))?;
    let mut rng = SeededRng::new(1);
    let x = Tensor::from_slice(&ctx, &[batch, 640], &rng.vec(batch * 640, -1.0, 1.0))?;
    let grad = Tensor::zeros(&ctx, &[batch, 640], DType::F32)?;
    let mut step = |rec: &mut Recorder| -> hark::Result<()> {
        let y = model.forward(rec, &x, Mode::Train)?;
        mse_backward(rec, &y, &x, 1.0, &grad)?;
        model.backward(rec, &grad)?;
        optimizer.step(rec, &model.params())
    };
    // Wall clock of whole steps (one submit each, waited): the throughput a training loop sees.
    let mut warm = Recorder::new(&ctx);
    step(&mut warm)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..args.steps {
        let mut rec = Recorder::new(&ctx);
        step(&mut rec)?;
        rec.submit()?;
    }
    ctx.wait()?;
    let per_step = start.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    println!(
        "training: {:.1} ms/step, {:.0} vectors/s",
        per_step * 1e3,
        batch as f64 / per_step
    );
    let prof = profile(&ctx, 3, false, |rec| step(rec))?;
    print_kernel_breakdown(&prof);
    Ok(())
}

/// Prints the per-kernel GPU time of one profiled training step, slowest first.
pub(super) fn print_kernel_breakdown(prof: &hark::profiler::Profile) {
    let mut kernels = prof.kernels.clone();
    kernels.sort_by(|a, b| b.mean_s.total_cmp(&a.mean_s));
    println!(
        "per-kernel GPU time per step ({:?}), slowest first:",
        prof.method
    );
    let total = prof.mean_total_s();
    for k in &kernels {
        println!(
            "  {:<28} {:>3} call(s) {:>9.3} ms {:>5.1} %",
            k.kernel,
            k.calls_per_iteration,
            k.mean_s * 1e3,
            100.0 * k.mean_s / total.max(1e-12)
        );
    }
}
