//! `hark bench separate`: Conv-TasNet inference on one clip (wall clock of the whole forward,
//! real-time factor, per-kernel GPU time of one forward, slowest first), the CPU reference
//! forward (`hark::models::conv_tasnet::cpu_reference`, SGEMM on all cores) on the same clip for the GPU/CPU
//! ratio, and the time of a training step (forward + L1 backward + Adam) on a batch of
//! segments. The shapes (10 s clip, batch 2 x 4 s) are the defaults on hardware GPUs;
//! a software adapter defaults to 0.5 s and 2 x 0.25 s, where the default model already takes
//! tens of seconds per forward.

use std::collections::HashMap;
use std::time::Instant;

use clap::Args;
use hark::kernels::loss::l1_loss_backward;
use hark::kernels::optim::AdamConfig;
use hark::models::conv_tasnet::cpu_reference::conv_tasnet_forward;
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig, MaskActivation};
use hark::nn::{Adam, Layer, Mode};
use hark::profiler::{profile, TimingMethod};
use hark::rng::SeededRng;
use hark::{Context, DType, HarkError, Recorder, Tensor};

const SAMPLE_RATE: usize = 16_000;

#[derive(Debug, Args)]
pub struct BenchSeparateArgs {
    /// Seconds of the inference clip at 16 kHz [default: 10 on a hardware GPU, 0.5 on a
    /// software adapter].
    #[arg(long)]
    seconds: Option<f64>,
    /// Seconds of each training segment [default: 4 on a hardware GPU, 0.25 on a software
    /// adapter].
    #[arg(long)]
    train_seconds: Option<f64>,
    /// Training segments per step.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Timed runs of each measurement, after one untimed warm-up [default: 5 on a hardware
    /// GPU, 1 on a software adapter].
    #[arg(long)]
    iterations: Option<usize>,
    /// A small Conv-TasNet (N=64, B=32, H=64, X=4, R=2) for a quick run, instead of the
    /// paper's default (N=512, L=16, B=128, H=512, P=3, X=8, R=3).
    #[arg(long)]
    small: bool,
    /// Kernels listed in the per-kernel breakdown.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Skip the training step.
    #[arg(long)]
    no_train: bool,
    /// Skip the CPU reference.
    #[arg(long)]
    no_cpu: bool,
    /// Time the per-kernel breakdown with the wall clock even where GPU timestamps exist.
    #[arg(long)]
    wall_clock: bool,
}

fn samples(what: &str, seconds: f64) -> hark::Result<usize> {
    let n = seconds * SAMPLE_RATE as f64;
    if !n.is_finite() || n.round() < 1.0 || n > 3600.0 * SAMPLE_RATE as f64 {
        return Err(HarkError::invalid(
            "bench separate",
            format!("{what} {seconds} s must give between 1 sample and one hour at 16 kHz"),
        ));
    }
    Ok(n.round() as usize)
}

fn config(small: bool) -> ConvTasNetConfig {
    if small {
        ConvTasNetConfig {
            enc_feats: 64,
            msk_feats: 32,
            msk_hidden: 64,
            msk_layers: 4,
            msk_stacks: 2,
            ..ConvTasNetConfig::default()
        }
    } else {
        ConvTasNetConfig::default()
    }
}

/// A machine-like test signal: a few harmonics of a hum plus broadband noise.
fn signal(rng: &mut SeededRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let hum: f32 = [(120.0, 0.2), (240.0, 0.1), (1_000.0, 0.05)]
                .iter()
                .map(|(f, a)| a * (std::f32::consts::TAU * f * t).sin())
                .sum();
            hum + rng.uniform(-0.05, 0.05)
        })
        .collect()
}

pub fn run(args: &BenchSeparateArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let seconds = args.seconds.unwrap_or(if software { 0.5 } else { 10.0 });
    let train_seconds = args
        .train_seconds
        .unwrap_or(if software { 0.25 } else { 4.0 });
    let iterations = args
        .iterations
        .unwrap_or(if software { 1 } else { 5 })
        .max(1);
    let len = samples("--seconds", seconds)?;
    let train_len = samples("--train-seconds", train_seconds)?;
    if args.batch == 0 {
        return Err(HarkError::invalid("bench separate", "--batch must be > 0"));
    }
    let config = config(args.small);
    let mut model = ConvTasNet::new(&ctx, config, 0)?;
    let weights: HashMap<String, Vec<f32>> = model
        .state_dict()
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_vec(&ctx)?)))
        .collect::<hark::Result<_>>()?;
    let params: usize = weights.values().map(Vec::len).sum();
    let cpu_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "device: {} ({:?}, {:?}); CPU reference on {cpu_threads} thread(s)",
        info.name, info.device_type, info.backend
    );
    if software {
        println!(
            "note: a software adapter runs WGSL on the CPU; read its figures as ratios only \
             (the issue's shapes: --seconds 10 --train-seconds 4 --batch 2)"
        );
    }
    let c = &config;
    println!(
        "model: Conv-TasNet N={} L={} B={} H={} P={} X={} R={}, {} source(s), {} mask, \
         {:.2} M parameters",
        c.enc_feats,
        c.enc_kernel,
        c.msk_feats,
        c.msk_hidden,
        c.msk_kernel,
        c.msk_layers,
        c.msk_stacks,
        c.sources,
        match c.mask {
            MaskActivation::Sigmoid => "sigmoid",
            MaskActivation::Relu => "relu",
        },
        params as f64 / 1e6
    );

    // Inference: per-kernel profile first (its untimed warm-up compiles every pipeline), then
    // the wall clock of whole forwards, one submit each, waited.
    let mut rng = SeededRng::new(1);
    let clip = signal(&mut rng, len);
    let x = Tensor::from_slice(&ctx, &[1, 1, len], &clip)?;
    let prof = profile(&ctx, iterations, args.wall_clock, |rec| {
        model.forward(rec, &x, Mode::Eval).map(|_| ())
    })?;
    let mut gpu_s = 0.0;
    let mut output = None;
    for _ in 0..iterations {
        let start = Instant::now();
        let mut rec = Recorder::new(&ctx);
        let y = model.forward(&mut rec, &x, Mode::Eval)?;
        rec.submit_and_wait()?;
        gpu_s += start.elapsed().as_secs_f64();
        output = Some(y);
    }
    let gpu_s = gpu_s / iterations as f64;
    let audio_s = len as f64 / SAMPLE_RATE as f64;
    println!(
        "inference: {audio_s} s clip ({len} samples, {} frames), mean of {iterations}: \
         GPU {:.3} s per forward, real-time factor {}",
        config.frames(len),
        gpu_s,
        sig3(audio_s / gpu_s)
    );

    if !args.no_cpu {
        let mut cpu_s = 0.0;
        let mut cpu_out = Vec::new();
        for _ in 0..iterations {
            let start = Instant::now();
            cpu_out = conv_tasnet_forward(&config, &weights, &clip, 1, len);
            cpu_s += start.elapsed().as_secs_f64();
        }
        let cpu_s = cpu_s / iterations as f64;
        let gpu_out = match &output {
            Some(y) => y.to_vec(&ctx)?,
            None => Vec::new(),
        };
        let scale = cpu_out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = gpu_out
            .iter()
            .zip(&cpu_out)
            .fold(0.0f32, |m, (g, c)| m.max((g - c).abs()));
        println!(
            "CPU reference: {:.3} s per forward, real-time factor {}; GPU/CPU speed ratio {}; \
             largest |gpu - cpu| {:.1e} of an output scale {:.1e}",
            cpu_s,
            sig3(audio_s / cpu_s),
            sig3(cpu_s / gpu_s),
            diff,
            scale
        );
    }

    print_breakdown(&prof, args.top);

    if !args.no_train {
        train_step(&ctx, &mut model, args.batch, train_len, iterations)?;
    }
    Ok(())
}

/// Three significant digits (ratios on lavapipe go down to 1e-3).
fn sig3(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{x:.decimals$}")
}

fn print_breakdown(prof: &hark::profiler::Profile, top: usize) {
    let mut kernels = prof.kernels.clone();
    kernels.sort_by(|a, b| b.mean_s.total_cmp(&a.mean_s));
    let total = prof.mean_total_s();
    let dispatches: usize = kernels.iter().map(|k| k.calls_per_iteration).sum();
    println!(
        "per-kernel GPU time of one forward ({}, {} iteration(s)): {:.3} s in {dispatches} \
         dispatches; top {}:",
        match prof.method {
            TimingMethod::Timestamps => "timestamps",
            TimingMethod::WallClock => "wall clock per dispatch",
        },
        prof.iterations,
        total,
        top.min(kernels.len())
    );
    for k in kernels.iter().take(top) {
        println!(
            "  {:<26} {:>4} call(s) {:>10.3} ms {:>5.1} %",
            k.kernel,
            k.calls_per_iteration,
            k.mean_s * 1e3,
            100.0 * k.mean_s / total.max(1e-12)
        );
    }
}

/// Wall clock of whole training steps: forward (Mode::Train), L1 loss gradient against a
/// target, backward, Adam (lr 1e-4, the separation paper's), one submit each, waited.
fn train_step(
    ctx: &Context,
    model: &mut ConvTasNet,
    batch: usize,
    len: usize,
    iterations: usize,
) -> hark::Result<()> {
    let sources = model.config().sources;
    let mut rng = SeededRng::new(2);
    let x = Tensor::from_slice(ctx, &[batch, 1, len], &signal(&mut rng, batch * len))?;
    let target = Tensor::from_slice(
        ctx,
        &[batch, sources, len],
        &rng.vec(batch * sources * len, -0.3, 0.3),
    )?;
    let grad = Tensor::zeros(ctx, &[batch, sources, len], DType::F32)?;
    let mut optimizer = Adam::new(ctx, &model.params(), AdamConfig::adam(1e-4))?;
    let mut step = |rec: &mut Recorder| -> hark::Result<()> {
        let y = model.forward(rec, &x, Mode::Train)?;
        l1_loss_backward(rec, &y, &target, 1.0, &grad)?;
        model.backward(rec, &grad)?;
        optimizer.step(rec, &model.params())
    };
    let mut warm = Recorder::new(ctx);
    step(&mut warm)?;
    warm.submit_and_wait()?;
    let start = Instant::now();
    for _ in 0..iterations {
        let mut rec = Recorder::new(ctx);
        step(&mut rec)?;
        rec.submit_and_wait()?;
    }
    let per_step = start.elapsed().as_secs_f64() / iterations as f64;
    let audio_s = (batch * len) as f64 / SAMPLE_RATE as f64;
    println!(
        "training: batch {batch} x {} s, mean of {iterations}: {:.3} s per step (forward + L1 \
         backward + Adam), {} s of audio per second",
        len as f64 / SAMPLE_RATE as f64,
        per_step,
        sig3(audio_s / per_step)
    );
    Ok(())
}
