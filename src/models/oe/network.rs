//! The outlier-exposure feature extractor of paper 004 §4.2, scaled down: a ResNet of basic
//! blocks on log-mel segments `[N, 1, frames, mels]` (stem conv 3x3 -> BN -> ReLU -> max pool 2,
//! then one stage per entry of `channels`, the first at stride 1 and the rest at stride 2, each of
//! `blocks` basic blocks: conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN, plus the identity or a 1x1
//! conv + BN projection, then ReLU), flattened into a linear embedding. Two linear heads read the
//! embedding: `g_machine` (one logit: target machine type vs pseudo-anomaly) and `g_class` (one
//! logit per section or attribute class).

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::batchnorm::BatchNormConfig;
use crate::kernels::conv2d::Conv2dParams;
use crate::kernels::pool::PoolParams;
use crate::nn::{
    Activation, BatchNorm2d, Conv2d, Flatten, Layer, Linear, MaxPool2d, Mode, Nonlinearity, Param,
    Residual, SeededInit, Sequential,
};
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// Shape of the network; [`OeNetConfig::default`] is small enough to train on lavapipe.
#[derive(Clone, Debug, PartialEq)]
pub struct OeNetConfig {
    /// Log-mel bands and frames of one input segment.
    pub mels: usize,
    pub frames: usize,
    /// Channels of the stem and of each stage (ResNet-18: 64, 128, 256, 512).
    pub channels: Vec<usize>,
    /// Basic blocks per stage (ResNet-18: 2).
    pub blocks: usize,
    pub embedding: usize,
}

impl Default for OeNetConfig {
    fn default() -> Self {
        Self {
            mels: 64,
            frames: 32,
            channels: vec![8, 16, 32],
            blocks: 1,
            embedding: 64,
        }
    }
}

fn bn(ctx: &Context, name: &str, channels: usize, relu: bool) -> Result<Box<dyn Layer>> {
    let config = BatchNormConfig {
        eps: 1e-5,
        momentum: 0.1,
        relu,
    };
    Ok(Box::new(BatchNorm2d::new(ctx, name, channels, config)?))
}

fn conv(
    ctx: &Context,
    name: &str,
    (inputs, outputs): (usize, usize),
    kernel: usize,
    stride: usize,
    init: &mut SeededInit,
) -> Result<Box<dyn Layer>> {
    Ok(Box::new(Conv2d::new(
        ctx,
        name,
        inputs,
        outputs,
        (kernel, kernel),
        Conv2dParams::new(stride, kernel / 2),
        false,
        init,
    )?))
}

/// torchvision's BasicBlock followed by its ReLU.
fn basic_block(
    ctx: &Context,
    name: &str,
    (inputs, outputs): (usize, usize),
    stride: usize,
    init: &mut SeededInit,
) -> Result<Vec<Box<dyn Layer>>> {
    let body = Sequential::new(vec![
        conv(
            ctx,
            &format!("{name}.conv1"),
            (inputs, outputs),
            3,
            stride,
            init,
        )?,
        bn(ctx, &format!("{name}.bn1"), outputs, true)?,
        conv(
            ctx,
            &format!("{name}.conv2"),
            (outputs, outputs),
            3,
            1,
            init,
        )?,
        bn(ctx, &format!("{name}.bn2"), outputs, false)?,
    ]);
    let block = if stride != 1 || inputs != outputs {
        let shortcut = Sequential::new(vec![
            conv(
                ctx,
                &format!("{name}.downsample.0"),
                (inputs, outputs),
                1,
                stride,
                init,
            )?,
            bn(ctx, &format!("{name}.downsample.1"), outputs, false)?,
        ]);
        Residual::with_shortcut(ctx, Box::new(body), Box::new(shortcut))
    } else {
        Residual::new(ctx, Box::new(body))
    };
    Ok(vec![
        Box::new(block),
        Box::new(Activation::new(ctx, Nonlinearity::Relu)),
    ])
}

/// The feature extractor and its two heads.
pub struct OeNetwork {
    pub config: OeNetConfig,
    pub classes: usize,
    /// Log-mel segment -> embedding.
    pub backbone: Sequential,
    pub machine_head: Linear,
    pub class_head: Linear,
}

impl OeNetwork {
    /// A freshly initialised network with `classes` section / attribute classes.
    pub fn new(ctx: &Context, config: &OeNetConfig, classes: usize, seed: u64) -> Result<Self> {
        let Some(&stem) = config.channels.first() else {
            return Err(HarkError::invalid("oe network", "no channels"));
        };
        if config.blocks == 0 || config.embedding == 0 || classes == 0 {
            return Err(HarkError::invalid(
                "oe network",
                "blocks, embedding size and classes must be at least 1",
            ));
        }
        let mut init = SeededInit::new(seed);
        let mut layers: Vec<Box<dyn Layer>> = vec![
            // The stem reads the log-mel segments: no input gradient to compute.
            Box::new(
                Conv2d::new(
                    ctx,
                    "conv1",
                    1,
                    stem,
                    (3, 3),
                    Conv2dParams::new(1, 1),
                    false,
                    &mut init,
                )?
                .without_input_grad(),
            ),
            bn(ctx, "bn1", stem, true)?,
            Box::new(MaxPool2d::new(ctx, PoolParams::new(2, 2, 0))),
        ];
        let (mut h, mut w) = (config.frames / 2, config.mels / 2);
        let mut inputs = stem;
        for (stage, &outputs) in config.channels.iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            for b in 0..config.blocks {
                let s = if b == 0 { stride } else { 1 };
                let name = format!("layer{}.{b}", stage + 1);
                layers.extend(basic_block(ctx, &name, (inputs, outputs), s, &mut init)?);
                inputs = outputs;
                // A 3x3 conv with padding 1 at stride s: ceil(len / s).
                h = h.div_ceil(s);
                w = w.div_ceil(s);
            }
        }
        if h == 0 || w == 0 {
            return Err(HarkError::invalid(
                "oe network",
                format!(
                    "a {} x {} segment is too small for {} stages",
                    config.frames,
                    config.mels,
                    config.channels.len()
                ),
            ));
        }
        layers.push(Box::new(Flatten::new()));
        layers.push(Box::new(Linear::new(
            ctx,
            "embedding",
            inputs * h * w,
            config.embedding,
            true,
            &mut init,
        )?));
        let machine_head = Linear::new(ctx, "g_machine", config.embedding, 1, true, &mut init)?;
        let class_head = Linear::new(ctx, "g_class", config.embedding, classes, true, &mut init)?;
        Ok(Self {
            config: config.clone(),
            classes,
            backbone: Sequential::new(layers),
            machine_head,
            class_head,
        })
    }

    /// Embeddings `[N, embedding]` of segments `[N, 1, frames, mels]`.
    pub fn embed(&mut self, rec: &mut Recorder, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.backbone.forward(rec, x, mode)
    }

    /// Every trainable parameter: backbone, then the machine and class heads.
    pub fn params(&self) -> Vec<&Param> {
        let mut params = self.backbone.params();
        params.extend(self.machine_head.params());
        params.extend(self.class_head.params());
        params
    }

    /// Parameters and running statistics under their names.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        entries.extend(self.backbone.buffers());
        entries
    }
}
