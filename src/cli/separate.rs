//! `hark separate` (a saved Conv-TasNet applied to WAV files) and `hark separation` (000's
//! study: Type-Sep and ID-Sep separators, SI-SDRi on normal and anomalous test clips, and the
//! AUCs of the baseline autoencoder, After-Type-Sep, After-ID-Sep and separation-based OE).

use std::path::PathBuf;
use std::time::Instant;

use super::inputs::input_wavs;
use clap::{Args, ValueEnum};
use hark::audio::dataset::read_dataset;
use hark::audio::wav::{read_wav, write_wav_f32, WavOptions};
use hark::detect::metrics::official_score;
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::AutoencoderConfig;
use hark::models::conv_tasnet::{
    ConfigOrigin, ConvTasNet, ConvTasNetConfig, MaskActivation, StateDictHints,
    TORCHAUDIO_LAYERS_PER_STACK,
};
use hark::models::separation::study::{score_variants, si_sdr_improvements, VariantScores};
use hark::models::separation::system::{SeparationSystem, SeparationSystemConfig, Separator};
use hark::models::separation::{separate, SeparationLoss, SeparatorTrainConfig};
use hark::paths::{check_apart, StagedDir};
use hark::{Context, HarkError};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MaskArg {
    Sigmoid,
    Relu,
}

#[derive(Debug, Args)]
pub struct SeparateArgs {
    /// A Conv-TasNet in safetensors: a checkpoint written by hark (configuration in its
    /// metadata) or a plain torchaudio state dict (configuration inferred from the tensors).
    #[arg(long)]
    model: PathBuf,
    /// Mask activation of a plain state dict (torchaudio's `msk_activate`; its default is
    /// sigmoid). Must agree with a hark checkpoint's metadata.
    #[arg(long, value_enum)]
    mask: Option<MaskArg>,
    /// Conv blocks per stack (X, `msk_num_layers`) of a plain state dict: the tensors give
    /// X * R only; without it or --stacks, torchaudio's default X = 8.
    #[arg(long, value_parser = super::values::positive_usize)]
    layers: Option<usize>,
    /// Stacks (R, `msk_num_stacks`) of a plain state dict.
    #[arg(long, value_parser = super::values::positive_usize)]
    stacks: Option<usize>,
    /// A WAV file or a folder of WAV files (searched recursively).
    input: PathBuf,
    /// Output folder (mirrors the input folder; float WAV, `<name>.wav`).
    #[arg(long)]
    out: PathBuf,
    /// Sample rate the input files must have (hark does not resample).
    #[arg(long, default_value_t = 16_000, value_parser = super::values::sample_rate)]
    sample_rate: u32,
    /// The rate the model was trained at: hark's checkpoints are 16 kHz; a plain state dict
    /// trained at another rate (torchaudio's wsj0-2mix models: 8 kHz) needs it said here.
    #[arg(long, default_value_t = 16_000, value_parser = super::values::sample_rate)]
    model_sample_rate: u32,
}

pub fn run_separate(args: &SeparateArgs) -> hark::Result<()> {
    check_apart(
        "separate",
        ("--out", &args.out),
        &[("input", &args.input), ("--model", &args.model)],
    )?;
    if args.sample_rate != args.model_sample_rate {
        return Err(HarkError::invalid(
            "separate",
            format!(
                "--sample-rate {} differs from the model's rate {} Hz (--model-sample-rate): \
                 hark does not resample, so resample the WAVs to {} Hz first (e.g. `sox in.wav \
                 -r {} out.wav`)",
                args.sample_rate,
                args.model_sample_rate,
                args.model_sample_rate,
                args.model_sample_rate
            ),
        ));
    }
    let (files, single) = input_wavs("separate", &args.input)?;
    let ctx = Context::new()?;
    let hints = StateDictHints {
        mask: args.mask.map(|m| match m {
            MaskArg::Sigmoid => MaskActivation::Sigmoid,
            MaskArg::Relu => MaskActivation::Relu,
        }),
        layers: args.layers,
        stacks: args.stacks,
    };
    let (mut model, origin) = ConvTasNet::load_file(&ctx, &args.model, &hints)?;
    if let ConfigOrigin::Inferred {
        layers_assumed,
        mask_assumed,
    } = origin
    {
        report_inferred(&args.model, model.config(), layers_assumed, mask_assumed);
    }
    if model.config().sources != 1 {
        return Err(HarkError::invalid(
            "separate",
            "this command writes one source per clip; the model has several",
        ));
    }
    let options = WavOptions {
        sample_rate: args.sample_rate,
        downmix: false,
    };
    // Written beside --out and moved into place only when every file was separated.
    let staged = StagedDir::new(&args.out)?;
    let bar = ProgressBar::new(files.len() as u64);
    for file in &files {
        let wave = read_wav(file, &options)?;
        model.check_fits(1, wave.len())?;
        let separated = separate(&ctx, &mut model, std::slice::from_ref(&wave))?;
        let relative = if single {
            PathBuf::from(file.file_name().unwrap_or_default())
        } else {
            file.strip_prefix(&args.input).unwrap_or(file).to_path_buf()
        };
        let out = staged.path().join(relative);
        write_wav_f32(&out, &separated[0], args.sample_rate)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    staged.commit()?;
    println!(
        "separated {} file(s) into {}",
        files.len(),
        args.out.display()
    );
    Ok(())
}

/// A plain torchaudio state dict's configuration as read from its tensors, and what was
/// assumed where the tensors cannot tell.
fn report_inferred(
    model: &std::path::Path,
    config: &ConvTasNetConfig,
    layers_assumed: bool,
    mask_assumed: bool,
) {
    let mut assumed = Vec::new();
    if layers_assumed {
        assumed.push(format!(
            "X = {TORCHAUDIO_LAYERS_PER_STACK} blocks per stack (--layers/--stacks)"
        ));
    }
    if mask_assumed {
        assumed.push("a sigmoid mask (--mask)".to_string());
    }
    eprintln!(
        "{}: a plain state dict; from its tensors: {}{}",
        model.display(),
        config,
        if assumed.is_empty() {
            String::new()
        } else {
            format!("; torchaudio's defaults assumed: {}", assumed.join(", "))
        }
    );
}

/// The separation study's configuration from its flags.
fn study_config(args: &SeparationStudyArgs) -> SeparationSystemConfig {
    let fft_path = FftPath::Auto;
    SeparationSystemConfig {
        separator: match args.size {
            Size::Paper => ConvTasNetConfig::default(),
            Size::Small => small(),
        },
        training: SeparatorTrainConfig {
            epochs: args.epochs,
            mixtures_per_epoch: args.mixtures,
            batch_size: args.batch_size,
            segment: (args.segment * 16_000.0).round() as usize,
            lr: args.lr,
            loss: match args.loss {
                LossArg::L1 => SeparationLoss::L1,
                LossArg::SiSdr => SeparationLoss::SiSdr,
            },
            seed: args.seed,
        },
        autoencoder: AutoencoderConfig {
            epochs: args.ae_epochs,
            seed: args.seed,
            features: FeatureSpec {
                fft_path,
                ..FeatureSpec::dcase(FeatureKind::Dcase640)
            },
            ..AutoencoderConfig::default()
        },
    }
}

/// Paper 000's Table 3: each variant's source/target AUC per section and official score.
fn print_auc_table(table: &[VariantScores]) -> hark::Result<()> {
    println!("AUC source/target per section, as 000 Table 3:");
    print!("{:<12} {:>7}", "machine", "section");
    for column in table {
        print!(" {:>15}", column.variant.name());
    }
    println!();
    let rows = table.first().map_or(0, |c| c.sections.len());
    for i in 0..rows {
        let m = &table[0].sections[i];
        print!("{:<12} {:>7}", m.machine, format!("{:02}", m.section));
        for column in table {
            let aucs: Vec<String> = column.sections[i]
                .domains
                .iter()
                .map(|d| format!("{:.3}", d.auc))
                .collect();
            print!(" {:>15}", aucs.join("/"));
        }
        println!();
    }
    print!("{:<20}", "official score");
    for column in table {
        print!(" {:>15.4}", official_score(&column.sections)?);
    }
    println!();
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Size {
    /// The paper's best configuration (N=512, B=128, H=512, X=8, R=3): needs a real GPU.
    Paper,
    /// N=64, B=32, H=64, X=4, R=2: trains on a CPU adapter in minutes.
    Small,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LossArg {
    L1,
    SiSdr,
}

#[derive(Debug, Args)]
pub struct SeparationStudyArgs {
    /// Dataset root with clean stems (`hark synth` writes them).
    #[arg(long)]
    data: PathBuf,
    /// Folder for the models and each variant's challenge CSVs.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = Size::Small)]
    size: Size,
    /// Separator epochs.
    #[arg(long, default_value_t = 50, value_parser = super::values::positive_usize)]
    epochs: usize,
    /// Mixtures per separator epoch.
    #[arg(long, default_value_t = 2970, value_parser = super::values::positive_usize)]
    mixtures: usize,
    /// Training segment length in seconds.
    #[arg(long, default_value_t = 4.0, value_parser = super::values::positive_f32)]
    segment: f32,
    #[arg(long, default_value_t = 2, value_parser = super::values::positive_usize)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-4, value_parser = super::values::positive_f32)]
    lr: f32,
    #[arg(long, value_enum, default_value_t = LossArg::L1)]
    loss: LossArg,
    /// Autoencoder epochs (100 in the recipe).
    #[arg(long, default_value_t = 100, value_parser = super::values::positive_usize)]
    ae_epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue interrupted separator trainings from their saved states.
    #[arg(long)]
    resume: bool,
}

fn small() -> ConvTasNetConfig {
    ConvTasNetConfig {
        enc_feats: 64,
        msk_feats: 32,
        msk_hidden: 64,
        msk_layers: 4,
        msk_stacks: 2,
        ..ConvTasNetConfig::default()
    }
}

pub fn run_study(args: &SeparationStudyArgs) -> hark::Result<()> {
    let started = Instant::now();
    check_apart(
        "separation",
        ("--out", &args.out),
        &[("--data", &args.data)],
    )?;
    let ctx = Context::new()?;
    let dataset = read_dataset(&args.data)?;
    dataset.require_no_problems()?;
    if !(args.segment > 0.0 && args.segment.is_finite()) {
        return Err(HarkError::invalid(
            "separation",
            "--segment must be positive",
        ));
    }
    let config = study_config(args);
    let mut system = SeparationSystem::new(&ctx, config)?;
    system.save_to = Some(args.out.join("models"));
    system.resume = args.resume;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let shown = bar.clone();
    system.on_epoch = Some(Box::new(move |machine, which, report| {
        let what = match which {
            Some(Separator::Type) => "Type-Sep".to_string(),
            Some(Separator::Id(s)) => format!("ID-Sep {s:02}"),
            None => "autoencoder".to_string(),
        };
        shown.set_message(format!(
            "{machine} {what}: epoch {}/{} loss {:.4}",
            report.epoch, report.epochs, report.loss
        ));
        shown.tick();
    }));

    // Table 3: every variant through the scoring contract on the same trained models.
    let table = score_variants(&mut system, &dataset, &args.out)?;
    bar.finish_and_clear();
    print_auc_table(&table)?;

    // Table 2: SI-SDRi of each separator on normal and anomalous test clips (test stems).
    println!("\nSI-SDRi (dB) on test clips, as 000 Table 2:");
    println!(
        "{:<12} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "machine", "section", "Type N", "Type A", "ID N", "ID A"
    );
    for row in si_sdr_improvements(&mut system, &dataset)? {
        println!(
            "{:<12} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            row.machine,
            format!("{:02}", row.section),
            row.type_normal,
            row.type_anomalous,
            row.id_normal,
            row.id_anomalous
        );
    }
    println!(
        "\nCSVs under {}/<variant>/, models under {}; {:.0} s",
        args.out.display(),
        args.out.join("models").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
