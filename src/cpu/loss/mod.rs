//! CPU references for the losses, in f64 (also the finite-difference references). Each forward
//! returns `(row values, loss)` for a `[rows, cols]` prediction, as the GPU's two stages do.

mod batch_hard_triplet;
mod bce_with_logits;
mod cross_entropy;
mod l1;
mod loss_mean;
mod mixup;
mod mse;
mod sc_adacos;
mod si_sdr;

pub use batch_hard_triplet::{
    batch_hard_triplet, batch_hard_triplet_anchors, batch_hard_triplet_backward, TripletAnchor,
};
pub use bce_with_logits::{bce_with_logits, bce_with_logits_backward};
pub use cross_entropy::{cross_entropy, cross_entropy_backward};
pub use l1::{l1_loss, l1_loss_backward};
pub use loss_mean::loss_mean;
pub use mixup::mixup;
pub use mse::{mse_backward, mse_rows};
pub use sc_adacos::{sc_adacos, sc_adacos_backward, sc_adacos_initial_scale, ScAdaCosForward};
pub use si_sdr::{si_sdr_loss, si_sdr_loss_backward};
