//! Trains and scores the DCASE autoencoder through the library API alone (no CLI): generate a
//! tiny synthetic dataset, extract 640-dim features on the GPU, train with Adam, score the test
//! clips and print the DCASE metrics. A template for your own models.
//! Run: `cargo run --release --example train_autoencoder`.

use hark::audio::dataset::Label;
use hark::audio::dataset::{read_dataset, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::metrics::{ScoredClip, SectionMetrics};
use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::models::autoencoder::{
    clip_errors, clip_vectors, train, AutoencoderConfig, DenseAutoencoder,
};
use hark::Context;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new()?;
    let root = std::env::temp_dir().join(format!("hark-example-{}", std::process::id()));
    // 1. Data: one machine type, one section, 2-second clips.
    generate(&SynthConfig {
        out: root.clone(),
        machines: vec![MachineType::ALL[0]],
        sections: 1,
        train_clips: 24,
        test_clips: 16,
        clip_seconds: 2.0,
        stems: false,
        ..SynthConfig::default()
    })?;
    let dataset = read_dataset(&root)?;
    let machine = &dataset.machines[0];
    let train_clips: Vec<_> = machine.split(Split::Train).collect();
    let test_clips: Vec<_> = machine.split(Split::Test).collect();

    // 2. Features: stacked log-mel vectors (5 x 128 = 640 dims) on the GPU.
    let spec = FeatureSpec::dcase(FeatureKind::Dcase640);
    let mut extractor = FeatureExtractor::new(&ctx, &spec)?;
    let (train_vectors, _) = clip_vectors(&mut extractor, &train_clips)?;

    // 3. Model and training: Dense -> BatchNorm -> ReLU blocks, MSE, Adam.
    let mut model = DenseAutoencoder::new(&ctx, 640, 0)?;
    let config = AutoencoderConfig {
        epochs: 5,
        batch_size: 128,
        ..AutoencoderConfig::default()
    };
    train(&ctx, &mut model, &train_vectors, &config, |report| {
        println!(
            "epoch {}/{}: loss {:.4}",
            report.epoch, report.epochs, report.loss
        );
    })?;

    // 4. Scores (mean reconstruction error per clip) and the DCASE metrics.
    let (test_vectors, counts) = clip_vectors(&mut extractor, &test_clips)?;
    let scores = clip_errors(&ctx, &mut model, &test_vectors, &counts)?;
    let scored: Vec<ScoredClip> = test_clips
        .iter()
        .zip(&scores)
        .map(|(clip, &score)| ScoredClip {
            domain: clip.name.domain,
            is_anomaly: clip.name.label == Label::Anomaly,
            score,
        })
        .collect();
    let metrics = SectionMetrics::compute(&machine.machine, 0, &scored)?;
    for domain in &metrics.domains {
        println!(
            "{} {:?}: AUC {:.3}",
            metrics.machine, domain.domain, domain.auc
        );
    }
    println!("pAUC {:.3}", metrics.pauc);
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
