//! CPU twin of `shaders/stft/stft_frame.wgsl` (and of the loads of
//! `shaders/fft/rfft_workgroup.wgsl`): framing, padding and periodic Hann window.

use crate::cpu::fft::C32;
use crate::params::fft::twiddle_table;

/// Sample `t` of frame `frame` of clip `row`, as `frame_sample` in the shader.
#[allow(clippy::too_many_arguments)]
fn frame_sample(
    signal: &[f32],
    len: usize,
    row: usize,
    frame: usize,
    hop: usize,
    t: usize,
    pad: usize,
    reflect: bool,
    window: Option<&[f32]>,
) -> f32 {
    let len_i = len as i64;
    let mut p = (frame * hop + t) as i64 - pad as i64;
    if reflect && (p < 0 || p >= len_i) {
        if len_i == 1 {
            p = 0;
        } else {
            let period = 2 * (len_i - 1);
            p = p.rem_euclid(period);
            if p >= len_i {
                p = period - p;
            }
        }
    }
    let mut x = if p >= 0 && p < len_i {
        signal[row * len + p as usize]
    } else {
        0.0
    };
    if let Some(w) = window {
        x *= w[t];
    }
    x
}

/// Frames of `rows` clips as complex FFT input rows: `n_fft / 2` packed pairs (`packed`) or
/// `n_fft` points with imaginary part 0.
#[allow(clippy::too_many_arguments)]
pub fn stft_frame_twin(
    signal: &[f32],
    rows: usize,
    len: usize,
    n_fft: usize,
    hop: usize,
    frames: usize,
    pad: usize,
    reflect: bool,
    hann: bool,
    packed: bool,
) -> Vec<C32> {
    let table = twiddle_table(n_fft);
    // 0.5 - 0.5 cos(2 pi t / n) from the twiddle table's real part, as the shader does.
    let window: Vec<f32> = (0..n_fft).map(|t| 0.5 - 0.5 * table[2 * t]).collect();
    let window = hann.then_some(window.as_slice());
    let points = if packed { n_fft / 2 } else { n_fft };
    let mut out = Vec::with_capacity(rows * frames * points);
    for id in 0..rows * frames * points {
        let m = id % points;
        let frame_id = id / points;
        let (row, frame) = (frame_id / frames, frame_id % frames);
        let s = |t| frame_sample(signal, len, row, frame, hop, t, pad, reflect, window);
        out.push(if packed {
            [s(2 * m), s(2 * m + 1)]
        } else {
            [s(m), 0.0]
        });
    }
    out
}
