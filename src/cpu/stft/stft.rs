//! CPU reference STFT in f64 with `realfft`, written from librosa's definition rather than from
//! the shader: pad the clip explicitly (`np.pad` zeros or `reflect`), cut frames, multiply by the
//! periodic Hann window, transform.

use realfft::RealFftPlanner;

use crate::cpu::fft::push_bin;
use crate::params::stft::{stft_frames, Centering, StftOptions};

/// `np.pad(x, (pad, pad), mode='reflect')` (also for pads longer than the clip).
fn reflect_pad(x: &[f64], pad: usize) -> Vec<f64> {
    let len = x.len() as i64;
    (-(pad as i64)..len + pad as i64)
        .map(|i| {
            if len == 1 {
                return x[0];
            }
            let period = 2 * (len - 1);
            let mut p = i.rem_euclid(period);
            if p >= len {
                p = period - p;
            }
            x[p as usize]
        })
        .collect()
}

/// STFT of `batch` clips of `len` samples: `[batch, frames, n_fft/2 + 1]` (`[.., 2]` complex).
pub fn stft(input: &[f32], batch: usize, options: &StftOptions) -> Vec<f32> {
    let len = input.len().checked_div(batch).unwrap_or(0);
    let n_fft = options.n_fft;
    let frames = stft_frames(len, n_fft, options.hop, options.center);
    let window: Vec<f64> = (0..n_fft)
        .map(|t| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / n_fft as f64).cos())
        .collect();
    let plan = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
    let mut spectrum = plan.make_output_vec();
    let mut out = Vec::new();
    for clip in 0..batch {
        let x: Vec<f64> = input[clip * len..(clip + 1) * len]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let pad = n_fft / 2;
        let padded = match options.center {
            Centering::None => x,
            Centering::Zero => {
                let mut p = vec![0.0; pad];
                p.extend_from_slice(&x);
                p.extend(std::iter::repeat_n(0.0, pad));
                p
            }
            Centering::Reflect => reflect_pad(&x, pad),
        };
        for f in 0..frames {
            let mut frame: Vec<f64> = (0..n_fft)
                .map(|t| padded[f * options.hop + t] * window[t])
                .collect();
            if plan.process(&mut frame, &mut spectrum).is_err() {
                return Vec::new();
            }
            for z in &spectrum {
                push_bin(&mut out, z.re, z.im, options.output);
            }
        }
    }
    out
}
