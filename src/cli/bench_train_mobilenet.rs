//! `hark bench train --system mobilenet`: training throughput of the DCASE 2022 MobileNetV2
//! (width 0.5, 64 x 128 log-mel patches, 3 sections) in patches/s and 10 s clips/s, with the
//! per-kernel GPU time of one step, slowest first.

use std::time::Instant;

use hark::kernels::loss::cross_entropy_backward;
use hark::kernels::optim::AdamConfig;
use hark::models::mobilenet::{patch_starts, MobileNetV2, MobileNetV2Config};
use hark::nn::{Adam, Layer, Mode};
use hark::profiler::profile;
use hark::rng::SeededRng;
use hark::{Context, DType, Recorder, Tensor};

const SECTIONS: usize = 3;
const FRAMES: usize = 64;
const MELS: usize = 128;
/// Log-mel frames of a 10 s DCASE clip at hop 512 with centring (`1 + 160000 / 512`).
const CLIP_FRAMES: usize = 313;

pub fn run(batch: usize, steps: usize) -> hark::Result<()> {
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let per_clip = patch_starts(CLIP_FRAMES, FRAMES, 8)?.len();
    println!(
        "adapter: {} ({:?}, {:?}); MobileNetV2 x0.5 on [{batch}, 1, {FRAMES}, {MELS}] patches, \
         {SECTIONS} sections",
        info.name, info.device_type, info.backend
    );
    let mut model = MobileNetV2::new(&ctx, MobileNetV2Config::dcase2022(SECTIONS), 0)?;
    let mut optimizer = Adam::new(&ctx, &model.params(), AdamConfig::adam(1e-4))?;
    let mut rng = SeededRng::new(1);
    let x = Tensor::from_slice(
        &ctx,
        &[batch, 1, FRAMES, MELS],
        &rng.vec(batch * FRAMES * MELS, -80.0, 0.0),
    )?;
    let mut targets = vec![0.0f32; batch * SECTIONS];
    for row in 0..batch {
        targets[row * SECTIONS + row % SECTIONS] = 1.0;
    }
    let target = Tensor::from_slice(&ctx, &[batch, SECTIONS], &targets)?;
    let grad = Tensor::zeros(&ctx, &[batch, SECTIONS], DType::F32)?;
    let mut step = |rec: &mut Recorder| -> hark::Result<()> {
        let logits = model.forward(rec, &x, Mode::Train)?;
        cross_entropy_backward(rec, &logits, &target, 1.0, &grad)?;
        model.backward(rec, &grad)?;
        optimizer.step(rec, &model.params())
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
    let patches_per_s = batch as f64 / per_step;
    println!(
        "training: {:.1} ms/step, {patches_per_s:.1} patches/s, {:.2} clips/s (10 s clips, \
         {per_clip} patches each at hop 8)",
        per_step * 1e3,
        patches_per_s / per_clip as f64
    );
    let prof = profile(&ctx, 2, false, |rec| step(rec))?;
    super::bench_train::print_kernel_breakdown(&prof);
    Ok(())
}
