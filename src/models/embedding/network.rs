//! Wilkinghoff's embedding network (REFERENCE-SPECS §4, `wilkinghoff/icassp2023`): a ResNet on
//! the magnitude spectrogram and a 1-D conv stack on the whole clip's magnitude spectrum, no
//! biases, their 128-dim outputs concatenated (spectrum first, as the reference). Built for one
//! clip length: every shape (and every TensorFlow 'same' padding) follows from it.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::kernels::conv1d::Conv1dParams;
use crate::kernels::conv2d::Conv2dParams;
use crate::kernels::elementwise::{concat_columns, copy_columns, split_columns, ColumnBlock};
use crate::kernels::features::mean_normalize;
use crate::kernels::fft::{FftPath, RfftPlan, SpectrumKind};
use crate::kernels::pool::PoolParams;
use crate::kernels::stft::{stft_frames, Centering, StftOptions, StftPlan};
use crate::nn::{
    reuse, Activation, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Flatten, Layer, Linear, MaxPool2d,
    Mode, Param, Residual, SeededInit, Sequential,
};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// STFT of the spectrogram branch (TensorFlow `tf.signal.stft(frame_length=1024,
/// frame_step=512, pad_end=False)`): 311 frames x 513 bins at 10 s, 16 kHz.
pub const N_FFT: usize = 1024;
pub const HOP: usize = 512;
/// Width of each branch's output.
pub const BRANCH_DIM: usize = 128;
/// Channels of the four ResNet stages.
const STAGES: [usize; 4] = [16, 32, 64, 128];

/// Which input representations feed the embedding (the paper's ablation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branches {
    /// Spectrum and spectrogram, 256 dims.
    Both,
    /// Whole-clip spectrum only, 128 dims.
    Spectrum,
    /// Magnitude spectrogram only, 128 dims.
    Spectrogram,
}

impl Branches {
    pub fn name(self) -> &'static str {
        match self {
            Branches::Both => "both",
            Branches::Spectrum => "spectrum",
            Branches::Spectrogram => "spectrogram",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Branches::Both, Branches::Spectrum, Branches::Spectrogram]
            .into_iter()
            .find(|b| b.name() == name)
    }

    fn spectrum(self) -> bool {
        self != Branches::Spectrogram
    }

    fn spectrogram(self) -> bool {
        self != Branches::Spectrum
    }
}

/// The architecture's free choices.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingNetConfig {
    /// Samples per clip (160000 for 10 s at 16 kHz); at least [`min_samples`].
    pub samples: usize,
    pub branches: Branches,
    /// Subtract each spectrogram bin's temporal mean (the reference's "CMN-like" step).
    pub temporal_norm: bool,
    pub fft_path: FftPath,
}

/// The shortest clip the spectrogram branch accepts: 5 frames (the stem's pool needs 3 rows).
pub fn min_samples() -> usize {
    N_FFT + 4 * HOP
}

/// Keras's BatchNormalization defaults (momentum 0.99 is torch's 0.01, eps 1e-3).
fn bn(relu: bool) -> BatchNormConfig {
    BatchNormConfig {
        eps: 1e-3,
        momentum: 0.01,
        relu,
    }
}

/// TensorFlow 'same' for a `len` input, window `k`, stride `s`: (output ceil(len / s), the
/// symmetric padding that gives it with floor-mode arithmetic).
pub fn same_padding(len: usize, k: usize, s: usize) -> (usize, usize) {
    let out = len.div_ceil(s);
    let total = ((out.max(1) - 1) * s + k).saturating_sub(len);
    (out, total.div_ceil(2))
}

/// `[B, T, F]` viewed as `[B * T, F]` for a per-frequency BatchNorm (Keras
/// `BatchNormalization(axis=-2)` on `[B, T, F, 1]`), returned as `[B, 1, T, F]` for the convs.
struct FrequencyBatchNorm {
    inner: BatchNorm1d,
    input_shape: Option<Vec<usize>>,
}

impl Layer for FrequencyBatchNorm {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[b, t, f] = x.shape() else {
            return Err(HarkError::shape(
                "frequency_batchnorm",
                format!("input {:?} must be [batch, frames, bins]", x.shape()),
            ));
        };
        let y = self.inner.forward(rec, &x.reshape(&[b * t, f])?, mode)?;
        self.input_shape = Some(x.shape().to_vec());
        y.reshape(&[b, 1, t, f])
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let shape = self.input_shape.clone().ok_or_else(|| {
            HarkError::invalid("frequency_batchnorm", "backward without a forward")
        })?;
        let g = self
            .inner
            .backward(rec, &grad_output.reshape(&[shape[0] * shape[1], shape[2]])?)?;
        g.reshape(&shape)
    }

    fn params(&self) -> Vec<&Param> {
        self.inner.params()
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        self.inner.buffers()
    }
}

fn conv2d(
    ctx: &Context,
    name: &str,
    io: (usize, usize),
    k: usize,
    stride: usize,
    padding: (usize, usize),
    init: &mut SeededInit,
) -> Result<Box<dyn Layer>> {
    Ok(Box::new(Conv2d::new(
        ctx,
        name,
        io.0,
        io.1,
        (k, k),
        Conv2dParams {
            stride: (stride, stride),
            padding,
            groups: 1,
        },
        false,
        init,
    )?))
}

/// One pre-activation block as the reference wires it: `x = BN(x)`, then
/// `x' = shortcut(x) + conv(ReLU(BN(conv_s(ReLU(x)))))`; the shortcut is the identity, or
/// MaxPool 2x2 'same' + 1x1 conv where the block downsamples. `hw` is the input's (rows, cols);
/// returns the block and the output's.
fn residual_block(
    ctx: &Context,
    name: &str,
    io: (usize, usize),
    stride: usize,
    hw: (usize, usize),
    init: &mut SeededInit,
) -> Result<(Box<dyn Layer>, (usize, usize))> {
    let (oh, ph) = same_padding(hw.0, 3, stride);
    let (ow, pw) = same_padding(hw.1, 3, stride);
    let body = Sequential::new(vec![
        Box::new(Activation::relu(ctx)),
        conv2d(ctx, &format!("{name}.conv1"), io, 3, stride, (ph, pw), init)?,
        Box::new(BatchNorm2d::new(
            ctx,
            &format!("{name}.bn1"),
            io.1,
            bn(true),
        )?),
        conv2d(
            ctx,
            &format!("{name}.conv2"),
            (io.1, io.1),
            3,
            1,
            (1, 1),
            init,
        )?,
    ]);
    let residual = if stride == 1 && io.0 == io.1 {
        Residual::new(ctx, Box::new(body))
    } else {
        let (_, pool_h) = same_padding(hw.0, 2, stride);
        let (_, pool_w) = same_padding(hw.1, 2, stride);
        let shortcut = Sequential::new(vec![
            Box::new(MaxPool2d::new(
                ctx,
                PoolParams {
                    kernel: (2, 2),
                    stride: (stride, stride),
                    padding: (pool_h, pool_w),
                },
            )),
            conv2d(ctx, &format!("{name}.shortcut"), io, 1, 1, (0, 0), init)?,
        ]);
        Residual::with_shortcut(ctx, Box::new(body), Box::new(shortcut))
    };
    let block = Sequential::new(vec![
        Box::new(BatchNorm2d::new(
            ctx,
            &format!("{name}.bn0"),
            io.0,
            bn(false),
        )?),
        Box::new(residual),
    ]);
    Ok((Box::new(block), (oh, ow)))
}

/// The spectrogram ResNet for `frames x bins` inputs `[B, frames, bins]`.
fn spectrogram_branch(
    ctx: &Context,
    frames: usize,
    bins: usize,
    init: &mut SeededInit,
) -> Result<Sequential> {
    let mut layers: Vec<Box<dyn Layer>> = vec![Box::new(FrequencyBatchNorm {
        inner: BatchNorm1d::new(ctx, "spectrogram.freq_bn", bins, bn(false))?,
        input_shape: None,
    })];
    let (h, ph) = same_padding(frames, 7, 2);
    let (w, pw) = same_padding(bins, 7, 2);
    layers.push(conv2d(
        ctx,
        "spectrogram.stem",
        (1, 16),
        7,
        2,
        (ph, pw),
        init,
    )?);
    layers.push(Box::new(BatchNorm2d::new(
        ctx,
        "spectrogram.stem_bn",
        16,
        bn(true),
    )?));
    let pool = PoolParams::new(3, 2, 0);
    let mut hw = pool.output_size(h, w).ok_or_else(|| {
        HarkError::invalid(
            "embedding_net",
            format!(
                "{frames} frames are too few for the spectrogram branch (needs {} samples)",
                min_samples()
            ),
        )
    })?;
    layers.push(Box::new(MaxPool2d::new(ctx, pool)));
    let mut channels = STAGES[0];
    for (s, &out) in STAGES.iter().enumerate() {
        for b in 0..2 {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            let name = format!("spectrogram.stage{}.block{b}", s + 1);
            let (block, next) = residual_block(ctx, &name, (channels, out), stride, hw, init)?;
            layers.push(block);
            hw = next;
            channels = out;
        }
    }
    // MaxPool over all remaining frames: the reference's (10, 1) pool at 10 s, any length here.
    layers.push(Box::new(MaxPool2d::new(
        ctx,
        PoolParams {
            kernel: (hw.0, 1),
            stride: (hw.0, 1),
            padding: (0, 0),
        },
    )));
    layers.push(Box::new(Flatten::new()));
    let flat = channels * hw.1;
    layers.push(Box::new(BatchNorm1d::new(
        ctx,
        "spectrogram.head_bn",
        flat,
        bn(false),
    )?));
    layers.push(Box::new(Linear::new(
        ctx,
        "spectrogram.out",
        flat,
        BRANCH_DIM,
        false,
        init,
    )?));
    Ok(Sequential::new(layers))
}

/// The spectrum branch for `[B, 1, bins]` inputs.
fn spectrum_branch(ctx: &Context, bins: usize, init: &mut SeededInit) -> Result<Sequential> {
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    let mut len = bins;
    let mut channels = 1;
    for (i, (k, s)) in [(256, 64), (64, 32), (16, 4)].into_iter().enumerate() {
        let (out, padding) = same_padding(len, k, s);
        layers.push(Box::new(Conv1d::new(
            ctx,
            &format!("spectrum.conv{i}"),
            channels,
            BRANCH_DIM,
            k,
            Conv1dParams {
                stride: s,
                padding,
                dilation: 1,
                groups: 1,
            },
            false,
            init,
        )?));
        layers.push(Box::new(Activation::relu(ctx)));
        len = out;
        channels = BRANCH_DIM;
    }
    layers.push(Box::new(Flatten::new()));
    let mut inputs = channels * len;
    for i in 0..4 {
        layers.push(Box::new(Linear::new(
            ctx,
            &format!("spectrum.dense{i}"),
            inputs,
            BRANCH_DIM,
            false,
            init,
        )?));
        layers.push(Box::new(BatchNorm1d::new(
            ctx,
            &format!("spectrum.bn{i}"),
            BRANCH_DIM,
            bn(true),
        )?));
        inputs = BRANCH_DIM;
    }
    layers.push(Box::new(Linear::new(
        ctx,
        "spectrum.out",
        BRANCH_DIM,
        BRANCH_DIM,
        false,
        init,
    )?));
    Ok(Sequential::new(layers))
}

/// Tensors kept across steps (remade only when the batch changes).
#[derive(Default)]
struct Scratch {
    magnitude: Option<Tensor>,
    centred: Option<Tensor>,
    spectrum_full: Option<Tensor>,
    spectrum: Option<Tensor>,
    embedding: Option<Tensor>,
    grad_spectrum: Option<Tensor>,
    grad_spectrogram: Option<Tensor>,
}

/// The two-branch network: waveforms `[B, samples]` in, embeddings `[B, dim]` out.
pub struct EmbeddingNet {
    ctx: Context,
    config: EmbeddingNetConfig,
    stft: StftPlan,
    rfft: RfftPlan,
    frames: usize,
    spectrogram: Option<Sequential>,
    spectrum: Option<Sequential>,
    scratch: Scratch,
}

impl EmbeddingNet {
    /// A freshly initialised network (torch's default initialisation, seeded).
    pub fn new(ctx: &Context, config: EmbeddingNetConfig, seed: u64) -> Result<Self> {
        if config.samples < min_samples() {
            return Err(HarkError::invalid(
                "embedding_net",
                format!(
                    "clips of {} samples are too short: the network needs at least {}",
                    config.samples,
                    min_samples()
                ),
            ));
        }
        let mut init = SeededInit::new(seed);
        let frames = stft_frames(config.samples, N_FFT, HOP, Centering::None);
        let spectrogram = if config.branches.spectrogram() {
            Some(spectrogram_branch(ctx, frames, N_FFT / 2 + 1, &mut init)?)
        } else {
            None
        };
        let spectrum = if config.branches.spectrum() {
            Some(spectrum_branch(ctx, config.samples / 2, &mut init)?)
        } else {
            None
        };
        Ok(Self {
            ctx: ctx.clone(),
            stft: StftPlan::new(
                ctx,
                &StftOptions {
                    n_fft: N_FFT,
                    hop: HOP,
                    center: Centering::None,
                    output: SpectrumKind::Magnitude,
                    path: config.fft_path,
                },
            )?,
            rfft: RfftPlan::new(ctx, config.samples, config.fft_path)?,
            frames,
            config,
            spectrogram,
            spectrum,
            scratch: Scratch::default(),
        })
    }

    pub fn config(&self) -> &EmbeddingNetConfig {
        &self.config
    }

    /// Embedding width: 256 with both branches, else 128.
    pub fn dim(&self) -> usize {
        match self.config.branches {
            Branches::Both => 2 * BRANCH_DIM,
            _ => BRANCH_DIM,
        }
    }

    /// Records the embeddings of `waves` (`[batch, samples]`). In [`Mode::Train`] the
    /// BatchNorms use batch statistics and the layers save what [`EmbeddingNet::backward`]
    /// needs.
    pub fn forward(&mut self, rec: &mut Recorder, waves: &Tensor, mode: Mode) -> Result<Tensor> {
        let &[batch, samples] = waves.shape() else {
            return Err(HarkError::shape(
                "embedding_net",
                format!("waves {:?} must be [batch, samples]", waves.shape()),
            ));
        };
        if samples != self.config.samples {
            return Err(HarkError::shape(
                "embedding_net",
                format!(
                    "clips of {samples} samples; the network was built for {}",
                    self.config.samples
                ),
            ));
        }
        let ctx = self.ctx.clone();
        let s = &mut self.scratch;
        let spectrum_out = match &mut self.spectrum {
            Some(branch) => {
                let bins = samples / 2;
                let full = reuse(&ctx, &mut s.spectrum_full, &[batch, self.rfft.bins()])?;
                self.rfft
                    .record(rec, waves, &full, SpectrumKind::Magnitude)?;
                // The reference keeps the first samples / 2 bins (drops Nyquist).
                let cut = reuse(&ctx, &mut s.spectrum, &[batch, 1, bins])?;
                copy_columns(
                    rec,
                    &full,
                    &cut,
                    ColumnBlock {
                        src_offset: 0,
                        dst_offset: 0,
                        cols: bins,
                    },
                )?;
                Some(branch.forward(rec, &cut, mode)?)
            }
            None => None,
        };
        let spectrogram_out = match &mut self.spectrogram {
            Some(branch) => {
                let shape = [batch, self.frames, N_FFT / 2 + 1];
                let magnitude = reuse(&ctx, &mut s.magnitude, &shape)?;
                self.stft.record(rec, waves, &magnitude)?;
                let input = if self.config.temporal_norm {
                    let centred = reuse(&ctx, &mut s.centred, &shape)?;
                    mean_normalize(rec, &magnitude, &centred)?;
                    centred
                } else {
                    magnitude
                };
                Some(branch.forward(rec, &input, mode)?)
            }
            None => None,
        };
        match (spectrum_out, spectrogram_out) {
            (Some(a), Some(b)) => {
                let out = reuse(&ctx, &mut s.embedding, &[batch, 2 * BRANCH_DIM])?;
                concat_columns(rec, &a, &b, &out)?;
                Ok(out)
            }
            (Some(a), None) => Ok(a),
            (None, Some(b)) => Ok(b),
            (None, None) => Err(HarkError::invalid("embedding_net", "no branch")),
        }
    }

    /// Records the backward pass of the last training forward from d loss / d embedding
    /// (`[batch, dim]`), writing every parameter's gradient.
    pub fn backward(&mut self, rec: &mut Recorder, grad: &Tensor) -> Result<()> {
        let ctx = self.ctx.clone();
        let batch = grad.shape().first().copied().unwrap_or(0);
        let s = &mut self.scratch;
        match (&mut self.spectrum, &mut self.spectrogram) {
            (Some(spectrum), Some(spectrogram)) => {
                let ga = reuse(&ctx, &mut s.grad_spectrum, &[batch, BRANCH_DIM])?;
                let gb = reuse(&ctx, &mut s.grad_spectrogram, &[batch, BRANCH_DIM])?;
                split_columns(rec, grad, &ga, &gb)?;
                spectrum.backward(rec, &ga)?;
                spectrogram.backward(rec, &gb)?;
            }
            (Some(branch), None) | (None, Some(branch)) => {
                branch.backward(rec, grad)?;
            }
            (None, None) => return Err(HarkError::invalid("embedding_net", "no branch")),
        }
        Ok(())
    }

    /// Trainable parameters: spectrum branch first, then the spectrogram branch.
    pub fn params(&self) -> Vec<&Param> {
        let mut params = Vec::new();
        for branch in [&self.spectrum, &self.spectrogram].into_iter().flatten() {
            params.extend(branch.params());
        }
        params
    }

    /// Running statistics of every BatchNorm.
    pub fn buffers(&self) -> Vec<(String, &Tensor)> {
        let mut buffers = Vec::new();
        for branch in [&self.spectrum, &self.spectrogram].into_iter().flatten() {
            buffers.extend(branch.buffers());
        }
        buffers
    }

    /// Parameters and running statistics by name.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        entries.extend(self.buffers());
        entries
    }
}
