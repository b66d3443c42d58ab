//! TgramNet (STgram-MFN, REFERENCE-SPECS §1): a learned front end on the raw wave,
//! `Conv1d(1, 128, 1024, stride 512, padding 512, no bias)` then three
//! `LayerNorm(frames) -> LeakyReLU(0.2) -> Conv1d(128, 128, 3, padding 1, no bias)` blocks, where
//! the LayerNorm runs over the time axis (its weights have one entry per frame, so the network is
//! built for one clip length: 313 frames for 10 s at 16 kHz).

use crate::context::Context;
use crate::error::Result;
use crate::kernels::conv1d::Conv1dParams;
use crate::nn::{Activation, Conv1d, Layer, LayerNorm, Nonlinearity, SeededInit, Sequential};

/// Channels of the Tgram, equal to the log-mel's bins so that the two stack.
pub const TGRAM_CHANNELS: usize = 128;
/// The first convolution's kernel and stride: the log-mel's n_fft and hop.
pub const TGRAM_WINDOW: usize = 1024;
pub const TGRAM_HOP: usize = 512;

/// Frames of the Tgram (and of the centred log-mel) for a clip of `len` samples.
pub fn tgram_frames(len: usize) -> usize {
    len / TGRAM_HOP + 1
}

/// TgramNet for clips of `frames` frames, `[N, 1, samples]` -> `[N, 128, frames]`, parameters
/// named `{prefix}.0.weight` (the strided conv), then `{prefix}.{1 + 3k}` (LayerNorm) and
/// `{prefix}.{3 + 3k}` (conv) for block k, as an `nn.Sequential` would name them.
pub fn tgram_net(
    ctx: &Context,
    prefix: &str,
    frames: usize,
    init: &mut SeededInit,
) -> Result<Sequential> {
    let mut layers: Vec<Box<dyn Layer>> = vec![Box::new(Conv1d::new(
        ctx,
        &format!("{prefix}.0"),
        1,
        TGRAM_CHANNELS,
        TGRAM_WINDOW,
        Conv1dParams {
            stride: TGRAM_HOP,
            padding: TGRAM_WINDOW / 2,
            ..Conv1dParams::default()
        },
        false,
        init,
    )?)];
    for block in 0..3 {
        let base = 1 + 3 * block;
        layers.push(Box::new(LayerNorm::new(
            ctx,
            &format!("{prefix}.{base}"),
            frames,
            1e-5,
        )?));
        layers.push(Box::new(Activation::new(ctx, Nonlinearity::LeakyRelu(0.2))));
        layers.push(Box::new(Conv1d::new(
            ctx,
            &format!("{prefix}.{}", base + 2),
            TGRAM_CHANNELS,
            TGRAM_CHANNELS,
            3,
            Conv1dParams {
                padding: 1,
                ..Conv1dParams::default()
            },
            false,
            init,
        )?));
    }
    Ok(Sequential::new(layers))
}
