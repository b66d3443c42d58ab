//! The order of the training rows, epoch by epoch, and the generator that shuffles it.

use std::collections::HashMap;

use crate::error::{HarkError, Result};
use crate::rng::SeededRng;

/// The training rows in the order of the current epoch, and the generator that shuffles them.
pub struct Shuffle {
    pub(super) order: Vec<usize>,
    pub(super) rng: SeededRng,
}

impl Shuffle {
    /// Rows `0..n` in order; the generator seeded with `seed` (each system mixes its own
    /// constant into the user's seed, so that systems trained with one seed draw differently).
    pub fn new(n: usize, seed: u64) -> Self {
        Self {
            order: (0..n).collect(),
            rng: SeededRng::new(seed),
        }
    }

    /// The next epoch's order: a Fisher-Yates shuffle of the current one.
    pub fn next_epoch(&mut self) {
        let n = self.order.len();
        for i in (1..n).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
    }

    /// Replays the shuffles of `epochs` epochs, as a resumed run must to see the same batches
    /// as an uninterrupted one (valid for systems that draw nothing else from the generator).
    pub fn skip_epochs(&mut self, epochs: usize) {
        for _ in 0..epochs {
            self.next_epoch();
        }
    }

    /// The rows of the current epoch, in order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The order and the generator's state as checkpoint metadata.
    pub(super) fn metadata(&self) -> [(String, String); 2] {
        let order: Vec<String> = self.order.iter().map(usize::to_string).collect();
        [
            (SHUFFLE_RNG.to_string(), self.rng.state().to_string()),
            (SHUFFLE_ORDER.to_string(), order.join(",")),
        ]
    }

    /// Restores [`Shuffle::metadata`]; `None` when the state has none (then the caller replays).
    pub(super) fn restore(
        &mut self,
        metadata: &HashMap<String, String>,
        what: &str,
    ) -> Option<Result<()>> {
        let bad = || HarkError::invalid("training state", format!("{what}: malformed shuffle"));
        let (rng, order) = match (metadata.get(SHUFFLE_RNG), metadata.get(SHUFFLE_ORDER)) {
            (Some(rng), Some(order)) => (rng, order),
            (None, None) => return None,
            // Half a shuffle is a damaged state, not an old one.
            _ => return Some(Err(bad())),
        };
        let parsed = (|| {
            let rng: u64 = rng.parse().ok()?;
            let order: Vec<usize> = if order.is_empty() {
                Vec::new()
            } else {
                order
                    .split(',')
                    .map(|v| v.parse().ok())
                    .collect::<Option<_>>()?
            };
            let mut sorted = order.clone();
            sorted.sort_unstable();
            sorted
                .iter()
                .enumerate()
                .all(|(i, &v)| i == v)
                .then_some((rng, order))
        })();
        Some(match parsed {
            Some((rng, order)) if order.len() == self.order.len() => {
                self.rng = SeededRng::from_state(rng);
                self.order = order;
                Ok(())
            }
            _ => Err(bad()),
        })
    }
}

const SHUFFLE_RNG: &str = "train.shuffle.rng";
const SHUFFLE_ORDER: &str = "train.shuffle.order";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_is_a_permutation_fixed_by_its_seed() {
        let mut a = Shuffle::new(37, 5);
        let mut b = Shuffle::new(37, 5);
        a.next_epoch();
        b.next_epoch();
        assert_eq!(a.order(), b.order());
        let mut sorted = a.order().to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..37).collect::<Vec<_>>());
        assert_ne!(a.order(), (0..37).collect::<Vec<_>>().as_slice());
        let mut c = Shuffle::new(37, 6);
        c.next_epoch();
        assert_ne!(a.order(), c.order());
    }

    #[test]
    fn skipping_epochs_replays_their_shuffles() {
        let mut a = Shuffle::new(10, 1);
        for _ in 0..3 {
            a.next_epoch();
        }
        let mut b = Shuffle::new(10, 1);
        b.skip_epochs(3);
        assert_eq!(a.order(), b.order());
    }

    #[test]
    fn a_shuffle_state_round_trips_and_a_bad_one_is_refused() {
        let mut a = Shuffle::new(9, 4);
        a.next_epoch();
        let metadata: HashMap<String, String> = a.metadata().into_iter().collect();
        let mut b = Shuffle::new(9, 0);
        assert!(matches!(b.restore(&metadata, "test"), Some(Ok(()))));
        a.next_epoch();
        b.next_epoch();
        assert_eq!(a.order(), b.order());
        let mut short = Shuffle::new(8, 0);
        assert!(matches!(short.restore(&metadata, "test"), Some(Err(_))));
        let mut broken = metadata.clone();
        broken.insert(SHUFFLE_ORDER.to_string(), "0,1,1,3,4,5,6,7,8".to_string());
        assert!(matches!(b.restore(&broken, "test"), Some(Err(_))));
        assert!(b.restore(&HashMap::new(), "test").is_none());
        let mut half = metadata.clone();
        half.remove(SHUFFLE_ORDER);
        assert!(matches!(b.restore(&half, "test"), Some(Err(_))));
    }
}
