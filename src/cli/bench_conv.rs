//! `hark bench conv`: the depthwise conv1d (Conv-TasNet's) and the direct 3x3 conv2d, timed
//! like `peer-bench depthwise` / `peer-bench conv2d` (burn on the same adapter): median wall
//! time of record, submit and read-back after a warm-up, plus the GPU time from timestamps.

use std::time::Instant;

use clap::{Args, Subcommand};
use hark::kernels::conv1d::{conv1d, Conv1dParams};
use hark::kernels::conv2d::{conv2d, Conv2dParams};
use hark::nn::{Conv2d, Layer, Mode, SeededInit};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, DType, HarkError, Recorder, Tensor};

#[derive(Args, Debug)]
pub struct BenchConvArgs {
    #[command(subcommand)]
    which: ConvCommand,
    /// Timed iterations (after one untimed warm-up).
    #[arg(long, default_value_t = 5, global = true)]
    iters: usize,
}

#[derive(Subcommand, Debug)]
enum ConvCommand {
    /// Depthwise conv1d, batch 1, groups = C, padding dilation * (KERNEL - 1) / 2.
    Depthwise {
        channels: usize,
        length: usize,
        kernel: usize,
        dilation: usize,
    },
    /// Dense conv2d, stride 1, padding KERNEL / 2: the direct kernel, or with `--layer` the
    /// `nn::Conv2d` layer the models run (im2col + the tiled matmul).
    Conv2d {
        batch: usize,
        channels: usize,
        height: usize,
        width: usize,
        out_channels: usize,
        kernel: usize,
        #[arg(long)]
        layer: bool,
    },
}

pub fn run(args: &BenchConvArgs) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?})",
        info.name, info.device_type, info.backend
    );
    let mut rng = SeededRng::new(7);
    let nonzero = |v: usize, what: &str| {
        if v == 0 {
            Err(HarkError::invalid(
                "bench conv",
                format!("{what} must be at least 1"),
            ))
        } else {
            Ok(v)
        }
    };
    match args.which {
        ConvCommand::Depthwise {
            channels,
            length,
            kernel,
            dilation,
        } => {
            let (c, l) = (nonzero(channels, "C")?, nonzero(length, "L")?);
            let (k, d) = (nonzero(kernel, "KERNEL")?, nonzero(dilation, "DILATION")?);
            let pad = d * (k - 1) / 2;
            let x = Tensor::from_slice(&ctx, &[1, c, l], &rng.vec(c * l, -1.0, 1.0))?;
            let w = Tensor::from_slice(&ctx, &[c, 1, k], &rng.vec(c * k, -1.0, 1.0))?;
            let out_len = l + 2 * pad - d * (k - 1);
            let out = Tensor::zeros(&ctx, &[1, c, out_len], DType::F32)?;
            let params = Conv1dParams {
                padding: pad,
                dilation: d,
                groups: c,
                ..Default::default()
            };
            let flops = 2.0 * (c * out_len * k) as f64;
            report(
                &ctx,
                args.iters,
                &format!("depthwise conv1d C={c} L={l} k={k} d={d}"),
                flops,
                &out,
                |rec| conv1d(rec, &x, &w, None, &params, &out),
            )
        }
        ConvCommand::Conv2d {
            batch,
            channels,
            height,
            width,
            out_channels,
            kernel,
            layer,
        } => {
            let (n, c) = (nonzero(batch, "N")?, nonzero(channels, "C")?);
            let (h, wd) = (nonzero(height, "H")?, nonzero(width, "W")?);
            let (o, k) = (nonzero(out_channels, "OUT")?, nonzero(kernel, "KERNEL")?);
            let x = Tensor::from_slice(&ctx, &[n, c, h, wd], &rng.vec(n * c * h * wd, -1.0, 1.0))?;
            let w = Tensor::from_slice(&ctx, &[o, c, k, k], &rng.vec(o * c * k * k, -1.0, 1.0))?;
            let (oh, ow) = (h + 2 * (k / 2) + 1 - k, wd + 2 * (k / 2) + 1 - k);
            let out = Tensor::zeros(&ctx, &[n, o, oh, ow], DType::F32)?;
            let params = Conv2dParams::new(1, k / 2);
            let flops = 2.0 * (n * o * oh * ow * c * k * k) as f64;
            if layer {
                let mut init = SeededInit::new(7);
                let mut conv = Conv2d::new(&ctx, "conv", c, o, (k, k), params, false, &mut init)?;
                let y = Tensor::zeros(&ctx, &[n, o, oh, ow], DType::F32)?;
                return report(
                    &ctx,
                    args.iters,
                    &format!("conv2d layer (im2col + matmul) {n}x{c}x{h}x{wd} -> {o} k{k}"),
                    flops,
                    &y,
                    |rec| {
                        let out = conv.forward(rec, &x, Mode::Eval)?;
                        // The read-back target: the layer's own output buffer.
                        hark::kernels::elementwise::scale(rec, &out, 1.0, &y)
                    },
                );
            }
            report(
                &ctx,
                args.iters,
                &format!("conv2d {n}x{c}x{h}x{wd} -> {o} k{k}"),
                flops,
                &out,
                |rec| conv2d(rec, &x, &w, None, &out, &params),
            )
        }
    }
}

fn report(
    ctx: &Context,
    iters: usize,
    what: &str,
    flops: f64,
    out: &Tensor,
    mut record: impl FnMut(&mut Recorder) -> hark::Result<()>,
) -> hark::Result<()> {
    let prof = profile(ctx, iters, false, &mut record)?;
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let start = Instant::now();
        let mut rec = Recorder::new(ctx);
        record(&mut rec)?;
        rec.submit()?;
        let _ = out.to_vec(ctx)?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let wall = times[times.len() / 2];
    let gpu = prof.mean_total_s();
    println!(
        "hark {what}: {:.1} ms wall (median of {iters}, read-back included), {:.1} ms GPU, {:.2} GFLOP/s (GPU time)",
        wall * 1e3,
        gpu * 1e3,
        flops / gpu.max(1e-12) / 1e9
    );
    Ok(())
}
