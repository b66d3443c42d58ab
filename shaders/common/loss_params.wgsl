// The parameters every row loss shares: loss/l1.wgsl, bce_with_logits.wgsl, cross_entropy.wgsl,
// si_sdr.wgsl and loss_mean.wgsl import this file.
// Keep in sync with LossParams in src/kernels/loss/mod.rs.

struct Params {
    rows: u32,
    cols: u32,
    // rows: unused (loss_mean: the factor on the sum); backward: upstream gradient over the
    // mean's count, with the loss's sign.
    scale: f32,
    eps: f32,
}
