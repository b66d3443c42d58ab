// Division of any u32 by a divisor fixed for a whole dispatch, as a multiply-high and two
// shifts instead of an integer division (Granlund & Montgomery 1994; CUTLASS's FastDivmod).
// GPUs have no integer divider (the compiler emits a long sequence for `/` by a runtime value)
// and software rasterisers scalarise it lane by lane, so index decoding with several `/` and `%`
// per thread costs more than the memory access it serves. The host computes each divisor's
// constants (src/kernels/fast_div.rs, FastDiv) and passes them in the uniform parameters.
// Imported (through im2col_params.wgsl) by im2col.wgsl and col2im.wgsl, and by
// swap_batch_channel.wgsl.

// Keep in sync with FastDiv in src/kernels/fast_div.rs. `d` is the divisor itself.
struct FastDiv {
    mul: u32,
    sh1: u32,
    sh2: u32,
    d: u32,
}

// The high 32 bits of the 64-bit product a * b (Hacker's Delight, mulhu), in 16-bit halves.
fn umulhi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let t = a_hi * b_lo + ((a_lo * b_lo) >> 16u);
    let w1 = (t & 0xffffu) + a_lo * b_hi;
    return a_hi * b_hi + (t >> 16u) + (w1 >> 16u);
}

// n / f.d, exact for every u32 n.
fn fast_div(n: u32, f: FastDiv) -> u32 {
    let t = umulhi(n, f.mul);
    return (t + ((n - t) >> f.sh1)) >> f.sh2;
}
