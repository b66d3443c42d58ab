//! The same front end on the CPU with well-kept libraries (realfft for the FFT, matrixmultiply
//! for the mel matmul), f32 and one thread per core: the baseline `hark bench frontend` and
//! `benches/frontend.rs` measure the GPU path against, on the same machine in the same run.

use realfft::RealFftPlanner;

use crate::cpu::matmul::sgemm_matrixmultiply;
use crate::features::mel::mel_filterbank;
use crate::features::pipeline::FeatureSpec;
use crate::kernels::stft::{stft_frames, Centering};

/// Runs `work` over `clips` on all cores; results in clip order.
fn per_clip<T: Send>(clips: &[Vec<f32>], work: impl Fn(&[f32]) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = clips.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = clips
            .chunks(chunk)
            .map(|part| {
                let work = &work;
                scope.spawn(move || part.iter().map(|c| work(c)).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Log-mel `[frames, n_mels]` of each clip (zero-padded centring as librosa).
pub fn logmel(clips: &[Vec<f32>], spec: &FeatureSpec) -> Vec<Vec<f32>> {
    let n_fft = spec.n_fft;
    let bins = n_fft / 2 + 1;
    let filters = mel_filterbank(&crate::features::mel::MelOptions {
        sample_rate: spec.sample_rate,
        n_fft,
        n_mels: spec.n_mels,
        fmin: spec.fmin,
        fmax: spec.fmax,
        scale: spec.mel_scale,
        norm: spec.mel_norm,
    })
    .unwrap_or_default();
    // Filters transposed to [bins, n_mels] so that power [frames, bins] x it is row-major.
    let mut filters_t = vec![0.0f32; bins * spec.n_mels];
    for m in 0..spec.n_mels {
        for k in 0..bins {
            filters_t[k * spec.n_mels + m] = filters.get(m * bins + k).copied().unwrap_or(0.0);
        }
    }
    let window: Vec<f32> = (0..n_fft)
        .map(|t| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / n_fft as f64).cos()) as f32)
        .collect();
    per_clip(clips, |clip| {
        let pad = if spec.center == Centering::None {
            0
        } else {
            n_fft / 2
        };
        let frames = stft_frames(clip.len(), n_fft, spec.hop, spec.center);
        let mut padded = vec![0.0f32; clip.len() + 2 * pad];
        padded[pad..pad + clip.len()].copy_from_slice(clip);
        let plan = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let mut frame = plan.make_input_vec();
        let mut spectrum = plan.make_output_vec();
        let mut power = vec![0.0f32; frames * bins];
        for t in 0..frames {
            let start = t * spec.hop;
            for (i, v) in frame.iter_mut().enumerate() {
                *v = padded.get(start + i).copied().unwrap_or(0.0) * window[i];
            }
            if plan.process(&mut frame, &mut spectrum).is_err() {
                return Vec::new();
            }
            for (p, c) in power[t * bins..(t + 1) * bins].iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
        }
        let mut mel = vec![0.0f32; frames * spec.n_mels];
        sgemm_matrixmultiply(frames, spec.n_mels, bins, &power, &filters_t, &mut mel);
        mel.iter()
            .map(|&v| 10.0 * v.max(spec.eps).log10())
            .collect()
    })
}

/// Magnitude of each clip's real FFT, `[len / 2 + 1]`.
pub fn spectrum(clips: &[Vec<f32>]) -> Vec<Vec<f32>> {
    per_clip(clips, |clip| {
        let plan = RealFftPlanner::<f32>::new().plan_fft_forward(clip.len());
        let mut input = clip.to_vec();
        let mut out = plan.make_output_vec();
        if plan.process(&mut input, &mut out).is_err() {
            return Vec::new();
        }
        out.iter().map(|c| c.norm()).collect()
    })
}
