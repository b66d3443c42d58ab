//! `ConvTranspose1d` as torch.nn.ConvTranspose1d over `[N, C_in, L]` (weight
//! `[C_in, C_out / groups, K]`): the input gradient of the conv1d that shares its weight, so its
//! forward and backward are the conv1d kernels with the roles exchanged.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv1d::{
    conv_transpose1d, conv_transpose1d_backward_bias, conv_transpose1d_backward_input,
    conv_transpose1d_backward_weight, conv_transpose1d_output_len, Conv1dParams,
};
use crate::nn::conv1d::{check_channels, torch_init};
use crate::nn::layer::{reuse, Layer, Mode, Param, SeededInit};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

pub struct ConvTranspose1d {
    ctx: Context,
    pub weight: Param,
    pub bias: Option<Param>,
    pub params: Conv1dParams,
    output_padding: usize,
    saved_input: Option<Tensor>,
    output: Option<Tensor>,
    grad_input: Option<Tensor>,
}

impl ConvTranspose1d {
    /// `torch.nn.ConvTranspose1d(inputs, outputs, kernel, stride, padding, groups=..,
    /// dilation=.., bias)` with output_padding 0: weight `[inputs, outputs / groups, kernel]`,
    /// torch's initialisation with its fan_in for this layout, `weight.size(1) * kernel =
    /// outputs / groups * kernel`.
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
        check_channels("conv_transpose1d", inputs, outputs, kernel, params.groups)?;
        if params.stride == 0 || params.dilation == 0 {
            return Err(HarkError::invalid(
                "conv_transpose1d",
                format!("stride and dilation must be at least 1: {params:?}"),
            ));
        }
        let per_group = outputs / params.groups;
        let (weight, bias) = torch_init(
            ctx,
            name,
            &[inputs, per_group, kernel],
            per_group * kernel,
            bias.then_some(outputs),
            init,
        )?;
        Ok(Self {
            ctx: ctx.clone(),
            weight,
            bias,
            params,
            output_padding: 0,
            saved_input: None,
            output: None,
            grad_input: None,
        })
    }

    /// torch's `output_padding`: extra output positions on one side, below the stride (the
    /// kernels do not cover torch's other case, below the dilation with stride 1).
    pub fn with_output_padding(mut self, output_padding: usize) -> Result<Self> {
        if output_padding >= self.params.stride {
            return Err(HarkError::invalid(
                "conv_transpose1d",
                format!(
                    "output_padding {output_padding} must be below the stride {}",
                    self.params.stride
                ),
            ));
        }
        self.output_padding = output_padding;
        Ok(self)
    }

    /// (inputs, outputs, kernel).
    fn dims(&self) -> (usize, usize, usize) {
        let s = self.weight.value.shape();
        (s[0], s[1] * self.params.groups, s[2])
    }
}

impl Layer for ConvTranspose1d {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (inputs, outputs, kernel) = self.dims();
        let &[batch, channels, len] = x.shape() else {
            return Err(HarkError::shape(
                "conv_transpose1d",
                format!("input {:?} must be [N, C_in, L]", x.shape()),
            ));
        };
        let l_out = conv_transpose1d_output_len(len, kernel, &self.params, self.output_padding);
        let Some(l_out) = l_out.filter(|_| channels == inputs) else {
            return Err(HarkError::shape(
                "conv_transpose1d",
                format!(
                    "input {:?} for a {inputs} -> {outputs} conv_transpose1d with kernel \
                     {kernel} and {:?}",
                    x.shape(),
                    self.params
                ),
            ));
        };
        let y = reuse(&self.ctx, &mut self.output, &[batch, outputs, l_out])?;
        let bias = self.bias.as_ref().map(|b| &b.value);
        conv_transpose1d(rec, x, &self.weight.value, bias, &self.params, &y)?;
        self.saved_input = (mode == Mode::Train).then(|| x.clone());
        Ok(y)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let x = self.saved_input.as_ref().ok_or_else(|| {
            HarkError::invalid("conv_transpose1d", "backward without a training forward")
        })?;
        conv_transpose1d_backward_weight(rec, x, grad_output, &self.params, &self.weight.grad)?;
        if let Some(bias) = &self.bias {
            conv_transpose1d_backward_bias(rec, grad_output, &bias.grad)?;
        }
        let grad_x = reuse(&self.ctx, &mut self.grad_input, x.shape())?;
        conv_transpose1d_backward_input(
            rec,
            grad_output,
            &self.weight.value,
            &self.params,
            &grad_x,
        )?;
        Ok(grad_x)
    }

    fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight)
            .chain(self.bias.as_ref())
            .collect()
    }
}
