//! `Conv1d` as torch.nn.Conv1d over `[N, C_in, L]`: stride, zero padding, dilation, groups
//! (depthwise included) and an optional bias. Routing:
//! - dense (groups 1) and not pointwise (a kernel above 1, or a stride, padding or dilation):
//!   im2col (as a conv2d over `[N, C_in, 1, L]`) and ONE tiled matmul over the whole batch for
//!   the forward and for each gradient (`crate::nn::conv_gemm`), unless the column matrix
//!   `[C_in*K, N*L_out]` would exceed one storage binding, where the direct kernels run instead;
//! - pointwise and grouped/depthwise: the conv1d kernels and their three gradients (a pointwise
//!   forward and input gradient are batched matmuls there).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv1d::{
    conv1d, conv1d_backward_bias, conv1d_backward_input, conv1d_backward_weight, conv1d_output_len,
    Conv1dParams,
};
use crate::kernels::im2col::Im2colGeometry;
use crate::nn::conv_gemm::ConvGemm;
use crate::nn::layer::{reuse, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct Conv1d {
    ctx: Context,
    pub weight: Param,
    pub bias: Option<Param>,
    pub params: Conv1dParams,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
    /// Scratch of the im2col path.
    gemm: ConvGemm,
}

/// Errors unless `groups` (at least 1) divides both channel counts and no size is zero.
pub(crate) fn check_channels(
    kernel: &'static str,
    inputs: usize,
    outputs: usize,
    kernel_size: usize,
    groups: usize,
) -> Result<()> {
    if groups == 0 || !inputs.is_multiple_of(groups) || !outputs.is_multiple_of(groups) {
        return Err(HarkError::invalid(
            kernel,
            format!("groups {groups} must divide {inputs} input and {outputs} output channels"),
        ));
    }
    if inputs == 0 || outputs == 0 || kernel_size == 0 {
        return Err(HarkError::invalid(
            kernel,
            format!("empty layer: {inputs} -> {outputs} channels, kernel {kernel_size}"),
        ));
    }
    Ok(())
}

/// torch's default initialisation of a convolution (kaiming-uniform with a = sqrt(5)): weight
/// and bias uniform in `±1/sqrt(fan_in)`, the weight drawn first.
pub(crate) fn torch_init(
    ctx: &Context,
    name: &str,
    weight_shape: &[usize],
    fan_in: usize,
    bias: Option<usize>,
    init: &mut SeededInit,
) -> Result<(Param, Option<Param>)> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n: usize = weight_shape.iter().product();
    let weight = Param::new(
        ctx,
        format!("{name}.weight"),
        weight_shape,
        &init.uniform(n, bound),
    )?;
    let bias = bias
        .map(|len| {
            Param::new(
                ctx,
                format!("{name}.bias"),
                &[len],
                &init.uniform(len, bound),
            )
        })
        .transpose()?;
    Ok((weight, bias))
}

impl Conv1d {
    /// `torch.nn.Conv1d(inputs, outputs, kernel, stride, padding, dilation, groups, bias)`:
    /// weight `[outputs, inputs / groups, kernel]`, torch's initialisation with
    /// `fan_in = inputs / groups * kernel`.
    #[allow(clippy::too_many_arguments)] // torch's constructor arguments plus context and seed.
    pub fn new(
        ctx: &Context,
        name: &str,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        params: Conv1dParams,
        bias: bool,
        init: &mut SeededInit,
    ) -> Result<Self> {
        check_channels("conv1d", inputs, outputs, kernel, params.groups)?;
        if params.stride == 0 || params.dilation == 0 {
            return Err(HarkError::invalid(
                "conv1d",
                format!("stride and dilation must be at least 1: {params:?}"),
            ));
        }
        let per_group = inputs / params.groups;
        let (weight, bias) = torch_init(
            ctx,
            name,
            &[outputs, per_group, kernel],
            per_group * kernel,
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
            gemm: ConvGemm::new(ctx),
        })
    }

    /// Whether an input `[N, C_in, L]` runs on the im2col + matmul path (dense, not pointwise,
    /// the column matrix within one storage binding); false for a shape the conv rejects.
    pub fn uses_im2col(&self, input_shape: &[usize]) -> bool {
        match *input_shape {
            [batch, channels, len] => {
                channels == self.dims().1 && self.gemm_geometry(batch, len).is_some()
            }
            _ => false,
        }
    }

    /// The im2col geometry for an input `[batch, C_in, len]` when this conv runs on the im2col
    /// path (dense, not pointwise, and the column matrix fits one binding), else `None`.
    fn gemm_geometry(&self, batch: usize, len: usize) -> Option<Im2colGeometry> {
        let (outputs, inputs, kernel) = self.dims();
        let pointwise = kernel == 1 && self.params == Conv1dParams::default();
        if self.params.groups != 1 || pointwise {
            return None;
        }
        Im2colGeometry::conv1d(batch, inputs, len, kernel, &self.params)
            .filter(|geo| ConvGemm::fits(&self.ctx, geo, outputs))
    }

    /// (outputs, inputs, kernel).
    fn dims(&self) -> (usize, usize, usize) {
        let s = self.weight.value.shape();
        (s[0], s[1] * self.params.groups, s[2])
    }
}

impl Layer for Conv1d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (outputs, inputs, kernel) = self.dims();
        let &[batch, channels, len] = x.shape() else {
            return Err(HarkError::shape(
                "conv1d",
                format!("input {:?} must be [N, C_in, L]", x.shape()),
            ));
        };
        let l_out = conv1d_output_len(len, kernel, &self.params);
        let Some(l_out) = l_out.filter(|_| channels == inputs) else {
            return Err(HarkError::shape(
                "conv1d",
                format!(
                    "input {:?} for a {inputs} -> {outputs} conv1d with kernel {kernel} and {:?}",
                    x.shape(),
                    self.params
                ),
            ));
        };
        let y = reuse(&self.ctx, &mut self.output, &[batch, outputs, l_out])?;
        let bias = self.bias.as_ref().map(|b| &b.value);
        if let Some(geo) = self.gemm_geometry(batch, len) {
            let train = mode == Mode::Train;
            self.gemm
                .forward(rec, &geo, x, &self.weight.value, bias, &y, train)?;
        } else {
            conv1d(rec, x, &self.weight.value, bias, &self.params, &y)?;
        }
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self
            .saved_input
            .as_ref()
            .ok_or_else(|| HarkError::invalid("conv1d", "backward without a training forward"))?;
        if let (&[batch, _, len], Some(out_shape)) = (x.shape(), self.output.as_ref()) {
            if let Some(geo) = self.gemm_geometry(batch, len) {
                if grad_output.shape() != out_shape.shape() {
                    return Err(HarkError::shape(
                        "conv1d",
                        format!(
                            "grad_output {:?} must be the output's {:?}",
                            grad_output.shape(),
                            out_shape.shape()
                        ),
                    ));
                }
                if let Some(bias) = &self.bias {
                    conv1d_backward_bias(rec, grad_output, &bias.grad)?;
                }
                let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
                let (weight, grad_weight) = (&self.weight.value, &self.weight.grad);
                self.gemm.backward(
                    rec,
                    &geo,
                    x,
                    grad_output,
                    weight,
                    grad_weight,
                    Some(&grad_x),
                )?;
                return Ok(grad_x);
            }
        }
        conv1d_backward_weight(rec, x, grad_output, &self.params, &self.weight.grad)?;
        if let Some(bias) = &self.bias {
            conv1d_backward_bias(rec, grad_output, &bias.grad)?;
        }
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        conv1d_backward_input(rec, grad_output, &self.weight.value, &self.params, &grad_x)?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight)
            .chain(self.bias.as_ref())
            .collect()
    }
}
