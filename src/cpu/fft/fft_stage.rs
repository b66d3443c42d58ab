//! CPU twin of `shaders/fft/fft_stage.wgsl` (one Stockham stage, same indexing and butterflies)
//! and of the stage sequence the global-memory plan records.

use crate::params::fft::{fft_radices, twiddle_table};

/// Complex number as the shaders hold it: `[re, im]`.
pub type C32 = [f32; 2];

pub(crate) fn cmul(a: C32, b: C32) -> C32 {
    [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]]
}

fn add(a: C32, b: C32) -> C32 {
    [a[0] + b[0], a[1] + b[1]]
}

fn sub(a: C32, b: C32) -> C32 {
    [a[0] - b[0], a[1] - b[1]]
}

fn scale(a: C32, s: f32) -> C32 {
    [a[0] * s, a[1] * s]
}

fn rot90(a: C32) -> C32 {
    [-a[1], a[0]]
}

/// One radix-`radix` stage over `rows` transforms of `n` points, `src` to `dst`.
#[allow(clippy::too_many_arguments)]
pub fn fft_stage(
    twiddles: &[C32],
    src: &[C32],
    dst: &mut [C32],
    n: usize,
    radix: usize,
    stride: usize,
    rows: usize,
    inverse: bool,
) {
    let quarter = n / radix;
    let step = n / (stride * radix);
    let s = if inverse { 1.0 } else { -1.0 };
    for id in 0..rows * quarter {
        let row = id / quarter;
        let j = id % quarter;
        let k = j % stride;
        let base = row * n;
        let mut v = [[0.0f32; 2]; 5];
        for (r, vr) in v.iter_mut().enumerate().take(radix) {
            let mut w = twiddles[k * r * step];
            if inverse {
                w[1] = -w[1];
            }
            *vr = cmul(src[base + j + r * quarter], w);
        }
        let mut y = [[0.0f32; 2]; 5];
        match radix {
            2 => {
                y[0] = add(v[0], v[1]);
                y[1] = sub(v[0], v[1]);
            }
            3 => {
                let t = add(v[1], v[2]);
                let u = scale(rot90(sub(v[1], v[2])), s * (3.0f32).sqrt() / 2.0);
                let m = sub(v[0], scale(t, 0.5));
                y[0] = add(v[0], t);
                y[1] = add(m, u);
                y[2] = sub(m, u);
            }
            4 => {
                let a = add(v[0], v[2]);
                let b = sub(v[0], v[2]);
                let c = add(v[1], v[3]);
                let d = scale(rot90(sub(v[1], v[3])), s);
                y[0] = add(a, c);
                y[1] = add(b, d);
                y[2] = sub(a, c);
                y[3] = sub(b, d);
            }
            _ => {
                let (c1, c2) = (0.309_017_f32, -0.809_017_f32);
                let (s1, s2) = (0.951_056_5_f32, 0.587_785_24_f32);
                let t1 = add(v[1], v[4]);
                let t2 = add(v[2], v[3]);
                let u1 = scale(rot90(sub(v[1], v[4])), s);
                let u2 = scale(rot90(sub(v[2], v[3])), s);
                let m1 = add(v[0], add(scale(t1, c1), scale(t2, c2)));
                let m2 = add(v[0], add(scale(t1, c2), scale(t2, c1)));
                let n1 = add(scale(u1, s1), scale(u2, s2));
                let n2 = sub(scale(u1, s2), scale(u2, s1));
                y[0] = add(v[0], add(t1, t2));
                y[1] = add(m1, n1);
                y[4] = sub(m1, n1);
                y[2] = add(m2, n2);
                y[3] = sub(m2, n2);
            }
        }
        let out = base + (j / stride) * stride * radix + k;
        for (q, yq) in y.iter().enumerate().take(radix) {
            dst[out + q * stride] = *yq;
        }
    }
}

/// The whole Stockham sequence (forward or inverse, unnormalised) over `rows` transforms of a
/// length whose prime factors are 2, 3, 5; `None` for other lengths.
pub fn stockham_fft(data: &[C32], n: usize, rows: usize, inverse: bool) -> Option<Vec<C32>> {
    let radices = fft_radices(n)?;
    let table: Vec<C32> = twiddle_table(n)
        .chunks_exact(2)
        .map(|c| [c[0], c[1]])
        .collect();
    let mut cur = data.to_vec();
    let mut next = vec![[0.0f32; 2]; cur.len()];
    let mut stride = 1;
    for radix in radices {
        let radix = radix as usize;
        fft_stage(&table, &cur, &mut next, n, radix, stride, rows, inverse);
        std::mem::swap(&mut cur, &mut next);
        stride *= radix;
    }
    Some(cur)
}
