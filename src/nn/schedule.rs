//! Learning-rate schedules: constant, and one-cycle as torch.optim.lr_scheduler.OneCycleLR with
//! cosine annealing (warm up from `max_lr / div_factor` to `max_lr` over `pct_start` of the steps,
//! then down to `max_lr / (div_factor * final_div_factor)`).

/// A learning rate per optimizer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    Constant(f32),
    OneCycle {
        max_lr: f32,
        total_steps: u64,
        /// Fraction of the steps spent increasing (torch default 0.3).
        pct_start: f32,
        /// Initial lr = max_lr / div_factor (torch default 25).
        div_factor: f32,
        /// Final lr = initial lr / final_div_factor (torch default 1e4).
        final_div_factor: f32,
    },
}

impl LrSchedule {
    /// torch's OneCycleLR defaults for `max_lr` over `total_steps`.
    pub fn one_cycle(max_lr: f32, total_steps: u64) -> Self {
        LrSchedule::OneCycle {
            max_lr,
            total_steps,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        }
    }

    /// The learning rate of step `step` (0-based, as torch's scheduler counts).
    pub fn lr(&self, step: u64) -> f32 {
        match *self {
            LrSchedule::Constant(lr) => lr,
            LrSchedule::OneCycle {
                max_lr,
                total_steps,
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = f64::from(max_lr) / f64::from(div_factor);
                let minimum = initial / f64::from(final_div_factor);
                // torch: phase ends at pct_start * total - 1 and total - 1.
                let up_end = (f64::from(pct_start) * total_steps as f64 - 1.0).max(0.0);
                let down_end = (total_steps as f64 - 1.0).max(up_end + 1.0);
                let t = (step as f64).min(down_end);
                let cos_anneal = |start: f64, end: f64, pct: f64| {
                    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
                };
                let lr = if t <= up_end {
                    let pct = if up_end > 0.0 { t / up_end } else { 1.0 };
                    cos_anneal(initial, f64::from(max_lr), pct)
                } else {
                    cos_anneal(
                        f64::from(max_lr),
                        minimum,
                        (t - up_end) / (down_end - up_end),
                    )
                };
                lr as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_matches_torch_values() {
        // torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100) get_last_lr()
        // after k scheduler steps: k=0 -> 0.004, k=29 -> 0.1 (peak), k=99 -> 4e-7.
        let s = LrSchedule::one_cycle(0.1, 100);
        assert!((s.lr(0) - 0.004).abs() < 1e-9);
        assert!((s.lr(29) - 0.1).abs() < 1e-7);
        assert!((s.lr(99) - 4e-7).abs() < 1e-10);
        // Rising then falling.
        assert!(s.lr(10) > s.lr(5) && s.lr(29) > s.lr(28) && s.lr(60) < s.lr(30));
        // Past the end it stays at the floor.
        assert!((s.lr(500) - 4e-7).abs() < 1e-10);
        assert_eq!(LrSchedule::Constant(0.3).lr(7), 0.3);
    }
}
