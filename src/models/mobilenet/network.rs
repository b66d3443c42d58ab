//! MobileNetV2 (Sandler et al. 2018) with a width multiplier, as Keras' `MobileNetV2(alpha=..)`
//! and torchvision's `mobilenet_v2(width_mult=..)` build it, over one-channel `[N, 1, H, W]`
//! log-mel patches. Parameter names follow torchvision (`features.0.0.weight`,
//! `features.2.conv.1.0.weight`, `classifier.1.weight`, ...).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::kernels::conv2d::Conv2dParams;
use crate::nn::{
    Activation, BatchNorm2d, Conv2d, GlobalAvgPool2d, Layer, Linear, Mode, Nonlinearity, Param,
    Residual, SeededInit, Sequential,
};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// The inverted-residual stages of MobileNetV2's Table 2: (expansion t, channels c at width 1,
/// repeats n, first stride s).
pub const STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// `v` rounded to the nearest multiple of 8 (at least 8), never more than 10% below `v`: the
/// `_make_divisible` of both reference implementations.
pub fn make_divisible(v: f64) -> usize {
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

/// The network's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MobileNetV2Config {
    /// Width multiplier (the DCASE 2022 baseline uses 0.5).
    pub width: f64,
    /// Output classes (the machine type's sections).
    pub classes: usize,
    /// BatchNorm as Keras' MobileNetV2: eps 1e-3, momentum 0.999 in Keras terms (0.001 in
    /// torch's).
    pub bn_eps: f32,
    pub bn_momentum: f32,
}

impl MobileNetV2Config {
    /// The DCASE 2022 baseline: width 0.5, Keras' BatchNorm settings.
    pub fn dcase2022(classes: usize) -> Self {
        Self {
            width: 0.5,
            classes,
            bn_eps: 1e-3,
            bn_momentum: 1e-3,
        }
    }

    fn bn(&self) -> BatchNormConfig {
        BatchNormConfig {
            eps: self.bn_eps,
            momentum: self.bn_momentum,
            relu: false,
        }
    }
}

/// Conv2d (no bias) -> BatchNorm2d, then ReLU6 when `relu6`: torchvision's `Conv2dNormActivation`
/// (`{name}.0` conv, `{name}.1` BN) or, without the activation, a block's linear projection
/// (conv and BN named by `conv_name`, `bn_name`).
#[allow(clippy::too_many_arguments)] // a conv's geometry plus names, context and seed.
fn conv_bn(
    ctx: &Context,
    (conv_name, bn_name): (&str, &str),
    inputs: usize,
    outputs: usize,
    kernel: usize,
    params: Conv2dParams,
    relu6: bool,
    config: &MobileNetV2Config,
    init: &mut SeededInit,
) -> Result<Vec<Box<dyn Layer>>> {
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Conv2d::new(
            ctx,
            conv_name,
            inputs,
            outputs,
            (kernel, kernel),
            params,
            false,
            init,
        )?),
        Box::new(BatchNorm2d::new(ctx, bn_name, outputs, config.bn())?),
    ];
    if relu6 {
        layers.push(Box::new(Activation::new(ctx, Nonlinearity::Relu6)));
    }
    Ok(layers)
}

/// One inverted residual block `features.{index}`: 1x1 expand (when `expansion > 1`) -> BN ->
/// ReLU6 -> 3x3 depthwise (`stride`) -> BN -> ReLU6 -> 1x1 project -> BN, plus the input when
/// the stride is 1 and the channels agree.
#[allow(clippy::too_many_arguments)] // the block's geometry plus names, context and seed.
pub fn inverted_residual(
    ctx: &Context,
    index: usize,
    inputs: usize,
    outputs: usize,
    stride: usize,
    expansion: usize,
    config: &MobileNetV2Config,
    init: &mut SeededInit,
) -> Result<Box<dyn Layer>> {
    let hidden = inputs * expansion;
    let prefix = format!("features.{index}.conv");
    let name = |i: usize, j: Option<usize>| match j {
        Some(j) => format!("{prefix}.{i}.{j}"),
        None => format!("{prefix}.{i}"),
    };
    let mut layers = Vec::new();
    let mut at = 0;
    if expansion != 1 {
        let (c, b) = (name(at, Some(0)), name(at, Some(1)));
        let pw = Conv2dParams::default();
        layers.extend(conv_bn(
            ctx,
            (&c, &b),
            inputs,
            hidden,
            1,
            pw,
            true,
            config,
            init,
        )?);
        at += 1;
    }
    let (c, b) = (name(at, Some(0)), name(at, Some(1)));
    let depthwise = Conv2dParams::new(stride, 1).with_groups(hidden);
    layers.extend(conv_bn(
        ctx,
        (&c, &b),
        hidden,
        hidden,
        3,
        depthwise,
        true,
        config,
        init,
    )?);
    let (c, b) = (name(at + 1, None), name(at + 2, None));
    let pw = Conv2dParams::default();
    layers.extend(conv_bn(
        ctx,
        (&c, &b),
        hidden,
        outputs,
        1,
        pw,
        false,
        config,
        init,
    )?);
    let body: Box<dyn Layer> = Box::new(Sequential::new(layers));
    Ok(if stride == 1 && inputs == outputs {
        Box::new(Residual::new(ctx, body))
    } else {
        body
    })
}

/// MobileNetV2 over `[N, 1, H, W]` inputs, producing `[N, classes]` logits (the softmax is the
/// loss's / the score's).
pub struct MobileNetV2 {
    pub config: MobileNetV2Config,
    features: Sequential,
    pool: GlobalAvgPool2d,
    classifier: Linear,
}

impl MobileNetV2 {
    /// A freshly initialised network (torch's default initialisation of every conv and the
    /// classifier, from `seed`).
    pub fn new(ctx: &Context, config: MobileNetV2Config, seed: u64) -> Result<Self> {
        if config.classes < 2 {
            return Err(HarkError::invalid(
                "mobilenet",
                format!(
                    "a classifier needs at least 2 classes, got {}",
                    config.classes
                ),
            ));
        }
        if !(config.width > 0.0 && config.width.is_finite()) {
            return Err(HarkError::invalid(
                "mobilenet",
                format!("width multiplier {} must be positive", config.width),
            ));
        }
        let mut init = SeededInit::new(seed);
        let stem = make_divisible(32.0 * config.width);
        // Both references keep 1280 final channels for widths up to 1.
        let last = make_divisible(1280.0 * config.width.max(1.0));
        let mut layers: Vec<Box<dyn Layer>> = vec![Box::new(Sequential::new(conv_bn(
            ctx,
            ("features.0.0", "features.0.1"),
            1,
            stem,
            3,
            Conv2dParams::new(2, 1),
            true,
            &config,
            &mut init,
        )?))];
        let mut inputs = stem;
        for &(t, c, n, s) in &STAGES {
            let outputs = make_divisible(c as f64 * config.width);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let index = layers.len();
                layers.push(inverted_residual(
                    ctx, index, inputs, outputs, stride, t, &config, &mut init,
                )?);
                inputs = outputs;
            }
        }
        let index = layers.len();
        layers.push(Box::new(Sequential::new(conv_bn(
            ctx,
            (
                &format!("features.{index}.0"),
                &format!("features.{index}.1"),
            ),
            inputs,
            last,
            1,
            Conv2dParams::default(),
            true,
            &config,
            &mut init,
        )?)));
        Ok(Self {
            config,
            features: Sequential::new(layers),
            pool: GlobalAvgPool2d::new(ctx),
            classifier: Linear::new(ctx, "classifier.1", last, config.classes, true, &mut init)?,
        })
    }

    /// Parameters and running statistics under their torchvision state-dict names.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        entries.extend(self.buffers());
        entries
    }
}

impl Layer for MobileNetV2 {
    fn forward(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if !matches!(x.shape(), [_, 1, _, _]) {
            return Err(HarkError::shape(
                "mobilenet",
                format!("input {:?} must be [N, 1, frames, mels]", x.shape()),
            ));
        }
        let h = self.features.forward(rec, x, mode)?;
        let pooled = self.pool.forward(rec, &h, mode)?;
        self.classifier.forward(rec, &pooled, mode)
    }

    fn backward(&mut self, rec: &mut Recorder, grad_output: &Tensor) -> Result<Tensor> {
        let g = self.classifier.backward(rec, grad_output)?;
        let g = self.pool.backward(rec, &g)?;
        self.features.backward(rec, &g)
    }

    fn params(&self) -> Vec<&Param> {
        let mut params = self.features.params();
        params.extend(self.classifier.params());
        params
    }

    fn buffers(&self) -> Vec<(String, &Tensor)> {
        self.features.buffers()
    }
}
