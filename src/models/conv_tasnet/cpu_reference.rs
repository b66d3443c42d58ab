//! CPU reference of the whole Conv-TasNet forward (REFERENCE-SPECS §2), from a state dict under
//! torchaudio's names. It is both the check of the GPU model at full size and the CPU baseline
//! that `hark bench separate` reports its ratio against, so it is written to be reasonably fast:
//! every 1x1 convolution, the encoder and the decoder are SGEMMs (matrixmultiply, the library
//! `hark bench matmul` compares against), the depthwise convolutions and gLNs are f32 loops
//! over channels spread on all cores (gLN statistics summed in f64). The elementwise steps are
//! the CPU twins of their kernels (PReLU of the output, the mask activation, `mask_apply`,
//! `resize_frames`).

use std::collections::HashMap;

use super::{ConvTasNetConfig, MaskActivation};
use crate::cpu::elementwise::{prelu, unary};
use crate::cpu::separation::{mask_apply, resize_frames};
use crate::params::elementwise::UnaryOp;

/// gLN's epsilon in torchaudio.
const GLN_EPS: f64 = 1e-8;

/// Separated sources `[batch, sources, len]` of `input [batch, len]` (or `[batch, 1, len]`).
///
/// # Panics
/// When `input` is not `batch * len` long, or a state-dict tensor of `config` is missing from
/// `weights` or has the wrong number of values (the message names it). This is a reference for
/// tests and benches, fed from a model's own state dict.
pub fn conv_tasnet_forward(
    config: &ConvTasNetConfig,
    weights: &HashMap<String, Vec<f32>>,
    input: &[f32],
    batch: usize,
    len: usize,
) -> Vec<f32> {
    assert_eq!(
        input.len(),
        batch * len,
        "conv_tasnet_forward: input of {} values for batch {batch} x {len} samples",
        input.len()
    );
    let w = Weights { map: weights };
    let mut out = Vec::with_capacity(batch * config.sources * len);
    // One sample at a time: the SGEMMs and the channel loops inside already use every core.
    for x in input.chunks(len.max(1)).take(batch) {
        out.extend(forward_one(config, &w, x));
    }
    out
}

/// State-dict look-up with the length checked.
struct Weights<'a> {
    map: &'a HashMap<String, Vec<f32>>,
}

impl Weights<'_> {
    fn get(&self, name: &str, numel: usize) -> &[f32] {
        let Some(v) = self.map.get(name) else {
            panic!("conv_tasnet_forward: state dict lacks {name}");
        };
        assert_eq!(
            v.len(),
            numel,
            "conv_tasnet_forward: {name} has {} values, expected {numel}",
            v.len()
        );
        v
    }
}

/// `[sources, len]` of one mono signal.
fn forward_one(config: &ConvTasNetConfig, w: &Weights, x: &[f32]) -> Vec<f32> {
    let len = x.len();
    let (n, l, s) = (config.enc_feats, config.enc_kernel, config.sources);
    let stride = config.stride();
    let padded_len = len + config.end_padding(len);
    let padded = resize_frames(x, len, padded_len);
    let frames = config.frames(len);

    let feats = encoder(
        &padded,
        w.get("encoder.weight", n * l),
        n,
        l,
        stride,
        frames,
    );
    let masks = mask_generator(config, w, &feats, frames);
    // [sources, N, frames]
    let masked = mask_apply(&masks, &feats, s, n * frames);
    let mut out = Vec::with_capacity(s * len);
    for source in masked.chunks(n * frames) {
        let decoded = decoder(source, w.get("decoder.weight", n * l), n, l, stride, frames);
        let decoded_len = decoded.len();
        out.extend(resize_frames(&decoded, decoded_len, len));
    }
    out
}

/// `Conv1d(1, N, L, stride, padding = stride, no bias)` of a padded signal: `[N, frames]`,
/// as the SGEMM `w [N, L] x columns [L, frames]`.
pub fn encoder(
    x: &[f32],
    weight: &[f32],
    feats: usize,
    kernel: usize,
    stride: usize,
    frames: usize,
) -> Vec<f32> {
    let mut columns = vec![0.0f32; kernel * frames];
    for k in 0..kernel {
        for t in 0..frames {
            // Position in the signal of tap k of frame t (the padding is `stride` zeros).
            let pos = (t * stride + k).checked_sub(stride);
            if let Some(&v) = pos.and_then(|p| x.get(p)) {
                columns[k * frames + t] = v;
            }
        }
    }
    let mut out = vec![0.0f32; feats * frames];
    gemm(
        Gemm {
            m: feats,
            n: frames,
            k: kernel,
            trans_a: false,
            accumulate: false,
        },
        weight,
        &columns,
        &mut out,
    );
    out
}

/// `ConvTranspose1d(N, 1, L, stride, padding = stride, no bias)` of `x [N, frames]`: the SGEMM
/// `w^T [L, N] x x [N, frames]`, then each frame's L values added at `t * stride + k - stride`.
pub fn decoder(
    x: &[f32],
    weight: &[f32],
    feats: usize,
    kernel: usize,
    stride: usize,
    frames: usize,
) -> Vec<f32> {
    let mut columns = vec![0.0f32; kernel * frames];
    gemm(
        Gemm {
            m: kernel,
            n: frames,
            k: feats,
            trans_a: true,
            accumulate: false,
        },
        weight,
        x,
        &mut columns,
    );
    let out_len = (frames.saturating_sub(1) * stride + kernel).saturating_sub(2 * stride);
    let mut out = vec![0.0f32; out_len];
    for k in 0..kernel {
        for t in 0..frames {
            let pos = (t * stride + k).checked_sub(stride);
            if let Some(o) = pos.and_then(|p| out.get_mut(p)) {
                *o += columns[k * frames + t];
            }
        }
    }
    out
}

/// Masks `[N * sources, frames]` of encoder features `[N, frames]`.
fn mask_generator(
    config: &ConvTasNetConfig,
    w: &Weights,
    feats: &[f32],
    frames: usize,
) -> Vec<f32> {
    let (n, b, h, p) = (
        config.enc_feats,
        config.msk_feats,
        config.msk_hidden,
        config.msk_kernel,
    );
    let mg = "mask_generator";
    let mut normed = feats.to_vec();
    global_layer_norm(
        &mut normed,
        n,
        frames,
        None,
        w.get(&format!("{mg}.input_norm.weight"), n),
        w.get(&format!("{mg}.input_norm.bias"), n),
    );
    let mut x = vec![0.0f32; b * frames];
    pointwise(w, &format!("{mg}.input_conv"), n, b, &normed, &mut x, false);
    let mut skip_sum = vec![0.0f32; b * frames];
    let blocks = config.msk_stacks * config.msk_layers;
    let mut hidden = vec![0.0f32; h * frames];
    let mut hidden2 = vec![0.0f32; h * frames];
    for i in 0..blocks {
        let name = format!("{mg}.conv_layers.{i}");
        let layer = |j: usize, what: &str| format!("{name}.conv_layers.{j}.{what}");
        let dilation = 1 << (i % config.msk_layers);
        pointwise(
            w,
            &format!("{name}.conv_layers.0"),
            b,
            h,
            &x,
            &mut hidden,
            false,
        );
        global_layer_norm(
            &mut hidden,
            h,
            frames,
            Some(w.get(&layer(1, "weight"), 1)[0]),
            w.get(&layer(2, "weight"), h),
            w.get(&layer(2, "bias"), h),
        );
        depthwise_conv1d(
            &hidden,
            w.get(&layer(3, "weight"), h * p),
            w.get(&layer(3, "bias"), h),
            h,
            frames,
            p,
            dilation,
            &mut hidden2,
        );
        global_layer_norm(
            &mut hidden2,
            h,
            frames,
            Some(w.get(&layer(4, "weight"), 1)[0]),
            w.get(&layer(5, "weight"), h),
            w.get(&layer(5, "bias"), h),
        );
        if i + 1 < blocks {
            pointwise(w, &format!("{name}.res_out"), h, b, &hidden2, &mut x, true);
        }
        pointwise(
            w,
            &format!("{name}.skip_out"),
            h,
            b,
            &hidden2,
            &mut skip_sum,
            true,
        );
    }
    let y = prelu(
        &skip_sum,
        &[1, b, frames],
        w.get(&format!("{mg}.output_prelu.weight"), 1),
    );
    let outputs = n * config.sources;
    let mut logits = vec![0.0f32; outputs * frames];
    pointwise(
        w,
        &format!("{mg}.output_conv"),
        b,
        outputs,
        &y,
        &mut logits,
        false,
    );
    let op = match config.mask {
        MaskActivation::Sigmoid => UnaryOp::Sigmoid,
        MaskActivation::Relu => UnaryOp::Relu,
    };
    unary(op, &logits)
}

/// `out (+)= conv1x1(x)` with `<name>.weight [outputs, inputs, 1]` and `<name>.bias`; with
/// `accumulate` the convolution (bias included) is added to `out`.
fn pointwise(
    w: &Weights,
    name: &str,
    inputs: usize,
    outputs: usize,
    x: &[f32],
    out: &mut [f32],
    accumulate: bool,
) {
    let weight = w.get(&format!("{name}.weight"), outputs * inputs);
    let bias = w.get(&format!("{name}.bias"), outputs);
    let frames = x.len() / inputs.max(1);
    gemm(
        Gemm {
            m: outputs,
            n: frames,
            k: inputs,
            trans_a: false,
            accumulate,
        },
        weight,
        x,
        out,
    );
    for (row, &bv) in out.chunks_mut(frames.max(1)).zip(bias) {
        row.iter_mut().for_each(|v| *v += bv);
    }
}

/// Sizes of `c [m, n] (+)= op(a) [m, k] x b [k, n]`, row-major; `trans_a`: `a` is `[k, m]`.
#[derive(Clone, Copy)]
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    accumulate: bool,
}

fn gemm(g: Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    let Gemm { m, n, k, .. } = g;
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "conv_tasnet gemm: slices shorter than the shapes"
    );
    let (rsa, csa) = if g.trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let beta = if g.accumulate { 1.0 } else { 0.0 };
    // SAFETY: the assert above guarantees that every element the strides reach is inside its
    // slice (for `a` transposed, element (i, p) is at p * m + i < k * m).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            n as isize,
            1,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Depthwise `conv1d(x [channels, frames], w [channels, 1, kernel], bias)` with dilation
/// `dilation` and padding `dilation * (kernel - 1) / 2` (the length is kept), into `out`.
#[allow(clippy::too_many_arguments)] // The convolution's operands and sizes.
pub fn depthwise_conv1d(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    channels: usize,
    frames: usize,
    kernel: usize,
    dilation: usize,
    out: &mut [f32],
) {
    assert!(
        x.len() == channels * frames && out.len() == x.len() && weight.len() == channels * kernel,
        "depthwise_conv1d: operands do not match {channels} channels x {frames} frames"
    );
    let pad = (dilation * (kernel - 1) / 2) as isize;
    for_rows(out, frames, |c, row| {
        let xs = &x[c * frames..(c + 1) * frames];
        row.fill(bias[c]);
        for k in 0..kernel {
            let wk = weight[c * kernel + k];
            // out[t] += w * x[t + shift] for the t where the tap lands inside x.
            let shift = (k * dilation) as isize - pad;
            let t0 = (-shift).clamp(0, frames as isize) as usize;
            let t1 = (frames as isize - shift).clamp(0, frames as isize) as usize;
            if t0 >= t1 {
                continue;
            }
            let src = &xs[(t0 as isize + shift) as usize..(t1 as isize + shift) as usize];
            for (o, &v) in row[t0..t1].iter_mut().zip(src) {
                *o += wk * v;
            }
        }
    });
}

/// In place: optional shared-slope PReLU, then gLN (`GroupNorm(1, channels)`: mean and variance
/// over all of `x [channels, frames]`, summed in f64, eps 1e-8) with per-channel affine.
pub fn global_layer_norm(
    x: &mut [f32],
    channels: usize,
    frames: usize,
    prelu_slope: Option<f32>,
    weight: &[f32],
    bias: &[f32],
) {
    let partial = std::sync::Mutex::new((0.0f64, 0.0f64));
    for_row_chunks(x, frames, |_, rows| {
        if let Some(a) = prelu_slope {
            rows.iter_mut().for_each(|v| {
                if *v < 0.0 {
                    *v *= a;
                }
            });
        }
        let (mut sum, mut sq) = (0.0f64, 0.0f64);
        for &v in rows.iter() {
            let v = f64::from(v);
            sum += v;
            sq += v * v;
        }
        if let Ok(mut p) = partial.lock() {
            p.0 += sum;
            p.1 += sq;
        }
    });
    let (sum, sq) = partial.into_inner().unwrap_or_else(|e| e.into_inner());
    let count = (channels * frames).max(1) as f64;
    let mean = sum / count;
    // E[x^2] - mean^2 in f64: the f32 values' squares lose nothing that matters at 1e-8 here.
    let var = (sq / count - mean * mean).max(0.0);
    let rstd = 1.0 / (var + GLN_EPS).sqrt();
    for_rows(x, frames, |c, row| {
        let scale = (rstd * f64::from(weight[c])) as f32;
        let shift = (f64::from(bias[c]) - mean * rstd * f64::from(weight[c])) as f32;
        row.iter_mut().for_each(|v| *v = *v * scale + shift);
    });
}

/// Calls `f(row_index, row)` for every `row_len` row of `data`, the rows split over all cores.
fn for_rows(data: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    for_row_chunks(data, row_len, |first, rows| {
        for (i, row) in rows.chunks_mut(row_len.max(1)).enumerate() {
            f(first + i, row);
        }
    });
}

/// Calls `f(first_row, rows)` on one contiguous run of whole rows per core.
fn for_row_chunks(data: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let row_len = row_len.max(1);
    let rows = data.len() / row_len;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.max(1));
    if threads <= 1 {
        f(0, data);
        return;
    }
    let per_thread = rows.div_ceil(threads);
    std::thread::scope(|scope| {
        for (i, chunk) in data.chunks_mut(per_thread * row_len).enumerate() {
            let f = &f;
            scope.spawn(move || f(i * per_thread, chunk));
        }
    });
}
