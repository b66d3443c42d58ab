//! Windows scored through the scoring contract every system implements: each window becomes a
//! clip (held in memory under a virtual path, read like a file), all windows due in a tick go
//! into one `score` call, and each section's threshold is the gamma fit `hark score` uses,
//! fitted to the model's scores of its training clips. So a window scores exactly as the same
//! samples written to a WAV file and given to `hark score` would. A system whose clip score is a
//! mean of vector scores (`ae`, `flow`) may instead be scored incrementally
//! ([`crate::monitor::incremental`]), to the same scores.

use std::collections::BTreeMap;

use crate::audio::dataset::{Clip, ClipName, MachineDataset, Naming, Split};
use crate::audio::held::HeldClips;
use crate::detect::contract::AnomalyScorer;
use crate::detect::outputs::decision_threshold;
use crate::error::{HarkError, Result};
use crate::monitor::incremental::{VectorLayout, VectorMeanScorer};

/// A window to score: whose it is, where it starts on its stream's timeline, its samples.
pub struct WindowInput<'a> {
    pub stream: &'a str,
    pub section: u32,
    pub start: u64,
    pub samples: &'a [f32],
}

/// A system to monitor with: any system scores whole windows through its scoring contract; one
/// whose clip score is a mean of vector scores can also score them incrementally.
pub enum ScoringModel {
    Clips(Box<dyn AnomalyScorer>),
    VectorMean(Box<dyn VectorMeanScorer>),
}

impl ScoringModel {
    /// The system through its scoring contract.
    pub fn clips(&mut self) -> &mut dyn AnomalyScorer {
        match self {
            Self::Clips(s) => s.as_mut(),
            Self::VectorMean(s) => s.as_mut(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Clips(s) => s.name(),
            Self::VectorMean(s) => s.name(),
        }
    }
}

/// A loaded (or trained) system with its per-section decision thresholds.
pub struct WindowScorer {
    scorer: ScoringModel,
    machine: String,
    sample_rate: u32,
    thresholds: BTreeMap<u32, f64>,
    /// Samples of the first training clip: the default window.
    clip_samples: Option<usize>,
}

impl WindowScorer {
    /// Runs `scorer.train` on the training clips of `machine` (a system built to load from a
    /// model folder loads there, as in `hark score`), then fits each section's threshold: the
    /// `percentile` of a gamma fitted to the model's scores of that section's training clips.
    pub fn fit(
        scorer: Box<dyn AnomalyScorer>,
        machine: &MachineDataset,
        sample_rate: u32,
        percentile: f64,
    ) -> Result<Self> {
        Self::fit_model(
            ScoringModel::Clips(scorer),
            machine,
            sample_rate,
            percentile,
        )
    }

    /// [`WindowScorer::fit`] for either kind of system.
    pub fn fit_model(
        mut model: ScoringModel,
        machine: &MachineDataset,
        sample_rate: u32,
        percentile: f64,
    ) -> Result<Self> {
        let scorer = model.clips();
        let train: Vec<&Clip> = machine.split(Split::Train).collect();
        let first = train.first().ok_or_else(|| HarkError::Dataset {
            path: machine.root.display().to_string(),
            detail: "no training clips (the thresholds come from their scores)".to_string(),
        })?;
        let clip_samples = crate::detect::contract::read_wav_samples(&first.path)?.len();
        scorer.train(machine, &train)?;
        let mut by_section: BTreeMap<u32, Vec<&Clip>> = BTreeMap::new();
        for clip in &train {
            by_section.entry(clip.name.section).or_default().push(clip);
        }
        let mut thresholds = BTreeMap::new();
        for (section, clips) in by_section {
            let scores = scorer.score(&clips)?;
            if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
                return Err(HarkError::Dataset {
                    path: machine.root.display().to_string(),
                    detail: format!(
                        "a training score of section {section:02} is {bad}: no threshold can be set"
                    ),
                });
            }
            thresholds.insert(section, decision_threshold(&scores, percentile)?);
        }
        Ok(Self {
            scorer: model,
            machine: machine.machine.clone(),
            sample_rate,
            thresholds,
            clip_samples: Some(clip_samples),
        })
    }

    /// A scorer ready to score, with thresholds known already (per section).
    pub fn new(
        scorer: Box<dyn AnomalyScorer>,
        machine: &str,
        sample_rate: u32,
        thresholds: BTreeMap<u32, f64>,
    ) -> Self {
        Self::new_model(
            ScoringModel::Clips(scorer),
            machine,
            sample_rate,
            thresholds,
        )
    }

    /// [`WindowScorer::new`] for either kind of system.
    pub fn new_model(
        scorer: ScoringModel,
        machine: &str,
        sample_rate: u32,
        thresholds: BTreeMap<u32, f64>,
    ) -> Self {
        Self {
            scorer,
            machine: machine.to_string(),
            sample_rate,
            thresholds,
            clip_samples: None,
        }
    }

    pub fn machine(&self) -> &str {
        &self.machine
    }

    pub fn system(&self) -> &str {
        self.scorer.name()
    }

    /// The system as a mean of vector scores, where it is one.
    pub fn vector_mean(&mut self) -> Option<&mut dyn VectorMeanScorer> {
        match &mut self.scorer {
            ScoringModel::VectorMean(s) => Some(s.as_mut()),
            ScoringModel::Clips(_) => None,
        }
    }

    /// Where the vectors of `window`-sample windows lie, for a system that can be scored
    /// incrementally (`None` for any other, or a front end without reusable vectors).
    pub fn vector_layout(&mut self, window: usize) -> Option<VectorLayout> {
        let scorer = self.vector_mean()?;
        VectorLayout::new(scorer.extractor().spec(), window)
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The decision threshold of `section`, if the model knows the section.
    pub fn threshold(&self, section: u32) -> Option<f64> {
        self.thresholds.get(&section).copied()
    }

    pub fn thresholds(&self) -> &BTreeMap<u32, f64> {
        &self.thresholds
    }

    /// Samples of the model's training clips, when fitted from them.
    pub fn clip_samples(&self) -> Option<usize> {
        self.clip_samples
    }

    /// Scores every window in one call of the system.
    pub fn score(&mut self, windows: &[WindowInput]) -> Result<Vec<f64>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut held = HeldClips::new("monitor");
        let clips: Vec<Clip> = windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // Never the name of a training clip (stats-knn leaves a clip's own name out).
                let file_name = format!("monitor_{}_{:012}.wav", w.stream, w.start);
                let path = held.hold(&file_name, self.sample_rate, w.samples.to_vec());
                window_clip(path, file_name, &self.machine, w.section, i)
            })
            .collect();
        let refs: Vec<&Clip> = clips.iter().collect();
        let scores = self.scorer.clips().score(&refs)?;
        held.release();
        if scores.len() != windows.len() {
            return Err(HarkError::invalid(
                "monitor",
                format!(
                    "{} returned {} scores for {} windows",
                    self.scorer.name(),
                    scores.len(),
                    windows.len()
                ),
            ));
        }
        Ok(scores)
    }
}

/// A window as a test clip of unknown domain and label.
fn window_clip(
    path: std::path::PathBuf,
    file_name: String,
    machine: &str,
    section: u32,
    index: usize,
) -> Clip {
    Clip {
        path,
        file_name,
        machine: machine.to_string(),
        split: Some(Split::Test),
        name: ClipName {
            naming: Naming::SectionedHidden,
            section,
            domain: None,
            split: Some(Split::Test),
            label: crate::audio::dataset::Label::Unknown,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            attributes: Vec::new(),
        },
        attributes: Vec::new(),
    }
}
