//! Dense convolutions (groups 1) on the tiled matmul: im2col into a channel-major column matrix
//! `col [C_in*KH*KW, N*OH*OW]`, so the forward and both gradients are each ONE matmul over the
//! whole batch (the direct weight-gradient kernels spend a 256-thread workgroup per weight and
//! dominated training time):
//!
//! - forward: `out_cm [C_out, N*P] = W [C_out, K] x col (+ bias per row)`, then swapped to
//!   `[N, C_out, P]`;
//! - weight gradient: `dY` swapped to `dY_cm [C_out, N*P]`, `dW = dY_cm x col^T`;
//! - input gradient: `dcol = W^T x dY_cm`, then col2im (a deterministic gather).
//!
//! The column matrix of the training forward is kept for the backward rather than recomputed:
//! the layer holds that scratch between steps anyway (reused, not reallocated), so keeping it
//! costs no memory and saves an im2col pass; the backward then overwrites it with `dcol` once
//! the weight gradient has read it. Each layer on this path so holds one `K x N*P` and one
//! `C_out x N*P` scratch. [`ConvGemm::fits`] says when the column matrix would exceed one
//! storage binding; the layers fall back to the direct kernels there.
//!
//! A K that is not a multiple of 4 (a first layer: 1 x 3 x 3 = 9, 1 x 7 x 7 = 49) would send all
//! three products to the matmul's scalar shader, whose rows must be whole vec4s. Such a layer
//! pads K to the next multiple of 4 instead: the column matrix gets up to 3 zero rows (zeros at
//! allocation, cleared again after `dcol` has filled them), the weight is copied into a zero-padded `[C_out, K4]` scratch
//! before its products, and the weight gradient is computed `[C_out, K4]` wide and its first K
//! columns copied out. The zeros add nothing to any sum, so the results are those of the
//! unpadded products (the same fma order over the real terms).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::elementwise::{copy_columns, ColumnBlock};
use crate::kernels::im2col::{col2im, im2col, swap_batch_channel, Im2colGeometry};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::nn::layer::reuse;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// The scratch of one layer on the im2col path.
pub(crate) struct ConvGemm {
    ctx: Context,
    /// `[K4, N*P]`: the forward's column matrix, then the backward's `dcol` (K4 = K, or K
    /// padded to a multiple of 4; see the module doc).
    col: Option<Tensor>,
    /// `[C_out, K4]`: the zero-padded weight, and the padded weight gradient (K4 > K only).
    padded_weight: Option<Tensor>,
    padded_grad: Option<Tensor>,
    /// `[C_out, N*P]`: the forward's product, then the backward's channel-major `dY`.
    channel_major: Option<Tensor>,
    /// The geometry whose column matrix `col` holds from a training forward.
    kept: Option<Im2colGeometry>,
}

impl ConvGemm {
    pub(crate) fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            col: None,
            padded_weight: None,
            padded_grad: None,
            channel_major: None,
            kept: None,
        }
    }

    /// Whether the column matrix and the channel-major product fit one storage binding each.
    pub(crate) fn fits(ctx: &Context, geo: &Im2colGeometry, c_out: usize) -> bool {
        let limit = ctx.limits().max_storage_buffer_binding_size;
        let product = (c_out as u64) * (geo.columns() as u64) * 4;
        let col = (padded_k(geo) as u64) * (geo.columns() as u64) * 4;
        col <= limit && product <= limit
    }

    /// The column matrix `[K4, N*P]` and its first K rows (the view im2col and col2im use).
    fn columns(&mut self, geo: &Im2colGeometry) -> Result<(Tensor, Tensor)> {
        let full = reuse(&self.ctx, &mut self.col, &[padded_k(geo), geo.columns()])?;
        let rows = full.prefix(&geo.col_shape())?;
        Ok((full, rows))
    }

    /// The weight as the products read it: `[C_out, K]` itself, or its copy into the
    /// zero-padded `[C_out, K4]` scratch.
    fn weight_matrix(
        &mut self,
        rec: &mut Recorder,
        geo: &Im2colGeometry,
        weight: &Tensor,
        c_out: usize,
    ) -> Result<Tensor> {
        let (k, k4) = (geo.rows(), padded_k(geo));
        let weight = weight.reshape(&[c_out, k])?;
        if k4 == k {
            return Ok(weight);
        }
        let padded = reuse(&self.ctx, &mut self.padded_weight, &[c_out, k4])?;
        let block = ColumnBlock {
            src_offset: 0,
            dst_offset: 0,
            cols: k,
        };
        copy_columns(rec, &weight, &padded, block)?;
        Ok(padded)
    }

    /// Records `y [N, C_out, P] = conv(x)` for `weight` `[C_out, C_in, ..]` (C_in*KH*KW = K
    /// elements per output channel); keeps the column matrix for [`Self::backward`] when
    /// `train`.
    #[allow(clippy::too_many_arguments)] // the layer's tensors, each named.
    pub(crate) fn forward(
        &mut self,
        rec: &mut Recorder,
        geo: &Im2colGeometry,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        y: &Tensor,
        train: bool,
    ) -> Result<()> {
        let (c_out, _, np) = Self::sizes(geo, weight)?;
        let (col, col_rows) = self.columns(geo)?;
        let weight = self.weight_matrix(rec, geo, weight, c_out)?;
        let product = reuse(&self.ctx, &mut self.channel_major, &[c_out, np])?;
        im2col(rec, x, geo, &col_rows)?;
        let options = MatmulOptions {
            bias,
            bias_per_row: true,
            ..Default::default()
        };
        matmul(rec, &weight, &col, &product, &options)?;
        swap_batch_channel(rec, &product, (c_out, geo.n, geo.oh * geo.ow), y)?;
        self.kept = train.then_some(*geo);
        Ok(())
    }

    /// Records the weight gradient (overwritten) and, when `grad_x` is given, the input gradient
    /// (every element written) from the output gradient `[N, C_out, P]`. Recomputes the column matrix of `x`
    /// unless the last training forward left it for this geometry.
    #[allow(clippy::too_many_arguments)] // the layer's tensors, each named.
    pub(crate) fn backward(
        &mut self,
        rec: &mut Recorder,
        geo: &Im2colGeometry,
        x: &Tensor,
        grad_out: &Tensor,
        weight: &Tensor,
        grad_weight: &Tensor,
        grad_x: Option<&Tensor>,
    ) -> Result<()> {
        let (c_out, k, np) = Self::sizes(geo, weight)?;
        let k4 = padded_k(geo);
        let (col, col_rows) = self.columns(geo)?;
        if self.kept != Some(*geo) {
            im2col(rec, x, geo, &col_rows)?;
        }
        let grad_cm = reuse(&self.ctx, &mut self.channel_major, &[c_out, np])?;
        swap_batch_channel(rec, grad_out, (geo.n, c_out, geo.oh * geo.ow), &grad_cm)?;
        let trans_b = MatmulOptions {
            trans_b: true,
            ..Default::default()
        };
        let grad_weight = grad_weight.reshape(&[c_out, k])?;
        if k4 == k {
            matmul(rec, &grad_cm, &col, &grad_weight, &trans_b)?;
        } else {
            let padded = reuse(&self.ctx, &mut self.padded_grad, &[c_out, k4])?;
            matmul(rec, &grad_cm, &col, &padded, &trans_b)?;
            let block = ColumnBlock {
                src_offset: 0,
                dst_offset: 0,
                cols: k,
            };
            copy_columns(rec, &padded, &grad_weight, block)?;
        }
        // The column matrix is read; its buffer now takes dcol.
        self.kept = None;
        let Some(grad_x) = grad_x else {
            return Ok(());
        };
        let weight = self.weight_matrix(rec, geo, weight, c_out)?;
        let trans_a = MatmulOptions {
            trans_a: true,
            ..Default::default()
        };
        matmul(rec, &weight, &grad_cm, &col, &trans_a)?;
        col2im(rec, &col_rows, geo, grad_x)?;
        if k4 > k {
            // dcol's padding rows are 0 x dY: zero unless dY held an Inf or NaN. Cleared, so
            // that the next forward's products still see zeros there whatever this step held.
            rec.zero_from(&col, k * np)?;
        }
        Ok(())
    }

    /// (C_out, K, N*P), checking that the weight has K elements per output channel.
    fn sizes(geo: &Im2colGeometry, weight: &Tensor) -> Result<(usize, usize, usize)> {
        let c_out = weight.shape().first().copied().unwrap_or(0);
        let k = geo.rows();
        if c_out == 0 || weight.numel() != c_out * k {
            return Err(HarkError::shape(
                "conv_gemm",
                format!(
                    "weight {:?} must have C_in*KH*KW = {k} elements per output channel",
                    weight.shape()
                ),
            ));
        }
        Ok((c_out, k, geo.columns()))
    }
}

/// K padded to a multiple of 4 where that lets the products run on the vec4 shader (the
/// column count N*P must be a multiple of 4 too), else K itself.
fn padded_k(geo: &Im2colGeometry) -> usize {
    let k = geo.rows();
    if !k.is_multiple_of(4) && geo.columns().is_multiple_of(4) {
        k.next_multiple_of(4)
    } else {
        k
    }
}
