//! Training a flow on vectors: the settings, the epoch report, and the step the shared loop
//! ([`crate::train`]) runs, resumable from a saved state.

use super::model::Flow;
use super::nll::FlowNll;
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::optim::AdamConfig;
use crate::nn::{Adam, Mode};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, RunId, Schedule, Shuffle, Step, TrainState};

/// Training settings of a flow on vectors.
#[derive(Clone, Copy, Debug)]
pub struct FlowTrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
}

/// Progress of training, reported once per epoch.
#[derive(Clone, Copy, Debug)]
pub struct FlowEpochReport {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean NLL per vector over the epoch's sampled batches (nats).
    pub loss: f64,
    pub vectors: usize,
}

/// Fits `flow` to `vectors` (`[n, C]` row-major) by minimising the mean NLL with Adam;
/// `progress` sees every epoch.
pub fn train(
    ctx: &Context,
    flow: &mut Flow,
    vectors: &[f32],
    config: &FlowTrainConfig,
    progress: impl FnMut(&FlowEpochReport),
) -> Result<()> {
    train_resumable(ctx, flow, vectors, config, None, progress)
}

/// [`train`] that saves its state after every epoch to `state.path` and, with `state.resume`,
/// continues from it: the result is the same as one uninterrupted run.
pub fn train_resumable(
    ctx: &Context,
    flow: &mut Flow,
    vectors: &[f32],
    config: &FlowTrainConfig,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&FlowEpochReport),
) -> Result<()> {
    let dims = flow.config().channels;
    let n = vectors.len() / dims.max(1);
    if n < 2 || n * dims != vectors.len() {
        return Err(HarkError::invalid(
            "flow",
            format!(
                "{} values are not at least 2 vectors of {dims}",
                vectors.len()
            ),
        ));
    }
    if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            "flow",
            format!("value {i} is not finite"),
        ));
    }
    let batch_size = config.batch_size.clamp(2, n);
    let mut step = FlowStep {
        optimizer: Adam::new(ctx, &flow.params(), AdamConfig::adam(config.lr))?,
        flow,
        nll: FlowNll::new(ctx, None),
        vectors,
        dims,
        batch_size,
        staging: vec![0.0f32; batch_size * dims],
        x: Tensor::zeros(ctx, &[batch_size, dims], DType::F32)?,
        rows: None,
    };
    let schedule = Schedule::drop_last(config.epochs, batch_size);
    let state = state.map(|s| {
        s.identified(
            RunId {
                what: "flow",
                model: "flow",
                rows: ("train.vectors", n),
                batch: batch_size,
                seed: config.seed,
            },
            &[
                ("input_dims", dims.to_string()),
                // The permutations come from the flow's own seed: a resumed state holds them.
                ("flow.seed", step.flow.config().seed.to_string()),
            ],
        )
    });
    train::run(
        ctx,
        &mut step,
        &mut Shuffle::new(n, config.seed ^ 0x5eed),
        &schedule,
        state.as_ref(),
        |_| {},
        |_, done| {
            progress(&FlowEpochReport {
                epoch: done.epoch,
                epochs: done.epochs,
                loss: done.loss(0),
                vectors: n,
            });
            Ok(())
        },
    )
}

/// One batch of flow training: the batch's vectors in, their mean NLL per dimension out.
struct FlowStep<'a> {
    flow: &'a mut Flow,
    optimizer: Adam,
    nll: FlowNll,
    vectors: &'a [f32],
    dims: usize,
    batch_size: usize,
    staging: Vec<f32>,
    x: Tensor,
    /// Per-row NLL of the last step.
    rows: Option<Tensor>,
}

impl Step for FlowStep<'_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], _rng: &mut SeededRng) -> Result<()> {
        train::gather_rows(&mut self.staging, self.vectors, self.dims, rows);
        self.x.write(ctx, &self.staging)
    }

    fn record(&mut self, rec: &mut Recorder, _probe: bool) -> Result<()> {
        let (z, logdet) = self.flow.forward(rec, &self.x, Mode::Train)?;
        let (rows, _) = self.nll.forward(rec, &z, &logdet)?;
        let (grad_z, grad_logdet) =
            self.nll
                .backward(rec, &z, &logdet, 1.0 / self.batch_size as f32)?;
        self.flow.backward(rec, &grad_z, &grad_logdet)?;
        self.optimizer.step(rec, &self.flow.params())?;
        self.rows = Some(rows);
        Ok(())
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        let Some(rows) = &self.rows else {
            return Ok(Vec::new());
        };
        let values = rows.to_vec(ctx)?;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
        Ok(vec![mean / self.dims as f64])
    }

    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.flow.state_dict();
        tensors.extend(self.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.optimizer
    }
}
