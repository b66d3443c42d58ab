//! Synthetic stand-ins for the DCASE machine-sound datasets, in the MIMII DG layout: five machine
//! types x three domain-shift sections, factory noise mixed at each section's SNR, and the clean
//! machine and noise stems of every clip. The same seed always gives the same bytes.

mod dsp;
pub mod machines;
pub mod noise;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use machines::{Anomaly, MachineType, NoisePolicy};

use crate::audio::dataset::{attributes_csv, sectioned_file_name, Attribute, Domain, Label, Split};
use crate::error::{HarkError, Result};
use crate::io::atomic::write_bytes_atomically as write_atomically;
use dsp::{mix_seed, power, Rng};
use noise::{render_noise, FactoryNoise};

/// The sample rate of every DCASE clip.
pub const SAMPLE_RATE: u32 = 16_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub out: PathBuf,
    pub machines: Vec<MachineType>,
    /// Sections per machine (at most 3: 00, 01, 02).
    pub sections: u32,
    /// Training clips per section; 5 % of them (at least one) are target-domain clips unless
    /// `target_clips` says how many.
    pub train_clips: usize,
    /// Target-domain clips among each section's training clips (`None`: 5 %, at least one;
    /// capped at `train_clips`).
    pub target_clips: Option<usize>,
    /// Test clips per section, split evenly over {source, target} x {normal, anomaly}.
    pub test_clips: usize,
    pub seed: u64,
    /// Anomaly subtlety: severities are divided by it, so 2 is twice as subtle as 1 (default).
    pub difficulty: f32,
    pub clip_seconds: f32,
    /// Write `stems/<split>/<clip>/{machine,noise}.wav` next to each mixture.
    pub stems: bool,
    /// Worker threads (0: all available cores).
    pub threads: usize,
    /// Print progress on stderr.
    pub progress: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            out: PathBuf::from("synth"),
            machines: MachineType::ALL.to_vec(),
            sections: 3,
            train_clips: 200,
            target_clips: None,
            test_clips: 100,
            seed: 0,
            difficulty: 1.0,
            clip_seconds: 10.0,
            stems: true,
            threads: 0,
            progress: false,
        }
    }
}

/// One clip to render.
#[derive(Clone, Debug)]
struct ClipJob {
    machine: MachineType,
    section: u32,
    split: Split,
    domain: Domain,
    label: Label,
    index: u32,
    value: &'static str,
    attributes: Vec<Attribute>,
}

impl ClipJob {
    fn file_name(&self) -> String {
        sectioned_file_name(
            self.section,
            self.domain,
            self.split,
            self.label,
            self.index,
            &self.attributes,
        )
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct SynthReport {
    pub clips: usize,
    pub files: usize,
    pub seconds: f64,
}

fn invalid(detail: String) -> HarkError {
    HarkError::InvalidSetting {
        name: "synth",
        value: String::new(),
        reason: detail,
    }
}

fn plan(config: &SynthConfig) -> Vec<ClipJob> {
    let mut jobs = Vec::new();
    let target_train = config
        .target_clips
        .unwrap_or((config.train_clips / 20).max(1))
        .min(config.train_clips);
    let per_test_group = config.test_clips.div_ceil(4);
    for &machine in &config.machines {
        let specs = machine.sections();
        for section in 0..config.sections {
            let spec = specs[section as usize];
            let groups = [
                (
                    Split::Train,
                    Domain::Source,
                    Label::Normal,
                    config.train_clips - target_train,
                ),
                (Split::Train, Domain::Target, Label::Normal, target_train),
                (Split::Test, Domain::Source, Label::Normal, per_test_group),
                (Split::Test, Domain::Source, Label::Anomaly, per_test_group),
                (Split::Test, Domain::Target, Label::Normal, per_test_group),
                (Split::Test, Domain::Target, Label::Anomaly, per_test_group),
            ];
            for (split, domain, label, count) in groups {
                let values = match domain {
                    Domain::Source => spec.source_values,
                    Domain::Target => spec.target_values,
                };
                for index in 0..count {
                    // Values cycle so that every value appears in every group.
                    let value = values[index % values.len()];
                    jobs.push(ClipJob {
                        machine,
                        section,
                        split,
                        domain,
                        label,
                        index: index as u32,
                        value,
                        attributes: machine.attributes(section, value),
                    });
                }
            }
        }
    }
    jobs
}

fn clip_seed(seed: u64, job: &ClipJob) -> u64 {
    mix_seed(&[
        seed,
        job.machine as u64,
        u64::from(job.section),
        job.split as u64,
        job.domain as u64,
        job.label as u64,
        u64::from(job.index),
    ])
}

/// Mean power of the normal machine sound of a section: the reference the SNR is set against
/// (003 §2 uses the section's average clip power). Four short pilot clips give it.
fn section_reference_power(machine: MachineType, section: u32, seed: u64) -> f32 {
    let spec = machine.sections()[section as usize];
    let n = SAMPLE_RATE as usize * 2;
    let total: f32 = (0..4)
        .map(|i| {
            let value = spec.source_values[i % spec.source_values.len()];
            let mut rng = Rng::new(mix_seed(&[
                seed,
                machine as u64,
                u64::from(section),
                99,
                i as u64,
            ]));
            power(&machine.render(section, value, None, &mut rng, n, SAMPLE_RATE as f32))
        })
        .sum();
    (total / 4.0).max(1e-9)
}

/// The clip's mixture, clean machine stem and noise stem, all at output scale.
fn render_clip(
    job: &ClipJob,
    config: &SynthConfig,
    reference_power: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = (config.clip_seconds * SAMPLE_RATE as f32).round() as usize;
    let sample_rate = SAMPLE_RATE as f32;
    let mut rng = Rng::new(clip_seed(config.seed, job));
    let anomaly = (job.label == Label::Anomaly).then(|| {
        let kinds = job.machine.anomaly_kinds().len();
        Anomaly {
            kind: rng.below(kinds),
            // Subtle by design at difficulty 1: most anomalies sit within the normal spread of
            // loudness, so a level detector cannot separate them.
            severity: rng.uniform(0.25, 0.8) / config.difficulty.max(1e-3),
        }
    });
    let mut machine = job
        .machine
        .render(job.section, job.value, anomaly, &mut rng, n, sample_rate);
    // Distance to the microphone and the machine's own loudness vary by ±2 dB between clips.
    let clip_gain = 10f32.powf(rng.uniform(-2.0, 2.0) / 20.0);
    machine.iter_mut().for_each(|s| *s *= clip_gain);

    let spec = job.machine.sections()[job.section as usize];
    let kind = match spec.noise {
        NoisePolicy::ByValue => match job.value {
            "A" => FactoryNoise::A,
            "B" => FactoryNoise::B,
            _ => FactoryNoise::C,
        },
        NoisePolicy::AOrB => {
            if rng.unit() < 0.5 {
                FactoryNoise::A
            } else {
                FactoryNoise::B
            }
        }
    };
    let snr_db = job.machine.snr_db(job.section, job.value);
    let noise_power = reference_power / 10f32.powf(snr_db / 10.0);
    let mut noise = render_noise(kind, &mut rng, n, sample_rate);
    let noise_gain = noise_power.sqrt() * 10f32.powf(rng.uniform(-1.0, 1.0) / 20.0);
    noise.iter_mut().for_each(|s| *s *= noise_gain);
    if job.machine == MachineType::Fan && job.section == 0 {
        // 003: fan section 00 mixes in the sound of another machine (a pump) as the shift.
        let pump = MachineType::Gearbox.render(
            2,
            match job.value {
                "W" => "00",
                "X" => "05",
                "Y" => "08",
                _ => "13",
            },
            None,
            &mut rng,
            n,
            sample_rate,
        );
        let pump_gain = (reference_power / power(&pump).max(1e-9)).sqrt() * 0.7;
        noise
            .iter_mut()
            .zip(&pump)
            .for_each(|(s, p)| *s += pump_gain * p);
    }
    // One output scale per section: the nominal mixture sits near -26 dBFS, like the quiet
    // DCASE recordings, leaving headroom for impulses.
    let output_scale = 0.05 / (reference_power + noise_power).sqrt();
    machine.iter_mut().for_each(|s| *s *= output_scale);
    noise.iter_mut().for_each(|s| *s *= output_scale);
    let mixture: Vec<f32> = machine.iter().zip(&noise).map(|(m, n)| m + n).collect();
    (mixture, machine, noise)
}

/// 16-bit PCM mono WAV bytes; samples beyond full scale are clipped.
fn wav_bytes(samples: &[f32], path: &Path) -> Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav_error = |e: hound::Error| HarkError::Wav {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec).map_err(wav_error)?;
        for &s in samples {
            let value = (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
            writer.write_sample(value).map_err(wav_error)?;
        }
        writer.finalize().map_err(wav_error)?;
    }
    Ok(cursor.into_inner())
}

fn write_wav(path: &Path, samples: &[f32]) -> Result<()> {
    write_atomically(path, &wav_bytes(samples, path)?)
}

fn write_clip(job: &ClipJob, config: &SynthConfig, reference_power: f32) -> Result<usize> {
    let (mixture, machine, noise) = render_clip(job, config, reference_power);
    let machine_dir = config.out.join(job.machine.name());
    let file_name = job.file_name();
    write_wav(
        &machine_dir.join(job.split.to_string()).join(&file_name),
        &mixture,
    )?;
    if !config.stems {
        return Ok(1);
    }
    let stem_dir = machine_dir
        .join("stems")
        .join(job.split.to_string())
        .join(file_name.trim_end_matches(".wav"));
    write_wav(&stem_dir.join("machine.wav"), &machine)?;
    write_wav(&stem_dir.join("noise.wav"), &noise)?;
    Ok(3)
}

/// Generates the dataset of `config` under `config.out`, rendering clips on all cores.
pub fn generate(config: &SynthConfig) -> Result<SynthReport> {
    if config.machines.is_empty() || config.sections == 0 || config.sections > 3 {
        return Err(invalid(format!(
            "need at least one machine and 1-3 sections, got {} machine(s), {} section(s)",
            config.machines.len(),
            config.sections
        )));
    }
    if config.train_clips == 0 || config.test_clips == 0 {
        return Err(invalid(
            "need at least one training and one test clip per section".into(),
        ));
    }
    if !(config.clip_seconds > 0.0 && config.clip_seconds <= 60.0) {
        return Err(invalid(format!(
            "clip length must be in (0, 60] s, got {}",
            config.clip_seconds
        )));
    }
    if !(config.difficulty > 0.0 && config.difficulty.is_finite()) {
        return Err(invalid(format!(
            "difficulty must be positive, got {}",
            config.difficulty
        )));
    }
    let start = std::time::Instant::now();
    let jobs = plan(config);
    let mut reference_powers = std::collections::BTreeMap::new();
    for &machine in &config.machines {
        for section in 0..config.sections {
            reference_powers.insert(
                (machine, section),
                section_reference_power(machine, section, config.seed),
            );
        }
    }
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    };
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let files = AtomicUsize::new(0);
    let first_error: Mutex<Option<HarkError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    break;
                }
                let reference = reference_powers
                    .get(&(job.machine, job.section))
                    .copied()
                    .unwrap_or(1.0);
                match write_clip(job, config, reference) {
                    Ok(written) => {
                        files.fetch_add(written, Ordering::Relaxed);
                        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                        let step = (jobs.len() / 20).max(1);
                        if config.progress
                            && (finished.is_multiple_of(step) || finished == jobs.len())
                        {
                            eprintln!(
                                "synth: {finished}/{} clips ({:.0} s)",
                                jobs.len(),
                                start.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Err(error) => {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(error);
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = first_error.into_inner().ok().flatten() {
        return Err(error);
    }
    // attributes_<ss>.csv per machine and section, as DCASE 2023 ships them.
    for &machine in &config.machines {
        for section in 0..config.sections {
            let rows: Vec<(String, Vec<Attribute>)> = jobs
                .iter()
                .filter(|j| j.machine == machine && j.section == section)
                .map(|j| {
                    (
                        format!("{}/{}/{}", machine.name(), j.split, j.file_name()),
                        j.attributes.clone(),
                    )
                })
                .collect();
            let path = config
                .out
                .join(machine.name())
                .join(format!("attributes_{section:02}.csv"));
            write_atomically(&path, attributes_csv(&rows).as_bytes())?;
            files.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(SynthReport {
        clips: jobs.len(),
        files: files.into_inner(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
