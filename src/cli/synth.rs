//! `hark synth`: writes a synthetic DCASE dataset in the MIMII DG layout.

use std::path::PathBuf;

use clap::Args;
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::HarkError;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Dataset root to write (`<out>/<machine>/{train,test,stems}/`).
    #[arg(long)]
    out: PathBuf,
    /// Machine types, comma-separated (fan, gearbox, bearing, slider, valve).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fan,gearbox,bearing,slider,valve"
    )]
    machines: Vec<String>,
    /// Training clips per section (5 % of them target domain unless --target-clips).
    #[arg(long, default_value_t = 200, value_parser = super::values::positive_usize)]
    clips: usize,
    /// Target-domain clips among each section's training clips (default: 5 %, at least one).
    #[arg(long)]
    target_clips: Option<usize>,
    /// Test clips per section (even over source/target x normal/anomaly).
    #[arg(long, default_value_t = 100)]
    test_clips: usize,
    /// Sections per machine type (1-3).
    #[arg(long, default_value_t = 3)]
    sections: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Anomaly subtlety: 1 is the default, 2 twice as subtle, 0.5 twice as strong.
    #[arg(long, default_value_t = 1.0, value_parser = super::values::positive_f32)]
    difficulty: f32,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 10.0, value_parser = super::values::positive_f32)]
    seconds: f32,
    /// Skip the clean machine and noise stems.
    #[arg(long)]
    no_stems: bool,
    /// Worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: &SynthArgs) -> hark::Result<()> {
    let machines = args
        .machines
        .iter()
        .map(|name| {
            MachineType::from_name(name).ok_or_else(|| HarkError::InvalidSetting {
                name: "--machines",
                value: name.clone(),
                reason: "expected fan, gearbox, bearing, slider or valve".to_string(),
            })
        })
        .collect::<hark::Result<Vec<_>>>()?;
    let config = SynthConfig {
        out: args.out.clone(),
        machines,
        sections: args.sections,
        train_clips: args.clips,
        target_clips: args.target_clips,
        test_clips: args.test_clips,
        seed: args.seed,
        difficulty: args.difficulty,
        clip_seconds: args.seconds,
        stems: !args.no_stems,
        threads: args.threads,
        progress: true,
    };
    let report = generate(&config)?;
    println!(
        "wrote {} clips ({} files) to {} in {:.1} s",
        report.clips,
        report.files,
        args.out.display(),
        report.seconds
    );
    Ok(())
}
