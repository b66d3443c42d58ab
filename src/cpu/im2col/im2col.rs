//! CPU twin of `shaders/im2col/im2col.wgsl`.

use super::source;
use crate::params::im2col::Im2colGeometry;

/// `x` `[N, C, H, W]` unfolded to `[C*KH*KW, N*OH*OW]` (row `(c, ky, kx)`, column `(n, oy, ox)`).
pub fn im2col(x: &[f32], g: &Im2colGeometry) -> Vec<f32> {
    let mut col = Vec::with_capacity(g.rows() * g.columns());
    for c in 0..g.c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for b in 0..g.n {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            col.push(match source(g, (ky, kx), (oy, ox)) {
                                Some((iy, ix)) => x[((b * g.c + c) * g.h + iy) * g.w + ix],
                                None => 0.0,
                            });
                        }
                    }
                }
            }
        }
    }
    col
}
