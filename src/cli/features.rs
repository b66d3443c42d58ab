//! `hark features`: WAV clips to `.npy` features (float32, C order) for Python users.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::inputs::input_wavs;
use clap::{Args, ValueEnum};
use hark::audio::wav::{read_many, OnBadFile, WavOptions};
use hark::features::mel::{mel_filterbank, MelNorm, MelScale};
use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::io::npy::write_npy;
use hark::kernels::stft::Centering;
use hark::paths::{check_apart, StagedDir};
use hark::{Context, HarkError};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    /// Complex STFT [frames, bins, 2].
    Stft,
    /// Power spectrogram [frames, bins].
    Power,
    /// 10 log10 mel power [frames, n_mels].
    Logmel,
    /// Magnitude of the whole clip's real FFT [len/2 + 1].
    Spectrum,
    /// DCASE autoencoder input: 5 stacked log-mel frames [frames - 4, 640].
    Dcase640,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Center {
    /// librosa (>= 0.9): n_fft/2 zeros on both sides.
    Zero,
    /// torch's default: reflect padding.
    Reflect,
    /// No centring (TensorFlow `pad_end=False`).
    None,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// A WAV file or a folder of WAV files (searched recursively).
    input: PathBuf,
    /// Output `.npy` file (for one input file) or folder (mirrors the input folder).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = Kind::Logmel)]
    kind: Kind,
    #[arg(long, default_value_t = 1024, value_parser = super::values::positive_usize)]
    n_fft: usize,
    #[arg(long, default_value_t = 512, value_parser = super::values::positive_usize)]
    hop: usize,
    #[arg(long, value_enum, default_value_t = Center::Zero)]
    center: Center,
    #[arg(long, default_value_t = 128, value_parser = super::values::positive_usize)]
    n_mels: usize,
    #[arg(long, default_value_t = 0.0, value_parser = super::values::non_negative_f64)]
    fmin: f64,
    /// Default: sample_rate / 2.
    #[arg(long, value_parser = super::values::positive_f64)]
    fmax: Option<f64>,
    /// HTK mel scale instead of Slaney.
    #[arg(long)]
    htk: bool,
    /// No Slaney area normalisation of the mel filters.
    #[arg(long)]
    no_mel_norm: bool,
    /// Frames per stacked vector for dcase640.
    #[arg(long, default_value_t = 5, value_parser = super::values::positive_usize)]
    context: usize,
    /// Required sample rate of the input files.
    #[arg(long, default_value_t = 16_000, value_parser = super::values::sample_rate)]
    sample_rate: u32,
    /// Average the channels of multi-channel files instead of rejecting them.
    #[arg(long)]
    downmix: bool,
    /// Report bad files and go on (default: stop at the first, writing nothing).
    #[arg(long)]
    skip_bad: bool,
    /// Clips per GPU batch.
    #[arg(long, default_value_t = 16, value_parser = super::values::positive_usize)]
    batch: usize,
}

impl FeaturesArgs {
    fn spec(&self) -> FeatureSpec {
        let kind = match self.kind {
            Kind::Stft => FeatureKind::Stft,
            Kind::Power => FeatureKind::Power,
            Kind::Logmel => FeatureKind::Logmel,
            Kind::Spectrum => FeatureKind::Spectrum,
            Kind::Dcase640 => FeatureKind::Dcase640,
        };
        FeatureSpec {
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            hop: self.hop,
            center: match self.center {
                Center::Zero => Centering::Zero,
                Center::Reflect => Centering::Reflect,
                Center::None => Centering::None,
            },
            n_mels: self.n_mels,
            fmin: self.fmin,
            fmax: self.fmax,
            mel_scale: if self.htk {
                MelScale::Htk
            } else {
                MelScale::Slaney
            },
            mel_norm: if self.no_mel_norm {
                MelNorm::None
            } else {
                MelNorm::Slaney
            },
            context: self.context,
            ..FeatureSpec::dcase(kind)
        }
    }
}

/// Whether the output is one `.npy` file (one input file and `--out` ending in `.npy`).
fn single_file_out(args: &FeaturesArgs, single: bool) -> bool {
    single && args.out.extension().is_some_and(|e| e == "npy")
}

/// Where the features of `wav` go, under the output folder `out_dir` (or `--out` itself).
fn output_path(args: &FeaturesArgs, out_dir: &Path, wav: &Path, single: bool) -> PathBuf {
    if single_file_out(args, single) {
        return args.out.clone();
    }
    let relative = if single {
        PathBuf::from(wav.file_name().unwrap_or_default())
    } else {
        wav.strip_prefix(&args.input)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(wav.file_name().unwrap_or_default()))
    };
    out_dir.join(relative).with_extension("npy")
}

/// Refuses mel settings whose filterbank has empty (all-zero) bands: their log-mel is a
/// constant floor (-156 dB) whatever the audio.
fn check_mel_bands(args: &FeaturesArgs) -> hark::Result<()> {
    if !matches!(args.kind, Kind::Logmel | Kind::Dcase640) {
        return Ok(());
    }
    let options = args.spec().mel_options();
    let weights = mel_filterbank(&options).map_err(|e| {
        HarkError::invalid("features", format!("--n-fft/--n-mels/--fmin/--fmax: {e}"))
    })?;
    let bins = options.n_bins();
    let empty = weights
        .chunks(bins)
        .filter(|band| band.iter().all(|&w| w == 0.0))
        .count();
    if empty > 0 {
        return Err(HarkError::invalid(
            "features",
            format!(
                "--n-fft {} gives {bins} frequency bins, too few for --n-mels {}: {empty} mel \
                 band(s) would be empty (a constant floor whatever the audio); raise --n-fft or \
                 lower --n-mels",
                args.n_fft, args.n_mels
            ),
        ));
    }
    Ok(())
}

pub fn run(args: &FeaturesArgs) -> hark::Result<()> {
    check_apart("features", ("--out", &args.out), &[("input", &args.input)])?;
    check_mel_bands(args)?;
    let (files, single) = input_wavs("features", &args.input)?;
    let ctx = Context::new()?;
    let spec = args.spec();
    let mut extractor = FeatureExtractor::new(&ctx, &spec)?;
    let wav_options = WavOptions {
        sample_rate: args.sample_rate,
        downmix: args.downmix,
    };
    let on_bad = if args.skip_bad {
        OnBadFile::Skip
    } else {
        OnBadFile::Stop
    };

    let progress = clip_progress(files.len(), single);
    // A folder of outputs is written beside --out and moved into place when all are written.
    let staged = if single_file_out(args, single) {
        None
    } else {
        Some(StagedDir::new(&args.out)?)
    };
    let out_dir = staged
        .as_ref()
        .map_or_else(|| args.out.clone(), |s| s.path().to_path_buf());
    let mut failures: Vec<(PathBuf, HarkError)> = Vec::new();
    let mut written = 0usize;
    // Load a window of files in parallel, then run them on the GPU in batches of equal length.
    for window in files.chunks(args.batch * 4) {
        let loaded = read_many(window, &wav_options, on_bad)?;
        progress.inc(loaded.failures.len() as u64);
        for (path, error) in loaded.failures {
            progress.println(format!("skipped: {error}"));
            failures.push((path, error));
        }
        let mut by_length: BTreeMap<usize, Vec<(PathBuf, Vec<f32>)>> = BTreeMap::new();
        for (path, clip) in loaded.paths.into_iter().zip(loaded.clips) {
            by_length.entry(clip.len()).or_default().push((path, clip));
        }
        for group in by_length.values() {
            for chunk in group.chunks(args.batch) {
                let sink = Sink {
                    args,
                    out_dir: &out_dir,
                    single,
                    progress: &progress,
                };
                written += extract_chunk(&mut extractor, chunk, &sink, &mut failures)?;
            }
        }
    }
    progress.finish_and_clear();
    if let Some(staged) = staged {
        staged.commit()?;
    }
    println!(
        "{written} {:?} feature file(s) written under {}",
        spec.kind,
        args.out.display()
    );
    if !failures.is_empty() {
        println!("{} file(s) skipped:", failures.len());
        for (_, error) in &failures {
            println!("  {error}");
        }
    }
    Ok(())
}

/// Where extracted features go and how the run reports them.
struct Sink<'a> {
    args: &'a FeaturesArgs,
    out_dir: &'a Path,
    single: bool,
    progress: &'a ProgressBar,
}

/// Extracts one batch of equal-length clips and writes a `.npy` per clip; returns how many were
/// written. With `--skip-bad` a failing batch is recorded in `failures` and skipped.
fn extract_chunk(
    extractor: &mut FeatureExtractor,
    chunk: &[(PathBuf, Vec<f32>)],
    sink: &Sink,
    failures: &mut Vec<(PathBuf, HarkError)>,
) -> hark::Result<usize> {
    let clips: Vec<Vec<f32>> = chunk.iter().map(|(_, c)| c.clone()).collect();
    let batch = match extractor.extract(&clips) {
        Ok(batch) => batch,
        Err(error) if sink.args.skip_bad => {
            for (path, _) in chunk {
                sink.progress
                    .println(format!("skipped {}: {error}", path.display()));
            }
            sink.progress.inc(chunk.len() as u64);
            failures.push((chunk[0].0.clone(), error));
            return Ok(0);
        }
        Err(error) => {
            return Err(HarkError::invalid(
                "features",
                format!("{}: {error}", chunk[0].0.display()),
            ))
        }
    };
    for (i, (path, _)) in chunk.iter().enumerate() {
        write_npy(
            &output_path(sink.args, sink.out_dir, path, sink.single),
            &batch.shape,
            batch.clip(i),
        )?;
        sink.progress.inc(1);
    }
    Ok(chunk.len())
}

/// A bar over `clips` clips, hidden for a single file.
fn clip_progress(clips: usize, single: bool) -> ProgressBar {
    let progress = ProgressBar::new(clips as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clips  {elapsed} (eta {eta})  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if single {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress
}
