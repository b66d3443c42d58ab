//! Training mixtures built on the fly from clean machine stems and factory noise (000 §4.1):
//! the target machine sound plus noise at an SNR drawn from {-5, 0, 5} dB and, for the ID-Sep
//! model, another section's machine sound of the same type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audio::dataset::{Clip, MachineDataset};
use crate::audio::wav::{read_wav, WavOptions};
use crate::error::{HarkError, Result};
use crate::rng::SeededRng;

/// The SNRs of 000 §4.1, in dB.
pub const SNRS_DB: [f32; 3] = [-5.0, 0.0, 5.0];

/// One training clip's clean machine sound and its noise.
pub struct Stems {
    pub machine: Vec<f32>,
    pub noise: Vec<f32>,
}

/// What a separator learns to extract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeparationTarget {
    /// Type-Sep: any section of the machine type; mixtures hold noise only.
    MachineType,
    /// ID-Sep: this section; mixtures hold noise and, in 2 of 3 patterns when the machine
    /// type has other sections, one other section's machine sound.
    Section(u32),
}

/// Where `hark synth` writes a clip's stems: `<machine root>/stems/<split>/<clip>/`.
pub fn stem_dir(machine_root: &Path, clip: &Clip) -> PathBuf {
    let split = clip.split.map_or("train".to_string(), |s| s.to_string());
    machine_root
        .join("stems")
        .join(split)
        .join(clip.file_name.trim_end_matches(".wav"))
}

/// The stems of a machine type's training clips, by section.
pub struct StemSet {
    pub sections: BTreeMap<u32, Vec<Stems>>,
}

impl StemSet {
    /// Reads the stems of `clips` (training clips of `machine`). Real DCASE data has no stems:
    /// the error says so.
    pub fn load(machine: &MachineDataset, clips: &[&Clip], sample_rate: u32) -> Result<Self> {
        let options = WavOptions {
            sample_rate,
            downmix: false,
        };
        let mut sections: BTreeMap<u32, Vec<Stems>> = BTreeMap::new();
        for clip in clips {
            let dir = stem_dir(&machine.root, clip);
            if !dir.join("machine.wav").exists() {
                return Err(HarkError::Dataset {
                    path: dir.display().to_string(),
                    detail: "no clean stems (machine.wav, noise.wav): separation training needs \
                             the clean machine sound and the noise of each training clip, as \
                             `hark synth` writes them; DCASE recordings do not ship them"
                        .into(),
                });
            }
            let machine_sound = read_wav(&dir.join("machine.wav"), &options)?;
            let noise = read_wav(&dir.join("noise.wav"), &options)?;
            sections.entry(clip.name.section).or_default().push(Stems {
                machine: machine_sound,
                noise,
            });
        }
        if sections.is_empty() {
            return Err(HarkError::Dataset {
                path: machine.root.display().to_string(),
                detail: "no training clips with stems".into(),
            });
        }
        Ok(Self { sections })
    }

    /// The shortest stem: segments must fit in every clip.
    pub fn shortest(&self) -> usize {
        self.sections
            .values()
            .flatten()
            .map(|s| s.machine.len().min(s.noise.len()))
            .min()
            .unwrap_or(0)
    }
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64
}

/// Draws (mixture, clean target) pairs of `len` samples.
pub struct MixtureSampler<'a> {
    stems: &'a StemSet,
    target: SeparationTarget,
    rng: SeededRng,
}

impl<'a> MixtureSampler<'a> {
    pub fn new(stems: &'a StemSet, target: SeparationTarget, seed: u64) -> Result<Self> {
        if let SeparationTarget::Section(s) = target {
            if !stems.sections.contains_key(&s) {
                return Err(HarkError::invalid(
                    "separation",
                    format!("no training stems of section {s:02}"),
                ));
            }
        }
        Ok(Self {
            stems,
            target,
            rng: SeededRng::new(seed),
        })
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn segment<'s>(&mut self, signal: &'s [f32], len: usize) -> &'s [f32] {
        let start = self.below(signal.len() - len + 1);
        &signal[start..start + len]
    }

    fn pick(&mut self, section: u32) -> &'a Stems {
        let clips = &self.stems.sections[&section];
        &clips[self.below(clips.len())]
    }

    /// One mixture and its clean target, `len` samples each (at most [`StemSet::shortest`]).
    pub fn sample(&mut self, len: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        if len == 0 || len > self.stems.shortest() {
            return Err(HarkError::invalid(
                "separation",
                format!(
                    "segments of {len} samples from stems of {} samples",
                    self.stems.shortest()
                ),
            ));
        }
        let sections: Vec<u32> = self.stems.sections.keys().copied().collect();
        let target_section = match self.target {
            SeparationTarget::MachineType => sections[self.below(sections.len())],
            SeparationTarget::Section(s) => s,
        };
        // Levels are set from whole-clip powers (as a recording's SNR is), so that a quiet
        // stretch of an intermittent machine (valves) stays quiet in its segment.
        let target_stems = self.pick(target_section);
        let p_clean = power(&target_stems.machine).max(1e-12);
        let clean = self.segment(&target_stems.machine, len).to_vec();
        let noise_section = sections[self.below(sections.len())];
        let noise_stems = self.pick(noise_section);
        let p_noise = power(&noise_stems.noise).max(1e-12);
        let noise = self.segment(&noise_stems.noise, len).to_vec();
        let snr = SNRS_DB[self.below(SNRS_DB.len())];
        let gain = (p_clean / (p_noise * 10f64.powf(f64::from(snr) / 10.0))).sqrt() as f32;
        let mut mixture: Vec<f32> = clean
            .iter()
            .zip(&noise)
            .map(|(&c, &n)| c + gain * n)
            .collect();
        if let SeparationTarget::Section(s) = self.target {
            // Patterns: noise only, or noise + one other section (000 §4.1), equally likely.
            let others: Vec<u32> = sections.iter().copied().filter(|&o| o != s).collect();
            let pattern = self.below(others.len() + 1);
            if pattern > 0 {
                // The interfering machine at the target's power (000 does not say; 0 dB).
                let stems = self.pick(others[pattern - 1]);
                let g = (p_clean / power(&stems.machine).max(1e-12)).sqrt() as f32;
                let other = self.segment(&stems.machine, len);
                for (m, &o) in mixture.iter_mut().zip(other) {
                    *m += g * o;
                }
            }
        }
        Ok((mixture, clean))
    }
}
