//! `Conv1d` as torch.nn.Conv1d over `[N, C_in, L]`: stride, zero padding, dilation, groups
//! (depthwise included) and an optional bias, on the conv1d kernels and their three gradients.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv1d::{
    conv1d, conv1d_backward_bias, conv1d_backward_input, conv1d_backward_weight, conv1d_output_len,
    Conv1dParams,
};
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
        })
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
        conv1d(rec, x, &self.weight.value, bias, &self.params, &y)?;
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self
            .saved_input
            .as_ref()
            .ok_or_else(|| HarkError::invalid("conv1d", "backward without a training forward"))?;
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
