//! Training the autoencoder: the step the shared loop ([`crate::train`]) runs, resumable from a
//! state in the format this model has always written.

use super::{AutoencoderConfig, DenseAutoencoder, EpochReport};
use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::loss::{mse_backward, mse_rows};
use crate::kernels::optim::AdamConfig;
use crate::nn::{Adam, Layer, Mode};
use crate::rng::SeededRng;
use crate::runtime::Recorder;
use crate::tensor::{DType, Tensor};
use crate::train::{self, RunId, Schedule, Shuffle, Step};

/// Trains `model` on `vectors` (`[n, dims]` row-major); `progress` sees every epoch.
pub fn train(
    ctx: &Context,
    model: &mut DenseAutoencoder,
    vectors: &[f32],
    config: &AutoencoderConfig,
    progress: impl FnMut(&EpochReport),
) -> Result<()> {
    train_resumable(ctx, model, vectors, config, None, progress)
}

pub use crate::train::TrainState;

/// [`train`] that saves its state after every epoch to `state.path` and, with `state.resume`,
/// continues from it: the result is the same as one uninterrupted run (same batches, same
/// optimizer moments). Epochs already done count towards `config.epochs`.
pub fn train_resumable(
    ctx: &Context,
    model: &mut DenseAutoencoder,
    vectors: &[f32],
    config: &AutoencoderConfig,
    state: Option<&TrainState>,
    mut progress: impl FnMut(&EpochReport),
) -> Result<()> {
    let dims = model.dims();
    let n = vectors.len() / dims.max(1);
    if n < 2 {
        return Err(HarkError::invalid(
            "autoencoder",
            "fewer than 2 training vectors",
        ));
    }
    if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
        return Err(HarkError::invalid(
            "autoencoder",
            format!("feature value {i} is not finite"),
        ));
    }
    let batch_size = config.batch_size.clamp(2, n);
    let optimizer = Adam::new(ctx, &model.params(), AdamConfig::adam(config.lr))?;
    let mut shuffle = Shuffle::new(n, config.seed ^ 0x5eed);
    let mut step = AeStep {
        model,
        optimizer,
        vectors,
        dims,
        staging: vec![0.0f32; batch_size * dims],
        x: Tensor::zeros(ctx, &[batch_size, dims], DType::F32)?,
        grad: Tensor::zeros(ctx, &[batch_size, dims], DType::F32)?,
        losses: Tensor::zeros(ctx, &[batch_size], DType::F32)?,
    };
    // The keys and values an autoencoder state has always carried, so that states written
    // before the shared loop still resume.
    let resumable = state.map(|s| {
        let mut resumable = s.identified(
            RunId {
                what: "autoencoder",
                model: "dcase_dense_autoencoder",
                rows: ("train.vectors", n),
                batch: batch_size,
                seed: config.seed,
            },
            &[("input_dims", dims.to_string())],
        );
        // States written before the shuffle was saved replay it (ae draws nothing else).
        resumable.replay_missing_shuffle = true;
        resumable
    });
    let schedule = Schedule::drop_last(config.epochs, batch_size);
    train::run(
        ctx,
        &mut step,
        &mut shuffle,
        &schedule,
        resumable.as_ref(),
        |_| {},
        |_, done| {
            progress(&EpochReport {
                epoch: done.epoch,
                epochs: done.epochs,
                loss: done.loss(0),
                vectors: n,
            });
            Ok(())
        },
    )
}

/// One batch of autoencoder training: the batch's vectors in, their reconstruction error out.
struct AeStep<'a> {
    model: &'a mut DenseAutoencoder,
    optimizer: Adam,
    vectors: &'a [f32],
    dims: usize,
    staging: Vec<f32>,
    x: Tensor,
    grad: Tensor,
    losses: Tensor,
}

impl Step for AeStep<'_> {
    fn upload(&mut self, ctx: &Context, rows: &[usize], _rng: &mut SeededRng) -> Result<()> {
        train::gather_rows(&mut self.staging, self.vectors, self.dims, rows);
        self.x.write(ctx, &self.staging)
    }

    fn record(&mut self, rec: &mut Recorder, probe: bool) -> Result<()> {
        let y = self.model.forward(rec, &self.x, Mode::Train)?;
        mse_backward(rec, &y, &self.x, 1.0, &self.grad)?;
        self.model.backward(rec, &self.grad)?;
        self.optimizer.step(rec, &self.model.params())?;
        if probe {
            mse_rows(rec, &y, &self.x, &self.losses)?;
        }
        Ok(())
    }

    fn read_losses(&mut self, ctx: &Context) -> Result<Vec<f64>> {
        let values = self.losses.to_vec(ctx)?;
        Ok(vec![
            values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64,
        ])
    }

    fn state_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.model.state_dict();
        tensors.extend(self.optimizer.state_tensors());
        tensors
    }

    fn optimizer(&mut self) -> &mut Adam {
        &mut self.optimizer
    }
}
