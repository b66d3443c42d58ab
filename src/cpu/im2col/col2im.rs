//! CPU twin of `shaders/im2col/col2im.wgsl` (scatter form here, summed in f64: the same sums).

use super::source;
use crate::params::im2col::Im2colGeometry;

/// The adjoint of [`super::im2col`]: `col` `[C*KH*KW, N*OH*OW]` summed back into `[N, C, H, W]`.
pub fn col2im(col: &[f32], g: &Im2colGeometry) -> Vec<f32> {
    let mut dx = vec![0f64; g.input_len()];
    let columns = g.columns();
    for c in 0..g.c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                for b in 0..g.n {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            if let Some((iy, ix)) = source(g, (ky, kx), (oy, ox)) {
                                let j = (b * g.oh + oy) * g.ow + ox;
                                dx[((b * g.c + c) * g.h + iy) * g.w + ix] +=
                                    f64::from(col[row * columns + j]);
                            }
                        }
                    }
                }
            }
        }
    }
    dx.into_iter().map(|v| v as f32).collect()
}
