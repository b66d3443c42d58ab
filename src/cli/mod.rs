//! Subcommands of the `hark` binary.

mod bench_conv;
mod bench_flow;
mod bench_frontend;
mod bench_knn;
mod bench_matmul;
mod bench_matmul_operands;
mod bench_monitor;
mod bench_separate;
mod bench_train;
mod bench_train_embed;
mod bench_train_mobilenet;
mod bench_train_oe;
mod bench_train_ssc;
mod data;
mod demo;
mod ensemble;
mod evaluate;
mod features;
mod info;
mod inputs;
mod knn;
mod monitor;
mod monitor_model;
mod plain;
mod progress;
mod score;
mod separate;
mod synth;
mod system;
mod train;
mod train_embed;
mod train_flow;
mod train_mobilenet;
mod train_oe;
mod train_ssc;
mod train_stats_knn;
mod values;

use clap::{ArgMatches, Parser, Subcommand};

/// hark: WGSL compute kernels for machine anomalous-sound detection.
#[derive(Debug, Parser)]
#[command(name = "hark", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: synthetic data (or --data), a detector on every machine type (training-free
    /// stats-knn unless --system), metrics, ROC plots and the GPU time per kernel.
    Demo(demo::DemoArgs),
    /// Print the adapter, backend, driver, features and limits hark would use.
    Info(info::InfoArgs),
    /// Benchmark kernels with GPU timestamps against a CPU library on the same machine.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// Generate a synthetic DCASE dataset (MIMII DG layout) with machine and noise stems.
    Synth(synth::SynthArgs),
    /// Inspect a DCASE dataset, or score it with the energy baseline.
    Data {
        #[command(subcommand)]
        which: data::DataCommand,
    },
    /// Compute features (STFT, power, log-mel, spectrum, DCASE 640) of WAV clips as .npy files.
    Features(features::FeaturesArgs),
    /// Train a system on a dataset's training clips (--data) or a folder of your own normal
    /// recordings (--train-dir) and save its models (safetensors).
    Train(train::TrainArgs),
    /// Score a dataset's test clips with saved models: challenge CSVs and metrics; or a folder of
    /// your own recordings (--score-dir): one score CSV.
    Score(train::ScoreArgs),
    /// Recompute DCASE metrics (AUC, pAUC, official score) from anomaly-score CSVs.
    Evaluate(evaluate::EvaluateArgs),
    /// Anomaly scores by cosine k-nearest neighbours: 1 - mean top-k similarity of each --test
    /// vector among the --train vectors (.npy in, .npy out).
    Knn(knn::KnnArgs),
    /// Monitor live audio streams with a saved model: sliding windows scored in batches,
    /// debounced alerts, faults reported, JSON lines out.
    Monitor(monitor::MonitorArgs),
    /// Separate WAV files with a saved Conv-TasNet (float WAVs out).
    Separate(separate::SeparateArgs),
    /// Separation-based ASD (paper 000): train Type-Sep and ID-Sep Conv-TasNets and the
    /// autoencoder, report SI-SDRi and the AUCs of baseline, After-Sep and separation-based OE.
    Separation(separate::SeparationStudyArgs),
    /// Score-level ensemble: weighted sum of several `hark score` outputs, each standardised by
    /// its per-section training scores (paper 004's submitted systems).
    Ensemble(ensemble::EnsembleArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Tiled matmul vs a CPU SGEMM (matrixmultiply): GPU time, GFLOP/s and the ratio.
    Matmul(bench_matmul::BenchMatmulArgs),
    /// Log-mel and whole-clip spectrum of a batch of clips vs the CPU path: clips/s and GB/s.
    Frontend(bench_frontend::BenchFrontendArgs),
    /// Training throughput (vectors/s) and per-kernel GPU time of a training step.
    Train(bench_train::BenchTrainArgs),
    /// Cosine top-k search vs a CPU brute force (SGEMM + partial sort): queries/s, GFLOP/s.
    Knn(bench_knn::BenchKnnArgs),
    /// Conv-TasNet: inference real-time factor with per-kernel GPU time, the CPU reference on
    /// the same clip, and a training step.
    Separate(bench_separate::BenchSeparateArgs),
    /// Depthwise conv1d and direct conv2d, timed as peer-bench times burn (wall, read-back).
    Conv(bench_conv::BenchConvArgs),
    /// Live monitoring: N synthetic streams as fast as possible; audio s per wall s, streams
    /// in real time, p50/p99 decision latency, GPU time per kernel.
    Monitor(bench_monitor::BenchMonitorArgs),
}

/// Checks that need more than one flag's value: flags of another `--system`.
pub fn check_matches(matches: &ArgMatches) -> hark::Result<()> {
    match matches.subcommand() {
        Some(("train", sub)) => train::check_system_flags("hark train", sub),
        Some(("score", sub)) => train::check_system_flags("hark score", sub),
        _ => Ok(()),
    }
}

pub fn run(cli: Cli) -> hark::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Bench { which } => match which {
            BenchCommand::Matmul(args) => bench_matmul::run(&args),
            BenchCommand::Frontend(args) => bench_frontend::run(&args),
            BenchCommand::Train(args) => bench_train::run(&args),
            BenchCommand::Knn(args) => bench_knn::run(&args),
            BenchCommand::Separate(args) => bench_separate::run(&args),
            BenchCommand::Conv(args) => bench_conv::run(&args),
            BenchCommand::Monitor(args) => bench_monitor::run(&args),
        },
        Command::Synth(args) => synth::run(&args),
        Command::Separate(args) => separate::run_separate(&args),
        Command::Separation(args) => separate::run_study(&args),
        Command::Data { which } => data::run(&which),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Features(args) => features::run(&args),
        Command::Train(args) => train::train(&args),
        Command::Score(args) => train::score(&args),
        Command::Knn(args) => knn::run(&args),
        Command::Monitor(args) => monitor::run_monitor(&args),
        Command::Ensemble(args) => ensemble::run(&args),
    }
}
