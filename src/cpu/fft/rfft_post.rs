//! CPU twin of `shaders/fft/rfft_post.wgsl`: one-sided spectra from complex FFT rows.

use super::fft_stage::{cmul, C32};
use crate::params::fft::{rfft_bins, twiddle_table, SpectrumKind};

/// `src` holds `rows` packed `n/2`-point FFTs (`packed`, even `n`) or full `n`-point FFTs.
pub fn rfft_post(src: &[C32], n: usize, rows: usize, packed: bool, kind: SpectrumKind) -> Vec<f32> {
    let bins = rfft_bins(n);
    let table: Vec<C32> = twiddle_table(n)
        .chunks_exact(2)
        .map(|c| [c[0], c[1]])
        .collect();
    let mut out = Vec::with_capacity(rows * bins * kind.floats_per_bin());
    for id in 0..rows * bins {
        let (row, k) = (id / bins, id % bins);
        let x = if packed {
            let half = n / 2;
            let zk = src[row * half + k % half];
            let zm = src[row * half + (half - k) % half];
            let zc = [zm[0], -zm[1]];
            let e = [0.5 * (zk[0] + zc[0]), 0.5 * (zk[1] + zc[1])];
            let d = [0.5 * (zk[0] - zc[0]), 0.5 * (zk[1] - zc[1])];
            let o = cmul(table[k], [d[1], -d[0]]);
            [e[0] + o[0], e[1] + o[1]]
        } else {
            src[row * n + k]
        };
        match kind {
            SpectrumKind::Complex => out.extend_from_slice(&x),
            SpectrumKind::Magnitude => out.push((x[0] * x[0] + x[1] * x[1]).sqrt()),
            SpectrumKind::Power => out.push(x[0] * x[0] + x[1] * x[1]),
        }
    }
    out
}
