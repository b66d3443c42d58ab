//! [`Flow`]: a stack of coupling blocks mapping `[N, C]` vectors (or `[N, C, H, W]` maps) to
//! latents of the same shape with the per-sample log-det of the Jacobian.

use std::collections::HashMap;
use std::path::Path;

use super::block::{CouplingBlock, Subnet};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::nn::{reuse, Mode, Param, SeededInit};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::Tensor;

/// The shape of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Channels C of the input (the vector dimension for `[N, D]` inputs).
    pub channels: usize,
    /// Number of coupling blocks.
    pub blocks: usize,
    pub subnet: Subnet,
    /// Seeds the subnet weights and the permutations.
    pub seed: u64,
}

/// The flow: `z = f(x)`, `log|det df/dx|` per sample.
pub struct Flow {
    ctx: Context,
    config: FlowConfig,
    blocks: Vec<CouplingBlock>,
    logdet: Option<Tensor>,
}

impl Flow {
    pub fn new(ctx: &Context, config: FlowConfig) -> Result<Self> {
        if config.blocks == 0 {
            return Err(HarkError::invalid("flow", "a flow needs at least 1 block"));
        }
        let mut init = SeededInit::new(config.seed);
        let mut rng = SeededRng::new(config.seed ^ 0x9e37_79b9_7f4a_7c15);
        let blocks = (0..config.blocks)
            .map(|i| {
                CouplingBlock::new(ctx, i, config.channels, config.subnet, &mut init, &mut rng)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            ctx: ctx.clone(),
            config,
            blocks,
            logdet: None,
        })
    }

    pub fn config(&self) -> FlowConfig {
        self.config
    }

    pub fn blocks(&self) -> &[CouplingBlock] {
        &self.blocks
    }

    /// `(z, logdet)`: the latents and the per-sample log-det (`[N]`, owned by the flow and reused
    /// across calls). [`Mode::Train`] keeps what [`Flow::backward`] needs.
    pub fn forward(
        &mut self,
        rec: &mut Recorder,
        x: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, Tensor)> {
        let n = x.shape().first().copied().unwrap_or(0);
        let logdet = reuse(&self.ctx, &mut self.logdet, &[n])?;
        rec.zero(&logdet);
        let mut current = x.clone();
        for block in &mut self.blocks {
            current = block.forward(rec, &current, &logdet, mode)?;
        }
        Ok((current, logdet))
    }

    /// Input gradient of the last training forward given the gradients of `z` and of the
    /// per-sample log-det (`[N]`); writes every parameter's gradient.
    pub fn backward(
        &mut self,
        rec: &mut Recorder,
        grad_z: &Tensor,
        grad_logdet: &Tensor,
    ) -> Result<Tensor> {
        let mut grad = grad_z.clone();
        for block in self.blocks.iter_mut().rev() {
            grad = block.backward(rec, &grad, grad_logdet)?;
        }
        Ok(grad)
    }

    /// `x = f^-1(z)`.
    pub fn inverse(&mut self, rec: &mut Recorder, z: &Tensor) -> Result<Tensor> {
        let mut current = z.clone();
        for block in self.blocks.iter_mut().rev() {
            current = block.inverse(rec, &current)?;
        }
        Ok(current)
    }

    /// Trainable parameters in state-dict order (give them to [`crate::nn::Adam`]).
    pub fn params(&self) -> Vec<&Param> {
        self.blocks.iter().flat_map(|b| b.params()).collect()
    }

    /// Parameters and permutations under FrEIA-like names.
    pub fn state_dict(&self) -> Vec<(String, &Tensor)> {
        let mut entries: Vec<(String, &Tensor)> = self
            .params()
            .into_iter()
            .map(|p| (p.name.clone(), &p.value))
            .collect();
        for (i, block) in self.blocks.iter().enumerate() {
            entries.extend(block.buffers(i));
        }
        entries
    }

    /// The configuration as checkpoint metadata.
    pub fn metadata(&self) -> HashMap<String, String> {
        let (kind, hidden, kernel) = match self.config.subnet {
            Subnet::Dense { hidden } => ("dense", hidden, 0),
            Subnet::Conv { hidden, kernel } => ("conv", hidden, kernel),
        };
        HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                "hark_model".to_string(),
                "freia_all_in_one_flow".to_string(),
            ),
            (
                "flow.channels".to_string(),
                self.config.channels.to_string(),
            ),
            ("flow.blocks".to_string(), self.config.blocks.to_string()),
            ("flow.subnet".to_string(), kind.to_string()),
            ("flow.hidden".to_string(), hidden.to_string()),
            ("flow.kernel".to_string(), kernel.to_string()),
        ])
    }

    /// Saves the flow as safetensors (atomically), with its configuration as metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::checkpoint::save_checkpoint(&self.ctx, path, &self.state_dict(), self.metadata())
    }

    /// Loads a flow saved by [`Flow::save`] with the configuration `config` (shapes and names are
    /// checked against the file).
    pub fn load(ctx: &Context, path: &Path, config: FlowConfig) -> Result<Self> {
        let mut flow = Self::new(ctx, config)?;
        crate::io::checkpoint::load_checkpoint(ctx, path, &flow.state_dict())?;
        flow.refresh_permutations()?;
        Ok(flow)
    }

    /// Rebuilds each block's permutation indices from its `perm` tensor (after a load wrote it).
    pub fn refresh_permutations(&mut self) -> Result<()> {
        self.blocks
            .iter_mut()
            .try_for_each(CouplingBlock::refresh_permutation)
    }
}
