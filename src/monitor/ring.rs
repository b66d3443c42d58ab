//! A fixed-capacity ring of the most recent samples of one stream: pushing never allocates, and
//! the last window is copied out in time order when it is due.

/// The last `capacity` samples pushed (fewer until that many arrived).
#[derive(Clone, Debug)]
pub struct Ring {
    buffer: Vec<f32>,
    /// Where the next sample goes.
    head: usize,
    len: usize,
}

impl Ring {
    /// A ring of `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            buffer: vec![0.0; capacity.max(1)],
            head: 0,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buffer.len()
    }

    /// Samples held (at most the capacity).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every sample (after a gap: the next window must be contiguous audio).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Appends `samples`, overwriting the oldest once full.
    pub fn push(&mut self, samples: &[f32]) {
        let cap = self.buffer.len();
        // Only the last `cap` samples can survive.
        let samples = &samples[samples.len().saturating_sub(cap)..];
        let mut rest = samples;
        while !rest.is_empty() {
            let n = rest.len().min(cap - self.head);
            self.buffer[self.head..self.head + n].copy_from_slice(&rest[..n]);
            self.head = (self.head + n) % cap;
            rest = &rest[n..];
        }
        self.len = (self.len + samples.len()).min(cap);
    }

    /// The last `n` samples (at most [`Ring::len`]) in time order.
    pub fn last(&self, n: usize) -> Vec<f32> {
        let cap = self.buffer.len();
        let n = n.min(self.len);
        let start = (self.head + cap - n) % cap;
        let mut out = Vec::with_capacity(n);
        if start + n <= cap {
            out.extend_from_slice(&self.buffer[start..start + n]);
        } else {
            out.extend_from_slice(&self.buffer[start..]);
            out.extend_from_slice(&self.buffer[..n - (cap - start)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn keeps_the_last_samples_in_order_across_the_wrap() {
        let mut ring = Ring::new(5);
        ring.push(&[1.0, 2.0, 3.0]);
        assert_eq!(ring.last(5), vec![1.0, 2.0, 3.0]);
        ring.push(&[4.0, 5.0, 6.0, 7.0]);
        assert_eq!(ring.last(5), vec![3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(ring.last(2), vec![6.0, 7.0]);
        ring.push(&(10..22).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(ring.last(5), vec![17.0, 18.0, 19.0, 20.0, 21.0]);
        ring.clear();
        assert!(ring.is_empty());
        assert!(ring.last(3).is_empty());
    }
}
