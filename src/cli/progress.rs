//! Progress of long training runs: a bar on a terminal, and plain lines on stderr when stderr is
//! not a terminal (a log file, a script, CI), where indicatif hides the bar and everything
//! printed through it. Each finished epoch then leaves one line with its losses, so a batch
//! run's log shows the training curve.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::path::PathBuf;

use hark::audio::dataset::{Dataset, Split};
use hark::detect::contract::AnomalyScorer;
use hark::HarkError;
use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `unit`s (epochs, batches) that degrades to log lines.
#[derive(Clone)]
pub struct TrainProgress {
    bar: ProgressBar,
    lines: bool,
    unit: &'static str,
    /// The epoch of the last [`TrainProgress::epoch_step`] (shared by the clones).
    last_epoch: Arc<AtomicUsize>,
}

impl TrainProgress {
    pub fn new(len: u64, unit: &'static str) -> Self {
        let bar = ProgressBar::new(len);
        let template =
            format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{elapsed}} (eta {{eta}})  {{msg}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            lines: !std::io::stderr().is_terminal(),
            unit,
            last_epoch: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Epoch `epoch` (1-based) of the model in training done, on a bar over all models'
    /// epochs: a model resumed past its first epochs first counts the epochs it skips, so that
    /// a resumed run's bar still ends full.
    pub fn epoch_step(&self, epoch: usize, message: String) {
        let last = self.last_epoch.swap(epoch, Ordering::Relaxed);
        // A lower or equal epoch than the last one starts the next model.
        let skipped = if epoch > last {
            epoch - last - 1
        } else {
            epoch - 1
        };
        self.bar.inc(skipped as u64);
        self.step(message, true);
    }

    /// One unit done; `message` is its status (losses). In line mode it is printed when
    /// `log_line` holds (e.g. only at the end of an epoch for a per-batch bar).
    pub fn step(&self, message: String, log_line: bool) {
        self.bar.inc(1);
        if self.lines && log_line {
            let len = self.bar.length().unwrap_or(0);
            let elapsed = self.bar.elapsed().as_secs_f64();
            eprintln!(
                "[{}/{len} {} {elapsed:.0} s] {message}",
                self.bar.position(),
                self.unit
            );
        }
        self.bar.set_message(message);
    }

    /// Restarts the count at 0 of `len` units.
    pub fn restart(&self, len: u64) {
        self.bar.set_position(0);
        self.bar.set_length(len);
    }

    /// A line above the bar (on stdout in line mode).
    pub fn println(&self, line: String) {
        if self.lines {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Trains `system` on every machine type of `dataset` in turn, printing above `bar` where each
/// machine's model went (`saved_to(machine)`, plus `note`), then finishes the bar. A machine
/// type without training clips is an error naming its folder.
pub fn train_each_machine(
    system: &mut dyn AnomalyScorer,
    dataset: &Dataset,
    bar: &TrainProgress,
    saved_to: impl Fn(&str) -> PathBuf,
    note: &str,
) -> hark::Result<()> {
    for machine in &dataset.machines {
        let clips: Vec<_> = machine.split(Split::Train).collect();
        if clips.is_empty() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: "no training clips".into(),
            });
        }
        system.train(machine, &clips)?;
        bar.println(format!(
            "{}: {} training clips -> {}{note}",
            machine.machine,
            clips.len(),
            saved_to(&machine.machine).display()
        ));
    }
    bar.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_model_counts_the_epochs_it_skips() {
        let bar = TrainProgress::new(9, "epochs");
        bar.bar
            .set_draw_target(indicatif::ProgressDrawTarget::hidden());
        // Model A resumed after epoch 1 of 3, model B from the start, model C after epoch 2.
        for epoch in [2, 3, 1, 2, 3, 3] {
            bar.epoch_step(epoch, String::new());
        }
        assert_eq!(bar.bar.position(), 9);
    }
}
