//! One FrEIA `AllInOneBlock` (REFERENCE-SPECS §6) on `[N, C]` vectors or `[N, C, H, W]` maps:
//! x1 = first ceil(C/2) channels, `a = subnet(x1)` (Linear-ReLU-Linear or Conv-ReLU-Conv), the
//! soft-clamped affine coupling of x2, the softplus global affine, then a fixed random channel
//! permutation. Names follow FrEIA's `SequenceINN`: `module_list.{i}.subnet.0.weight`,
//! `module_list.{i}.global_scale`, `module_list.{i}.global_offset`, `module_list.{i}.perm`.

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::conv2d::Conv2dParams;
use crate::kernels::flow::{
    channel_gather, channel_scatter_add, coupling_backward, coupling_forward, coupling_inverse,
    flow_layout, global_affine_backward, global_affine_forward, global_affine_inverse,
    index_tensor, unit_scale_g,
};
use crate::nn::{reuse, Activation, Conv2d, Layer, Linear, Mode, Param, SeededInit, Sequential};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// The subnet predicting the coupling coefficients from x1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subnet {
    /// Linear(C1, hidden) -> ReLU -> Linear(hidden, 2 C2) on `[N, C]` vectors.
    Dense { hidden: usize },
    /// Conv2d(C1, hidden, k) -> ReLU -> Conv2d(hidden, 2 C2, k), "same" padding, on `[N, C, H, W]`
    /// maps (FastFlow uses k = 3 or 1); `kernel` must be odd.
    Conv { hidden: usize, kernel: usize },
}

/// FrEIA's default soft clamp of the coupling scale.
pub const CLAMP: f32 = 2.0;

fn build_subnet(
    ctx: &Context,
    prefix: &str,
    channels: usize,
    subnet: Subnet,
    init: &mut SeededInit,
) -> Result<Sequential> {
    let (inputs, outputs) = (channels - channels / 2, 2 * (channels / 2));
    let layers: Vec<Box<dyn Layer>> = match subnet {
        Subnet::Dense { hidden } => vec![
            Box::new(Linear::new(
                ctx,
                &format!("{prefix}.0"),
                inputs,
                hidden,
                true,
                init,
            )?),
            Box::new(Activation::relu(ctx)),
            Box::new(Linear::new(
                ctx,
                &format!("{prefix}.2"),
                hidden,
                outputs,
                true,
                init,
            )?),
        ],
        Subnet::Conv { hidden, kernel } => {
            if kernel % 2 == 0 {
                return Err(HarkError::invalid(
                    "flow",
                    format!("subnet kernel {kernel} must be odd (same padding)"),
                ));
            }
            let params = Conv2dParams {
                padding: (kernel / 2, kernel / 2),
                ..Default::default()
            };
            let k = (kernel, kernel);
            vec![
                Box::new(Conv2d::new(
                    ctx,
                    &format!("{prefix}.0"),
                    inputs,
                    hidden,
                    k,
                    params,
                    true,
                    init,
                )?),
                Box::new(Activation::relu(ctx)),
                Box::new(Conv2d::new(
                    ctx,
                    &format!("{prefix}.2"),
                    hidden,
                    outputs,
                    k,
                    params,
                    true,
                    init,
                )?),
            ]
        }
    };
    Ok(Sequential::new(layers))
}

/// What a training forward keeps for backward.
struct Saved {
    x: Tensor,
    a: Tensor,
    u: Tensor,
}

/// Reused output and gradient buffers (remade only when the batch shape changes).
#[derive(Default)]
struct Scratch {
    x1: Option<Tensor>,
    u: Option<Tensor>,
    v: Option<Tensor>,
    y: Option<Tensor>,
    grad_v: Option<Tensor>,
    grad_u: Option<Tensor>,
    grad_x: Option<Tensor>,
    grad_a: Option<Tensor>,
    inverse_logdet: Option<Tensor>,
}

/// One coupling block: the subnet, the global affine parameters and the fixed permutation.
pub struct CouplingBlock {
    ctx: Context,
    channels: usize,
    subnet_kind: Subnet,
    subnet: Sequential,
    pub global_scale: Param,
    pub global_offset: Param,
    /// The permutation as channel numbers in f32 (saved with the model).
    perm_values: Tensor,
    perm_index: Tensor,
    inverse_index: Tensor,
    x1_index: Tensor,
    saved: Option<Saved>,
    scratch: Scratch,
}

impl CouplingBlock {
    /// Block `index` of a flow over `channels` channels; the permutation is drawn from `rng`.
    pub fn new(
        ctx: &Context,
        index: usize,
        channels: usize,
        subnet: Subnet,
        init: &mut SeededInit,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        if channels < 2 {
            return Err(HarkError::invalid(
                "flow",
                format!("{channels} channels: a coupling block needs at least 2"),
            ));
        }
        let prefix = format!("module_list.{index}");
        let net = build_subnet(ctx, &format!("{prefix}.subnet"), channels, subnet, init)?;
        // FrEIA keeps [1, C] (vectors) or [1, C, 1, 1] (maps) parameters.
        let shape: Vec<usize> = match subnet {
            Subnet::Dense { .. } => vec![1, channels],
            Subnet::Conv { .. } => vec![1, channels, 1, 1],
        };
        let global_scale = Param::new(
            ctx,
            format!("{prefix}.global_scale"),
            &shape,
            &vec![unit_scale_g(); channels],
        )?;
        let global_offset = Param::new(
            ctx,
            format!("{prefix}.global_offset"),
            &shape,
            &vec![0.0; channels],
        )?;
        // Fisher-Yates with the seeded generator (FrEIA draws np.random.permutation).
        let mut perm: Vec<usize> = (0..channels).collect();
        for i in (1..channels).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            perm.swap(i, j);
        }
        let values: Vec<f32> = perm.iter().map(|&c| c as f32).collect();
        let split = channels - channels / 2;
        let mut block = Self {
            ctx: ctx.clone(),
            channels,
            subnet_kind: subnet,
            subnet: net,
            global_scale,
            global_offset,
            perm_values: Tensor::from_slice(ctx, &[channels], &values)?,
            perm_index: index_tensor(ctx, &perm)?,
            inverse_index: index_tensor(ctx, &perm)?,
            x1_index: index_tensor(ctx, &(0..split).collect::<Vec<_>>())?,
            saved: None,
            scratch: Scratch::default(),
        };
        block.set_permutation(&perm)?;
        Ok(block)
    }

    /// `y[c] = v[perm[c]]` (FrEIA's `w_perm[c, perm[c]] = 1`).
    fn set_permutation(&mut self, perm: &[usize]) -> Result<()> {
        let mut inverse = vec![usize::MAX; self.channels];
        for (c, &p) in perm.iter().enumerate() {
            if p >= self.channels || inverse[p] != usize::MAX {
                return Err(HarkError::invalid(
                    "flow",
                    format!("block permutation {perm:?} is not a permutation"),
                ));
            }
            inverse[p] = c;
        }
        let values: Vec<f32> = perm.iter().map(|&c| c as f32).collect();
        self.perm_values.write(&self.ctx, &values)?;
        self.perm_index = index_tensor(&self.ctx, perm)?;
        self.inverse_index = index_tensor(&self.ctx, &inverse)?;
        Ok(())
    }

    /// Rebuilds the permutation indices from `perm_values` (after a checkpoint load wrote it).
    pub fn refresh_permutation(&mut self) -> Result<()> {
        let values = self.perm_values.to_vec(&self.ctx)?;
        let perm = values
            .iter()
            .map(|&v| {
                if v >= 0.0 && v.fract() == 0.0 {
                    Ok(v as usize)
                } else {
                    Err(HarkError::invalid("flow", format!("permutation entry {v}")))
                }
            })
            .collect::<Result<Vec<usize>>>()?;
        self.set_permutation(&perm)
    }

    /// The permutation: output channel c takes channel `perm[c]` of the affine output.
    pub fn permutation(&self) -> Result<Vec<usize>> {
        Ok(self
            .perm_values
            .to_vec(&self.ctx)?
            .iter()
            .map(|&v| v as usize)
            .collect())
    }

    pub fn subnet(&self) -> Subnet {
        self.subnet_kind
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let (_, c, _) = flow_layout("flow", x.shape())?;
        let rank_ok = match self.subnet_kind {
            Subnet::Dense { .. } => x.shape().len() == 2,
            Subnet::Conv { .. } => x.shape().len() == 4,
        };
        if c != self.channels || !rank_ok {
            return Err(HarkError::shape(
                "flow",
                format!(
                    "input {:?} for a block over {} channels with a {:?} subnet",
                    x.shape(),
                    self.channels,
                    self.subnet_kind
                ),
            ));
        }
        Ok(())
    }

    /// The x1 half of `x` as its own tensor.
    fn first_half(&mut self, rec: &mut Recorder, x: &Tensor) -> Result<Tensor> {
        let mut shape = x.shape().to_vec();
        shape[1] = self.channels - self.channels / 2;
        let x1 = reuse(&self.ctx, &mut self.scratch.x1, &shape)?;
        channel_gather(rec, x, &self.x1_index, &x1)?;
        Ok(x1)
    }

    /// `y = block(x)`, adding the block's log-det to `logdet` (`[N]`).
    pub fn forward(
        &mut self,
        rec: &mut Recorder,
        x: &Tensor,
        logdet: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        self.check_input(x)?;
        let x1 = self.first_half(rec, x)?;
        let a = self.subnet.forward(rec, &x1, mode)?;
        let u = reuse(&self.ctx, &mut self.scratch.u, x.shape())?;
        coupling_forward(rec, x, &a, CLAMP, &u, logdet)?;
        let v = reuse(&self.ctx, &mut self.scratch.v, x.shape())?;
        let g = &self.global_scale.value;
        global_affine_forward(rec, &u, g, &self.global_offset.value, &v, logdet)?;
        let y = reuse(&self.ctx, &mut self.scratch.y, x.shape())?;
        channel_gather(rec, &v, &self.perm_index, &y)?;
        self.saved = (mode == Mode::Train).then(|| Saved {
            x: x.clone(),
            a: a.clone(),
            u: u.clone(),
        });
        Ok(y)
    }

    /// Input gradient of the last training forward given `grad_y` and `grad_logdet` (`[N]`);
    /// writes the subnet's and the global affine's parameter gradients.
    pub fn backward(
        &mut self,
        rec: &mut Recorder,
        grad_y: &Tensor,
        grad_logdet: &Tensor,
    ) -> Result<Tensor> {
        let saved = self
            .saved
            .take()
            .ok_or_else(|| HarkError::invalid("flow", "backward without a training forward"))?;
        let shape = saved.x.shape().to_vec();
        if grad_y.shape() != shape.as_slice() {
            return Err(HarkError::shape(
                "flow",
                format!("gradient {:?} for output {shape:?}", grad_y.shape()),
            ));
        }
        let grad_v = reuse(&self.ctx, &mut self.scratch.grad_v, &shape)?;
        channel_gather(rec, grad_y, &self.inverse_index, &grad_v)?;
        let grad_u = reuse(&self.ctx, &mut self.scratch.grad_u, &shape)?;
        global_affine_backward(
            rec,
            &saved.u,
            &self.global_scale.value,
            &grad_v,
            grad_logdet,
            &grad_u,
            &self.global_scale.grad,
            &self.global_offset.grad,
        )?;
        let grad_x = reuse(&self.ctx, &mut self.scratch.grad_x, &shape)?;
        let grad_a = reuse(&self.ctx, &mut self.scratch.grad_a, saved.a.shape())?;
        coupling_backward(
            rec,
            &saved.x,
            &saved.a,
            &grad_u,
            grad_logdet,
            CLAMP,
            &grad_x,
            &grad_a,
        )?;
        let grad_x1 = self.subnet.backward(rec, &grad_a)?;
        channel_scatter_add(rec, &grad_x1, &self.x1_index, &grad_x)?;
        Ok(grad_x)
    }

    /// `x = block^-1(y)` (the subnet runs in eval mode; a pending training forward is dropped).
    pub fn inverse(&mut self, rec: &mut Recorder, y: &Tensor) -> Result<Tensor> {
        self.check_input(y)?;
        self.saved = None;
        let shape = y.shape().to_vec();
        let n = shape[0];
        let logdet = reuse(&self.ctx, &mut self.scratch.inverse_logdet, &[n])?;
        rec.zero(&logdet);
        let v = reuse(&self.ctx, &mut self.scratch.grad_v, &shape)?;
        channel_gather(rec, y, &self.inverse_index, &v)?;
        let u = reuse(&self.ctx, &mut self.scratch.grad_u, &shape)?;
        let g = &self.global_scale.value;
        global_affine_inverse(rec, &v, g, &self.global_offset.value, &u, &logdet)?;
        let x1 = self.first_half(rec, &u)?;
        let a = self.subnet.forward(rec, &x1, Mode::Eval)?;
        let x = reuse(&self.ctx, &mut self.scratch.grad_x, &shape)?;
        coupling_inverse(rec, &u, &a, CLAMP, &x, &logdet)?;
        Ok(x)
    }

    /// Trainable parameters: subnet weights, then global scale and offset.
    pub fn params(&self) -> Vec<&Param> {
        let mut params = self.subnet.params();
        params.push(&self.global_scale);
        params.push(&self.global_offset);
        params
    }

    /// The permutation under `module_list.{i}.perm`.
    pub fn buffers(&self, index: usize) -> Vec<(String, &Tensor)> {
        vec![(format!("module_list.{index}.perm"), &self.perm_values)]
    }
}
