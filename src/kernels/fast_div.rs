//! Division by a divisor fixed for a dispatch as a multiply-high and two shifts (Granlund &
//! Montgomery 1994, figure 4.1; CUTLASS's `FastDivmod`): the host computes the constants once,
//! the shaders (`shaders/common/fast_div.wgsl`) decode flat indices without integer divisions,
//! which GPUs emulate with long instruction sequences and software adapters scalarise per lane.

use bytemuck::{Pod, Zeroable};

/// The constants of division by `d`. Keep in sync with `FastDiv` in
/// shaders/common/fast_div.wgsl (16 bytes, so it sits on the uniform layout's 16-byte grid).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct FastDiv {
    mul: u32,
    sh1: u32,
    sh2: u32,
    d: u32,
}

impl FastDiv {
    /// The constants for `d`; a zero divisor (a dimension the shader never divides by in that
    /// launch) is taken as 1.
    pub(crate) fn new(d: u32) -> Self {
        let d = d.max(1);
        // l = ceil(log2 d): 0 for d = 1.
        let l = 32 - (d - 1).leading_zeros();
        // m' = floor(2^32 (2^l - d) / d) + 1 < 2^32, since 2^l - d < d.
        let mul = (((1u64 << 32) * ((1u64 << l) - u64::from(d))) / u64::from(d) + 1) as u32;
        Self {
            mul,
            sh1: l.min(1),
            sh2: l.saturating_sub(1),
            d,
        }
    }

    /// `n / d` as the shader computes it (its 16-bit-halves multiply-high included).
    #[cfg(test)]
    fn divide(self, n: u32) -> u32 {
        let t = umulhi_halves(n, self.mul);
        (t.wrapping_add((n - t) >> self.sh1)) >> self.sh2
    }
}

/// The shader's `umulhi`, operation for operation.
#[cfg(test)]
fn umulhi_halves(a: u32, b: u32) -> u32 {
    let (a_lo, a_hi) = (a & 0xffff, a >> 16);
    let (b_lo, b_hi) = (b & 0xffff, b >> 16);
    let t = a_hi * b_lo + ((a_lo * b_lo) >> 16);
    let w1 = (t & 0xffff) + a_lo * b_hi;
    a_hi * b_hi + (t >> 16) + (w1 >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn the_multiply_high_of_halves_is_the_64_bit_product_s_high_word() {
        let mut rng = SeededRng::new(11);
        let edges = [
            0,
            1,
            2,
            0xffff,
            0x1_0000,
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX,
        ];
        let mut pairs: Vec<(u32, u32)> = edges
            .iter()
            .flat_map(|&a| edges.iter().map(move |&b| (a, b)))
            .collect();
        pairs.extend((0..20_000).map(|_| (rng.next_u64() as u32, rng.next_u64() as u32)));
        for (a, b) in pairs {
            let want = ((u64::from(a) * u64::from(b)) >> 32) as u32;
            assert_eq!(umulhi_halves(a, b), want, "{a} * {b}");
        }
    }

    #[test]
    fn fast_division_is_exact_for_every_divisor_shape() {
        let mut rng = SeededRng::new(12);
        let mut divisors: Vec<u32> = (1..=2100).collect();
        divisors.extend([
            4095,
            4096,
            4097,
            65_535,
            65_536,
            65_537,
            1 << 20,
            1_000_003,
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0001,
            u32::MAX - 1,
            u32::MAX,
        ]);
        divisors.extend((0..200).map(|_| rng.next_u64() as u32 | 1));
        for d in divisors {
            let f = FastDiv::new(d);
            let mut numerators = vec![0, 1, d - 1, d, d.wrapping_add(1), u32::MAX, u32::MAX - 1];
            numerators.extend((1..40u32).map(|k| k.wrapping_mul(d)));
            numerators.extend((0..60).map(|_| rng.next_u64() as u32));
            numerators.extend((0..60).map(|_| (rng.next_u64() as u32) >> 12));
            for n in numerators {
                assert_eq!(f.divide(n), n / d, "{n} / {d}");
            }
        }
    }

    #[test]
    fn a_zero_divisor_is_taken_as_one() {
        assert_eq!(FastDiv::new(0), FastDiv::new(1));
        assert_eq!(FastDiv::new(0).divide(77), 77);
    }
}
