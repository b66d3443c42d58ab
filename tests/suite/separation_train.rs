//! Separation-based ASD end to end on a tiny synthetic dataset: mixtures at the stated SNRs,
//! separator training that resumes bit-identically, and every variant through the scoring
//! contract.

use hark::audio::dataset::{read_dataset, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::run_system;
use hark::models::autoencoder::{AutoencoderConfig, TrainState};
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig, MaskActivation};
use hark::models::separation::system::{
    SeparationSystem, SeparationSystemConfig, SeparationVariant,
};
use hark::models::separation::{
    train_separator, MixtureSampler, SeparationTarget, SeparatorTrainConfig, StemSet,
};
use hark::nn::Layer;
use hark::testing::test_context;

fn tiny() -> ConvTasNetConfig {
    ConvTasNetConfig {
        sources: 1,
        enc_kernel: 16,
        enc_feats: 16,
        msk_kernel: 3,
        msk_feats: 8,
        msk_hidden: 16,
        msk_layers: 2,
        msk_stacks: 1,
        mask: MaskActivation::Sigmoid,
    }
}

fn dataset(dir: &std::path::Path) -> hark::audio::dataset::Dataset {
    let config = SynthConfig {
        out: dir.to_path_buf(),
        machines: vec![MachineType::Valve],
        sections: 2,
        train_clips: 6,
        test_clips: 8,
        clip_seconds: 1.0,
        ..SynthConfig::default()
    };
    generate(&config).unwrap();
    read_dataset(dir).unwrap()
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64
}

#[test]
fn mixtures_hold_noise_at_the_drawn_snr() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let machine = &data.machines[0];
    let clips: Vec<_> = machine.split(Split::Train).collect();
    let stems = StemSet::load(machine, &clips, 16_000).unwrap();
    assert_eq!(stems.sections.len(), 2);
    let mut sampler = MixtureSampler::new(&stems, SeparationTarget::MachineType, 1).unwrap();
    for _ in 0..12 {
        // Whole clips: the SNR is set from whole-clip powers.
        let (mixture, clean) = sampler.sample(16_000).unwrap();
        let rest: Vec<f32> = mixture.iter().zip(&clean).map(|(m, c)| m - c).collect();
        let snr = 10.0 * (power(&clean) / power(&rest)).log10();
        assert!(
            [-5.0, 0.0, 5.0].iter().any(|s| (snr - s).abs() < 1e-3),
            "SNR {snr} dB"
        );
    }
    assert!(sampler.sample(16_001).is_err(), "longer than the stems");
    assert!(MixtureSampler::new(&stems, SeparationTarget::Section(7), 0).is_err());
}

#[test]
fn separator_training_resumes_bit_identically() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let machine = &data.machines[0];
    let clips: Vec<_> = machine.split(Split::Train).collect();
    let stems = StemSet::load(machine, &clips, 16_000).unwrap();
    let config = SeparatorTrainConfig {
        epochs: 2,
        mixtures_per_epoch: 4,
        segment: 1600,
        lr: 1e-3,
        ..SeparatorTrainConfig::default()
    };
    let target = SeparationTarget::Section(1);
    let mut straight = ConvTasNet::new(&ctx, tiny(), 3).unwrap();
    let mut losses = Vec::new();
    train_separator(&ctx, &mut straight, &stems, target, &config, None, |r| {
        losses.push(r.loss)
    })
    .unwrap();
    assert_eq!(losses.len(), 2);
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "{losses:?}"
    );

    let state = TrainState {
        path: dir.path().join("sep.train.safetensors"),
        resume: true,
    };
    let one = SeparatorTrainConfig {
        epochs: 1,
        ..config
    };
    let mut first = ConvTasNet::new(&ctx, tiny(), 3).unwrap();
    train_separator(&ctx, &mut first, &stems, target, &one, Some(&state), |_| {}).unwrap();
    let mut resumed = ConvTasNet::new(&ctx, tiny(), 3).unwrap();
    let mut epochs = Vec::new();
    train_separator(
        &ctx,
        &mut resumed,
        &stems,
        target,
        &config,
        Some(&state),
        |r| epochs.push(r.epoch),
    )
    .unwrap();
    assert_eq!(epochs, [2]);
    for (a, b) in straight.params().iter().zip(resumed.params()) {
        assert_eq!(
            a.value.to_vec(&ctx).unwrap(),
            b.value.to_vec(&ctx).unwrap(),
            "{}",
            a.name
        );
    }
    // Another target's state is refused.
    let mut other = ConvTasNet::new(&ctx, tiny(), 3).unwrap();
    let err = train_separator(
        &ctx,
        &mut other,
        &stems,
        SeparationTarget::MachineType,
        &config,
        Some(&state),
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("train.target"), "{err}");
}

#[test]
fn every_variant_scores_through_the_contract() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(&dir.path().join("data"));
    let config = SeparationSystemConfig {
        separator: tiny(),
        training: SeparatorTrainConfig {
            epochs: 1,
            mixtures_per_epoch: 2,
            segment: 1600,
            ..SeparatorTrainConfig::default()
        },
        autoencoder: AutoencoderConfig {
            epochs: 1,
            batch_size: 64,
            ..AutoencoderConfig::default()
        },
    };
    let mut system = SeparationSystem::new(&ctx, config).unwrap();
    system.save_to = Some(dir.path().join("models"));
    for variant in SeparationVariant::ALL {
        system.variant = variant;
        let out = dir.path().join(variant.name());
        let reports = run_system(&mut system, &data, &out, 0.9).unwrap();
        assert_eq!(reports.len(), 2, "{variant:?}: two sections");
        for r in &reports {
            let m = r.metrics.as_ref().unwrap();
            assert!(m.domains.iter().all(|d| d.auc.is_finite()), "{variant:?}");
        }
        assert!(out.join("anomaly_score_valve_section_01_test.csv").exists());
    }
    for name in ["sep_valve_type", "sep_valve_id_00", "sep_valve_id_01"] {
        let path = dir
            .path()
            .join("models")
            .join(format!("{name}.safetensors"));
        let loaded = ConvTasNet::load_saved(&ctx, &path).unwrap();
        assert_eq!(*loaded.config(), tiny());
    }

    // `hark separate` with a saved separator over a folder: one float WAV per clip, same length.
    let test_dir = dir.path().join("data/valve/test");
    let out = dir.path().join("separated");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .env("HARK_AUTOTUNE", "off")
        .arg("separate")
        .arg("--model")
        .arg(dir.path().join("models/sep_valve_type.safetensors"))
        .arg(&test_dir)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let inputs = hark::audio::wav::wav_files(&test_dir).unwrap();
    let outputs = hark::audio::wav::wav_files(&out).unwrap();
    assert_eq!(inputs.len(), outputs.len());
    let options = hark::audio::wav::WavOptions {
        sample_rate: 16_000,
        downmix: false,
    };
    let a = hark::audio::wav::read_wav(&inputs[0], &options).unwrap();
    let b = hark::audio::wav::read_wav(&outputs[0], &options).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(b.iter().all(|v| v.is_finite()));
}
