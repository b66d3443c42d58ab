//! `Conv2d` as torch.nn.Conv2d over `[N, C_in, H, W]`: a `kh x kw` kernel, stride, zero padding,
//! groups (depthwise included; dilation 1) and an optional bias. Routing:
//! - dense (groups 1) and not pointwise (a kernel above 1x1, or a stride or padding): im2col and
//!   ONE tiled matmul over the whole batch for the forward and for each gradient
//!   (`crate::nn::conv_gemm`), unless the column matrix `[C_in*KH*KW, N*OH*OW]` would exceed one
//!   storage binding, where the direct kernels run instead;
//! - pointwise (1x1, stride 1, no padding): the conv2d kernels, whose forward and input gradient
//!   are batched matmuls, and a matmul weight gradient (see [`Conv2d::backward`]);
//! - grouped and depthwise: the direct conv2d kernels.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv2d::{
    conv2d, conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, Conv2dDims,
    Conv2dParams,
};
use crate::kernels::im2col::Im2colGeometry;
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::nn::conv1d::{check_channels, torch_init};
use crate::nn::conv_gemm::ConvGemm;
use crate::nn::layer::{reuse, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct Conv2d {
    ctx: Context,
    pub weight: Param,
    pub bias: Option<Param>,
    pub params: Conv2dParams,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
    /// Whether `backward` computes the input's gradient (see [`Conv2d::without_input_grad`]).
    input_grad: bool,
    /// Pointwise weight gradient: the per-item products `[N, C_out, C_in]` and `[1, N]` ones.
    per_item: Option<Tensor>,
    ones: Option<Tensor>,
    /// Scratch of the im2col path.
    gemm: ConvGemm,
}

impl Conv2d {
    /// `torch.nn.Conv2d(inputs, outputs, (kh, kw), stride, padding, groups=.., bias)`: weight
    /// `[outputs, inputs / groups, kh, kw]`, torch's initialisation with
    /// `fan_in = inputs / groups * kh * kw`.
    #[allow(clippy::too_many_arguments)] // torch's constructor arguments plus context and seed.
    pub fn new(
        ctx: &Context,
        name: &str,
        inputs: usize,
        outputs: usize,
        (kh, kw): (usize, usize),
        params: Conv2dParams,
        bias: bool,
        init: &mut SeededInit,
    ) -> Result<Self> {
        check_channels("conv2d", inputs, outputs, kh * kw, params.groups)?;
        if params.stride.0 == 0 || params.stride.1 == 0 {
            return Err(HarkError::invalid(
                "conv2d",
                format!("stride must be at least 1: {params:?}"),
            ));
        }
        let per_group = inputs / params.groups;
        let (weight, bias) = torch_init(
            ctx,
            name,
            &[outputs, per_group, kh, kw],
            per_group * kh * kw,
            bias.then_some(outputs),
            init,
        )?;
        Ok(Self {
            ctx: ctx.clone(),
            weight,
            bias,
            params,
            saved_input: None,
            output: None,
            grad_input: None,
            input_grad: true,
            per_item: None,
            ones: None,
            gemm: ConvGemm::new(ctx),
        })
    }

    /// A conv that reads a network's input (data, with no gradient to pass on): `backward`
    /// computes the weight and bias gradients only and returns zeros of the input's shape,
    /// skipping the input-gradient product and its col2im (a tenth of the OE extractor's step).
    pub fn without_input_grad(mut self) -> Self {
        self.input_grad = false;
        self
    }
}

impl Conv2d {
    /// Whether an input of this shape runs on the im2col + matmul path (dense, not pointwise,
    /// the column matrix within one storage binding); false for a shape the conv rejects.
    pub fn uses_im2col(&self, input_shape: &[usize]) -> bool {
        Conv2dDims::new(
            "conv2d",
            input_shape,
            self.weight.value.shape(),
            &self.params,
        )
        .is_ok_and(|dims| self.gemm_geometry(&dims).is_some())
    }

    /// The im2col geometry when this conv runs on the im2col path (dense, not pointwise, and
    /// the column matrix fits one binding), else `None`.
    fn gemm_geometry(&self, dims: &Conv2dDims) -> Option<Im2colGeometry> {
        let geo = Im2colGeometry::conv2d(dims, &self.params);
        (self.params.groups == 1
            && !dims.is_pointwise(&self.params)
            && ConvGemm::fits(&self.ctx, &geo, dims.c_out))
        .then_some(geo)
    }

    /// The weight gradient of a pointwise conv, `sum_n dY[n] X[n]^T`, as per-item products on
    /// the tiled matmul and a `ones [1, N]` product that sums them: the direct kernel spends a
    /// 256-thread workgroup on each weight, ~600k of them in MobileNetV2-0.5's pointwise convs.
    /// Returns false (nothing recorded) when the conv is not pointwise or the products would not
    /// fit one storage binding.
    fn pointwise_weight_grad(
        &mut self,
        rec: &mut Recorder,
        dims: &Conv2dDims,
        grad_output: &Tensor,
        x: &Tensor,
    ) -> Result<bool> {
        let (n, c_out, c_in) = (dims.n, dims.c_out, dims.c_in);
        let bytes = (n * c_out * c_in * 4) as u64;
        if !dims.is_pointwise(&self.params)
            || bytes > self.ctx.limits().max_storage_buffer_binding_size
        {
            return Ok(false);
        }
        let plane = dims.h * dims.w;
        let per_item = reuse(&self.ctx, &mut self.per_item, &[n, c_out, c_in])?;
        let transposed = MatmulOptions {
            trans_b: true,
            ..Default::default()
        };
        matmul(
            rec,
            &grad_output.reshape(&[n, c_out, plane])?,
            &x.reshape(&[n, c_in, plane])?,
            &per_item,
            &transposed,
        )?;
        if self.ones.as_ref().is_none_or(|t| t.numel() != n) {
            self.ones = Some(Tensor::from_slice(&self.ctx, &[1, n], &vec![1.0; n])?);
        }
        let ones = self
            .ones
            .as_ref()
            .ok_or_else(|| HarkError::invalid("conv2d", "no ones"))?;
        matmul(
            rec,
            ones,
            &per_item.reshape(&[n, c_out * c_in])?,
            &self.weight.grad.reshape(&[1, c_out * c_in])?,
            &MatmulOptions::default(),
        )?;
        Ok(true)
    }
}

impl Layer for Conv2d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        // Checks the input's rank and channels against the weight (a shape error otherwise).
        let dims = Conv2dDims::new("conv2d", x.shape(), self.weight.value.shape(), &self.params)?;
        let y = reuse(&self.ctx, &mut self.output, &dims.output_shape())?;
        let bias = self.bias.as_ref().map(|b| &b.value);
        if let Some(geo) = self.gemm_geometry(&dims) {
            let train = mode == Mode::Train;
            self.gemm
                .forward(rec, &geo, x, &self.weight.value, bias, &y, train)?;
        } else {
            conv2d(rec, x, &self.weight.value, bias, &y, &self.params)?;
        }
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self
            .saved_input
            .clone()
            .ok_or_else(|| HarkError::invalid("conv2d", "backward without a training forward"))?;
        let x = &x;
        let dims = Conv2dDims::new("conv2d", x.shape(), self.weight.value.shape(), &self.params)?;
        dims.expect_output("conv2d", "grad_output", grad_output)?;
        if let Some(geo) = self.gemm_geometry(&dims) {
            if let Some(bias) = &self.bias {
                conv2d_backward_bias(rec, grad_output, &bias.grad)?;
            }
            let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
            let (weight, grad_weight) = (&self.weight.value, &self.weight.grad);
            let grad_x_wanted = self.input_grad.then_some(&grad_x);
            self.gemm.backward(
                rec,
                &geo,
                x,
                grad_output,
                weight,
                grad_weight,
                grad_x_wanted,
            )?;
            return Ok(grad_x);
        }
        if !self.pointwise_weight_grad(rec, &dims, grad_output, x)? {
            conv2d_backward_weight(rec, grad_output, x, &self.weight.grad, &self.params)?;
        }
        if let Some(bias) = &self.bias {
            conv2d_backward_bias(rec, grad_output, &bias.grad)?;
        }
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        if self.input_grad {
            conv2d_backward_input(rec, grad_output, &self.weight.value, &grad_x, &self.params)?;
        }
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight)
            .chain(self.bias.as_ref())
            .collect()
    }
}
