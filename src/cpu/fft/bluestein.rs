//! CPU twin of `shaders/fft/bluestein.wgsl` and the plan around it: premul, forward power-of-two
//! FFT, pointwise product with the host's filter spectrum, inverse FFT, postmul.

use super::fft_stage::{cmul, stockham_fft, C32};
use crate::params::fft::{bluestein_chirp, bluestein_length, bluestein_spectrum, fft_radices};

fn pairs(v: Vec<f32>) -> Vec<C32> {
    v.chunks_exact(2).map(|c| [c[0], c[1]]).collect()
}

/// Forward FFT of `rows` transforms of `n` points: the Stockham stages for lengths with prime
/// factors 2, 3, 5 only, Bluestein otherwise (as the GPU plan chooses).
pub fn complex_fft(data: &[C32], n: usize, rows: usize) -> Vec<C32> {
    if fft_radices(n).is_some() {
        return stockham_fft(data, n, rows, false).unwrap_or_default();
    }
    let m = bluestein_length(n);
    let chirp = pairs(bluestein_chirp(n));
    let spectrum = pairs(bluestein_spectrum(n, m));
    // premul
    let mut a = vec![[0.0f32; 2]; rows * m];
    for (id, slot) in a.iter_mut().enumerate() {
        let (row, t) = (id / m, id % m);
        if t < n {
            *slot = cmul(data[row * n + t], chirp[t]);
        }
    }
    let a = stockham_fft(&a, m, rows, false).unwrap_or_default();
    // pointwise
    let b: Vec<C32> = a
        .iter()
        .enumerate()
        .map(|(id, &z)| cmul(z, spectrum[id % m]))
        .collect();
    let y = stockham_fft(&b, m, rows, true).unwrap_or_default();
    // postmul
    (0..rows * n)
        .map(|id| {
            let (row, k) = (id / n, id % n);
            cmul(y[row * m + k], chirp[k])
        })
        .collect()
}
