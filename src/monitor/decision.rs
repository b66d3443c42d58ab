//! Debounced decisions per stream: an alert once `k` of the last `n` windows scored above the
//! threshold, an all-clear once `m` windows in a row stayed below it. The state is plain data so
//! that it can be saved and resumed after a restart.

use std::collections::VecDeque;

use crate::error::{HarkError, Result};

/// When to raise and clear an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionRule {
    /// Windows above the threshold among the last `alert_n` that raise an alert.
    pub alert_k: usize,
    pub alert_n: usize,
    /// Windows in a row below the threshold that clear an alert.
    pub clear_m: usize,
}

impl Default for DecisionRule {
    fn default() -> Self {
        Self {
            alert_k: 2,
            alert_n: 3,
            clear_m: 3,
        }
    }
}

impl DecisionRule {
    /// Refuses rules that can never fire: `k` of 0, `k > n`, `m` of 0.
    pub fn check(&self) -> Result<()> {
        if self.alert_k == 0 || self.alert_k > self.alert_n || self.clear_m == 0 {
            return Err(HarkError::InvalidSetting {
                name: "decision rule",
                value: format!("k={} n={} m={}", self.alert_k, self.alert_n, self.clear_m),
                reason: "needs 1 <= k <= n and m >= 1".to_string(),
            });
        }
        Ok(())
    }
}

/// Whether a stream is in alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Normal,
    Alert,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Normal => "normal",
            AlertState::Alert => "alert",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "normal" => Some(AlertState::Normal),
            "alert" => Some(AlertState::Alert),
            _ => None,
        }
    }
}

/// A change of state caused by one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Raised,
    Cleared,
}

/// One stream's decision state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub state: AlertState,
    /// Above-threshold flags of the last `n` windows, oldest first.
    pub recent: VecDeque<bool>,
    /// Windows in a row below the threshold, up to the latest.
    pub quiet_run: usize,
    /// Windows decided so far (across restarts).
    pub windows: u64,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            state: AlertState::Normal,
            recent: VecDeque::new(),
            quiet_run: 0,
            windows: 0,
        }
    }
}

impl Decision {
    /// Takes one window's verdict (`above`: its score exceeded the threshold).
    pub fn update(&mut self, rule: &DecisionRule, above: bool) -> Option<Transition> {
        self.windows += 1;
        self.recent.push_back(above);
        while self.recent.len() > rule.alert_n {
            self.recent.pop_front();
        }
        self.quiet_run = if above { 0 } else { self.quiet_run + 1 };
        match self.state {
            AlertState::Normal if self.recent.iter().filter(|&&a| a).count() >= rule.alert_k => {
                self.state = AlertState::Alert;
                Some(Transition::Raised)
            }
            AlertState::Alert if self.quiet_run >= rule.clear_m => {
                self.state = AlertState::Normal;
                // The windows that raised the last alert must not raise the next one.
                self.recent.clear();
                Some(Transition::Cleared)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_of_n_raises_and_m_quiet_clears() {
        let rule = DecisionRule {
            alert_k: 2,
            alert_n: 3,
            clear_m: 2,
        };
        let mut d = Decision::default();
        // One spike alone does not alert; two of three do.
        assert_eq!(d.update(&rule, true), None);
        assert_eq!(d.update(&rule, false), None);
        assert_eq!(d.update(&rule, false), None);
        assert_eq!(d.update(&rule, true), None);
        assert_eq!(d.update(&rule, true), Some(Transition::Raised));
        assert_eq!(d.state, AlertState::Alert);
        assert_eq!(d.update(&rule, false), None);
        assert_eq!(d.update(&rule, true), None);
        assert_eq!(d.update(&rule, false), None);
        assert_eq!(d.update(&rule, false), Some(Transition::Cleared));
        assert_eq!(d.windows, 9);
        assert!(DecisionRule {
            alert_k: 4,
            alert_n: 3,
            clear_m: 1
        }
        .check()
        .is_err());
    }
}
