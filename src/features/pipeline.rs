//! The front end as one object: clips in, features out, every stage on the GPU in one submit per
//! batch. Kinds: complex STFT, power spectrogram, log-mel (mel and log fused in one matmul pass),
//! the whole-clip magnitude spectrum (Wilkinghoff 001), and the DCASE 640-dim stacked log-mel.

use std::collections::HashMap;

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::features::mel::{MelNorm, MelOptions, MelScale};
use crate::kernels::features::mel::MelFilterbank;
use crate::kernels::features::{frame_stack, stacked_vectors, LogKind};
use crate::kernels::fft::{FftPath, RfftPlan, SpectrumKind};
use crate::kernels::stft::{stft_frames, Centering, StftOptions, StftPlan};
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};

/// Which feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    /// Complex STFT, `[frames, bins, 2]` (real, imaginary).
    Stft,
    /// Power spectrogram `|X|^2`, `[frames, bins]`.
    Power,
    /// `10 log10(max(mel power, eps))`, `[frames, n_mels]`.
    Logmel,
    /// Magnitude of the whole clip's real FFT, `[len / 2 + 1]`.
    Spectrum,
    /// `context` consecutive log-mel frames concatenated, `[frames - context + 1, context * n_mels]`.
    Dcase640,
}

/// Front-end parameters. [`FeatureSpec::dcase`] is the DCASE baseline's configuration.
#[derive(Clone, Copy, Debug)]
pub struct FeatureSpec {
    pub kind: FeatureKind,
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub center: Centering,
    pub n_mels: usize,
    pub fmin: f64,
    pub fmax: Option<f64>,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    /// The log's floor.
    pub eps: f32,
    /// Frames per stacked vector ([`FeatureKind::Dcase640`]).
    pub context: usize,
    /// FFT implementation (default: the fused workgroup kernel where it fits).
    pub fft_path: FftPath,
}

impl FeatureSpec {
    /// 16 kHz, n_fft 1024, hop 512, zero-padded centring, 128 Slaney mels, eps 2.2e-16, context 5.
    pub fn dcase(kind: FeatureKind) -> Self {
        Self {
            kind,
            sample_rate: 16_000,
            n_fft: 1024,
            hop: 512,
            center: Centering::Zero,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            eps: f64::EPSILON as f32,
            context: 5,
            fft_path: FftPath::Auto,
        }
    }

    pub fn mel_options(&self) -> MelOptions {
        MelOptions {
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            n_mels: self.n_mels,
            fmin: self.fmin,
            fmax: self.fmax,
            scale: self.mel_scale,
            norm: self.mel_norm,
        }
    }

    /// Shape of one clip's features for a clip of `len` samples.
    pub fn output_shape(&self, len: usize) -> Vec<usize> {
        let bins = self.n_fft / 2 + 1;
        let frames = stft_frames(len, self.n_fft, self.hop, self.center);
        match self.kind {
            FeatureKind::Stft => vec![frames, bins, 2],
            FeatureKind::Power => vec![frames, bins],
            FeatureKind::Logmel => vec![frames, self.n_mels],
            FeatureKind::Spectrum => vec![len / 2 + 1],
            FeatureKind::Dcase640 => vec![
                stacked_vectors(frames, self.context),
                self.context * self.n_mels,
            ],
        }
    }
}

/// Features of one batch: `clips` rows of `shape`, concatenated.
#[derive(Clone, Debug)]
pub struct FeatureBatch {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl FeatureBatch {
    /// Row `i` (one clip's features).
    pub fn clip(&self, i: usize) -> &[f32] {
        let size: usize = self.shape.iter().product();
        &self.data[i * size..(i + 1) * size]
    }
}

/// Turns clips into features on the GPU; plans and filters are built once and reused.
pub struct FeatureExtractor {
    ctx: Context,
    spec: FeatureSpec,
    stft: Option<StftPlan>,
    mel: Option<MelFilterbank>,
    spectra: HashMap<usize, RfftPlan>,
}

impl FeatureExtractor {
    pub fn new(ctx: &Context, spec: &FeatureSpec) -> Result<Self> {
        let needs_stft = spec.kind != FeatureKind::Spectrum;
        let needs_mel = matches!(spec.kind, FeatureKind::Logmel | FeatureKind::Dcase640);
        if spec.kind == FeatureKind::Dcase640 && spec.context == 0 {
            return Err(HarkError::invalid("features", "context must be at least 1"));
        }
        let stft = if needs_stft {
            let output = match spec.kind {
                FeatureKind::Stft => SpectrumKind::Complex,
                _ => SpectrumKind::Power,
            };
            Some(StftPlan::new(
                ctx,
                &StftOptions {
                    n_fft: spec.n_fft,
                    hop: spec.hop,
                    center: spec.center,
                    output,
                    path: spec.fft_path,
                },
            )?)
        } else {
            None
        };
        let mel = if needs_mel {
            Some(MelFilterbank::new(ctx, &spec.mel_options())?)
        } else {
            None
        };
        Ok(Self {
            ctx: ctx.clone(),
            spec: *spec,
            stft,
            mel,
            spectra: HashMap::new(),
        })
    }

    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// Features of clips that all have the same length, in one submit.
    pub fn extract(&mut self, clips: &[Vec<f32>]) -> Result<FeatureBatch> {
        let len = clips.first().map_or(0, Vec::len);
        if clips.is_empty() || len == 0 {
            return Err(HarkError::invalid("features", "no samples to process"));
        }
        if clips.iter().any(|c| c.len() != len) {
            return Err(HarkError::invalid(
                "features",
                "clips of one batch must have the same length",
            ));
        }
        let shape = self.spec.output_shape(len);
        let per_clip: usize = shape.iter().product();
        if per_clip == 0 {
            return Err(HarkError::invalid(
                "features",
                format!(
                    "a clip of {len} samples gives no output for {:?} (shape {shape:?}): it is \
                     shorter than one frame or than the stacking context",
                    self.spec.kind
                ),
            ));
        }
        let batch = clips.len();
        let mut packed = Vec::with_capacity(batch * len);
        for clip in clips {
            packed.extend_from_slice(clip);
        }
        let ctx = self.ctx.clone();
        let input = Tensor::from_slice(&ctx, &[batch, len], &packed)?;
        let mut out_shape = vec![batch];
        out_shape.extend_from_slice(&shape);
        let out = Tensor::zeros(&ctx, &out_shape, DType::F32)?;
        let mut rec = Recorder::new(&ctx);
        self.record(&mut rec, &input, len, &out)?;
        rec.submit()?;
        Ok(FeatureBatch {
            shape,
            data: out.to_vec(&ctx)?,
        })
    }

    /// Records the features of `input` (`[batch, len]`) into `out` (`[batch, ..output_shape]`).
    pub fn record(
        &mut self,
        rec: &mut Recorder,
        input: &Tensor,
        len: usize,
        out: &Tensor,
    ) -> Result<()> {
        let spec = self.spec;
        let batch = input.shape().first().copied().unwrap_or(1);
        let frames = stft_frames(len, spec.n_fft, spec.hop, spec.center);
        let bins = spec.n_fft / 2 + 1;
        let missing = || HarkError::invalid("features", "extractor was built for another kind");
        match spec.kind {
            FeatureKind::Spectrum => {
                if !self.spectra.contains_key(&len) {
                    let plan = RfftPlan::new(&self.ctx, len, spec.fft_path)?;
                    self.spectra.insert(len, plan);
                }
                let plan = self.spectra.get(&len).ok_or_else(missing)?;
                plan.record(rec, input, out, SpectrumKind::Magnitude)
            }
            FeatureKind::Stft | FeatureKind::Power => self
                .stft
                .as_ref()
                .ok_or_else(missing)?
                .record(rec, input, out),
            FeatureKind::Logmel | FeatureKind::Dcase640 => {
                let stft = self.stft.as_ref().ok_or_else(missing)?;
                let mel = self.mel.as_ref().ok_or_else(missing)?;
                let power = Tensor::zeros(&self.ctx, &[batch, frames, bins], DType::F32)?;
                stft.record(rec, input, &power)?;
                let log = LogKind::Decibel { eps: spec.eps };
                if spec.kind == FeatureKind::Logmel {
                    return mel.apply(rec, &power, out, Some(log));
                }
                let logmel = Tensor::zeros(&self.ctx, &[batch, frames, spec.n_mels], DType::F32)?;
                mel.apply(rec, &power, &logmel, Some(log))?;
                frame_stack(rec, &logmel, spec.context, out)
            }
        }
    }
}
