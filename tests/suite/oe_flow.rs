//! OE-Flow's joint training (paper 004): a normalizing flow on the OE embeddings through the
//! `EmbeddingLoss` hook; its NLL of the training embeddings ends well below an untrained flow's
//! (both reading the embeddings standardised with the same statistics), and a saved flow reloads
//! to the same NLLs.

use hark::models::flow::{FlowConfig, FlowNll, Subnet};
use hark::models::oe::{
    train_oe, FlowEmbeddingLoss, OeNetConfig, OeNetwork, OeTrainConfig, OeTrainData,
};
use hark::nn::Mode;
use hark::runtime::Recorder;
use hark::tensor::Tensor;
use hark::testing::{test_context, SeededRng};
use hark::Context;

/// Eval-mode embeddings of `segments` (`[rows, 1, frames, mels]` values).
fn embeddings(ctx: &Context, net: &mut OeNetwork, segments: &[f32]) -> Vec<f32> {
    let c = &net.config;
    let rows = segments.len() / (c.frames * c.mels);
    let x = Tensor::from_slice(ctx, &[rows, 1, c.frames, c.mels], segments).unwrap();
    let mut rec = Recorder::new(ctx);
    let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
    rec.submit().unwrap();
    e.to_vec(ctx).unwrap()
}

/// Flow NLL of the (standardised) embeddings of `segments`.
fn mean_nll(
    ctx: &Context,
    net: &mut OeNetwork,
    flow: &mut FlowEmbeddingLoss,
    segments: &[f32],
) -> Vec<f32> {
    let c = &net.config;
    let rows = segments.len() / (c.frames * c.mels);
    let x = Tensor::from_slice(ctx, &[rows, 1, c.frames, c.mels], segments).unwrap();
    let mut nll = FlowNll::new(ctx, None);
    let mut rec = Recorder::new(ctx);
    let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
    let (z, logdet) = flow.latents(&mut rec, &e, Mode::Eval).unwrap();
    let (values, _) = nll.forward(&mut rec, &z, &logdet).unwrap();
    rec.submit().unwrap();
    values.to_vec(ctx).unwrap()
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
}

#[test]
fn joint_oe_flow_training_lowers_the_flow_nll_and_the_flow_round_trips() {
    let Some(ctx) = test_context() else { return };
    let config = OeNetConfig {
        mels: 16,
        frames: 16,
        channels: vec![4, 8],
        blocks: 1,
        embedding: 8,
    };
    let seg = config.frames * config.mels;
    let mut rng = SeededRng::new(5);
    let mut normal = Vec::new();
    let mut classes = Vec::new();
    for i in 0..24 {
        let class = i % 2;
        for _t in 0..config.frames {
            for m in 0..config.mels {
                let band = if class == 0 {
                    m < 4
                } else {
                    (8..12).contains(&m)
                };
                normal.push(if band { 2.0 } else { 0.0 } + rng.uniform(-0.3, 0.3));
            }
        }
        classes.push(class);
    }
    let pseudo = rng.vec(24 * seg, -1.0, 1.0);
    let mut net = OeNetwork::new(&ctx, &config, 2, 1).unwrap();
    let flow_config = FlowConfig {
        channels: config.embedding,
        blocks: 2,
        subnet: Subnet::Dense { hidden: 16 },
        seed: 3,
    };
    let mut loss = FlowEmbeddingLoss::new(&ctx, flow_config, None).unwrap();
    let train = OeTrainConfig {
        epochs: 30,
        batch_size: 16,
        lr: 3e-3,
        mixup_prob: 0.5,
        ..Default::default()
    };
    let data = OeTrainData {
        normal: &normal,
        classes: &classes,
        pseudo: &pseudo,
    };
    let reports = train_oe(&ctx, &mut net, &data, &train, Some(&mut loss), |_| {}).unwrap();
    assert!(reports.iter().all(|r| r.loss.is_finite()));
    // The flow sits out until 8 clean rows have given its input statistics (here within the
    // first epoch's 3 steps of ~4 clean rows each), then reports its NLL every epoch.
    assert!(
        reports[1..]
            .iter()
            .all(|r| r.extra_loss.is_some_and(f64::is_finite)),
        "{reports:?}"
    );
    // The embeddings move while the flow learns, so the reference is an untrained flow (same
    // seed) on the final embeddings, both standardised with their exact statistics.
    let final_embeddings = embeddings(&ctx, &mut net, &normal);
    loss.fit_input(&final_embeddings).unwrap();
    let after_values = mean_nll(&ctx, &mut net, &mut loss, &normal);
    let after = mean(&after_values);
    let mut fresh = FlowEmbeddingLoss::new(&ctx, flow_config, None).unwrap();
    fresh.fit_input(&final_embeddings).unwrap();
    let before = mean(&mean_nll(&ctx, &mut net, &mut fresh, &normal));
    // Standardised, the embeddings are already near N(0, I) for an untrained flow (~11.35 nats
    // for 8 dimensions); what is left to learn is their two-cluster shape (0.4 nats here).
    assert!(
        after.is_finite() && after < before - 0.2,
        "flow NLL of the training embeddings {before} -> {after}"
    );
    // Saved and reloaded, the flow gives the same NLLs.
    let path =
        std::env::temp_dir().join(format!("hark_oe_flow_{}.safetensors", std::process::id()));
    loss.save(&path).unwrap();
    let mut loaded = FlowEmbeddingLoss::load(&ctx, &path, flow_config, None).unwrap();
    assert!((loaded.input_log_det() - loss.input_log_det()).abs() < 1e-4);
    let again = mean_nll(&ctx, &mut net, &mut loaded, &normal);
    let _ = std::fs::remove_file(&path);
    for (a, b) in after_values.iter().zip(&again) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
    }
}

#[test]
fn oe_flow_system_scores_through_the_contract_and_reloads_to_the_same_scores() {
    use hark::detect::contract::run_system;
    use hark::models::oe::{oe_flow_checkpoint_path, OeSystem};
    let Some(ctx) = test_context() else { return };
    let root = std::env::temp_dir().join(format!("hark_oe_flow_sys_{}", std::process::id()));
    let (dataset, config) = tiny_system(&root);
    let (_, reports, models, out) = train_and_save(&ctx, &config, &dataset, &root);
    assert_eq!(reports.len(), 2);
    assert!(oe_flow_checkpoint_path(&models, "fan").exists());
    let mut loaded = OeSystem::new(&ctx, config, &dataset).unwrap();
    loaded.load_from = Some(models);
    let again = root.join("again");
    std::fs::create_dir_all(&again).unwrap();
    run_system(&mut loaded, &dataset, &again, 0.9).unwrap();
    for name in [
        "anomaly_score_valve_section_00_test.csv",
        "anomaly_score_fan_section_00_test.csv",
    ] {
        let a = hark::detect::outputs::read_anomaly_scores(&out.join(name)).unwrap();
        let b = hark::detect::outputs::read_anomaly_scores(&again.join(name)).unwrap();
        assert_eq!(a.len(), 8);
        assert!(a.iter().all(|(_, s)| s.is_finite()));
        assert_eq!(a, b);
    }
    let _ = std::fs::remove_dir_all(root);
}

/// `(nll, score)` per row with the domain latent's means at `k v` of `values`.
fn domain_nll(
    ctx: &Context,
    net: &mut OeNetwork,
    flow: &mut FlowEmbeddingLoss,
    domain: hark::models::flow::DomainLatent,
    segments: &[f32],
    values: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let c = &net.config;
    let rows = segments.len() / (c.frames * c.mels);
    let x = Tensor::from_slice(ctx, &[rows, 1, c.frames, c.mels], segments).unwrap();
    let mut nll = FlowNll::new(ctx, Some(domain));
    nll.set_values(values).unwrap();
    let mut rec = Recorder::new(ctx);
    let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
    let (z, logdet) = flow.latents(&mut rec, &e, Mode::Eval).unwrap();
    let (values, score) = nll.forward(&mut rec, &z, &logdet).unwrap();
    rec.submit().unwrap();
    (values.to_vec(ctx).unwrap(), score.to_vec(ctx).unwrap())
}

#[test]
fn joint_oe_dflow_training_lowers_the_domain_latent_nll_and_moves_z_d_towards_k_v() {
    use hark::models::flow::DomainLatent;
    let Some(ctx) = test_context() else { return };
    let config = OeNetConfig {
        mels: 16,
        frames: 16,
        channels: vec![4, 8],
        blocks: 1,
        embedding: 8,
    };
    let seg = config.frames * config.mels;
    let mut rng = SeededRng::new(7);
    let (mut normal, mut classes, mut values) = (Vec::new(), Vec::new(), Vec::new());
    // Two classes (different bands); the parameter v is the class, as a physical parameter
    // that changes the sound would be.
    for i in 0..24 {
        let class = i % 2;
        for _t in 0..config.frames {
            for m in 0..config.mels {
                let band = if class == 0 {
                    m < 4
                } else {
                    (8..12).contains(&m)
                };
                normal.push(if band { 2.0 } else { 0.0 } + rng.uniform(-0.3, 0.3));
            }
        }
        classes.push(class);
        values.push(class as f32);
    }
    let pseudo = rng.vec(24 * seg, -1.0, 1.0);
    let mut net = OeNetwork::new(&ctx, &config, 2, 1).unwrap();
    let flow_config = FlowConfig {
        channels: config.embedding,
        blocks: 2,
        subnet: Subnet::Dense { hidden: 16 },
        seed: 3,
    };
    let domain = DomainLatent {
        channels: 2,
        k: hark::models::oe::DFLOW_K,
    };
    let mut loss = FlowEmbeddingLoss::new(&ctx, flow_config, Some(domain)).unwrap();
    loss.set_segment_values(values.clone());
    let train = OeTrainConfig {
        epochs: 12,
        batch_size: 16,
        lr: 1e-2,
        mixup_prob: 0.5,
        ..Default::default()
    };
    let data = OeTrainData {
        normal: &normal,
        classes: &classes,
        pseudo: &pseudo,
    };
    let reports = train_oe(&ctx, &mut net, &data, &train, Some(&mut loss), |_| {}).unwrap();
    assert!(reports.iter().all(|r| r.loss.is_finite()));
    let final_embeddings = embeddings(&ctx, &mut net, &normal);
    loss.fit_input(&final_embeddings).unwrap();
    let (after, score) = domain_nll(&ctx, &mut net, &mut loss, domain, &normal, &values);
    let mut fresh = FlowEmbeddingLoss::new(&ctx, flow_config, Some(domain)).unwrap();
    fresh.fit_input(&final_embeddings).unwrap();
    let (before, _) = domain_nll(&ctx, &mut net, &mut fresh, domain, &normal, &values);
    let (after, before) = (mean(&after), mean(&before));
    assert!(
        after.is_finite() && after < before - 1.0,
        "domain-latent NLL of the training embeddings {before} -> {after}"
    );
    assert!(score.iter().all(|s| s.is_finite()));
    // The embeddings of the two classes land on opposite sides of z_d already in an untrained
    // flow; training moves z_d's gap between v = 1 and v = 0 rows towards k (summed over z_d).
    let gap = |flow: &mut FlowEmbeddingLoss, net: &mut OeNetwork| {
        let c = &net.config;
        let x = Tensor::from_slice(&ctx, &[24, 1, c.frames, c.mels], &normal).unwrap();
        let mut rec = Recorder::new(&ctx);
        let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
        let (z, _) = flow.latents(&mut rec, &e, Mode::Eval).unwrap();
        rec.submit().unwrap();
        let z = z.to_vec(&ctx).unwrap();
        let d = config.embedding;
        (0..domain.channels)
            .map(|ch| {
                let side = |v: f32| {
                    let rows: Vec<f32> = (0..24)
                        .filter(|&r| values[r] == v)
                        .map(|r| z[r * d + ch])
                        .collect();
                    mean(&rows)
                };
                side(1.0) - side(0.0)
            })
            .sum::<f64>()
    };
    let trained = gap(&mut loss, &mut net);
    let untrained = gap(&mut fresh, &mut net);
    eprintln!(
        "z_d gap (v = 1 minus v = 0, summed): untrained {untrained:.3}, trained {trained:.3}"
    );
    assert!(
        trained > untrained + 0.5,
        "z_d gap untrained {untrained} -> trained {trained}, want it to grow towards k"
    );
}

#[test]
fn dflow_loss_moves_z_d_to_k_v_of_each_rows_segment() {
    use hark::kernels::optim::AdamConfig;
    use hark::models::flow::DomainLatent;
    use hark::models::oe::EmbeddingLoss;
    use hark::nn::Adam;
    let Some(ctx) = test_context() else { return };
    let d = 6;
    let domain = DomainLatent {
        channels: 1,
        k: hark::models::oe::DFLOW_K,
    };
    let flow_config = FlowConfig {
        channels: d,
        blocks: 2,
        subnet: Subnet::Dense { hidden: 16 },
        seed: 9,
    };
    let mut loss = FlowEmbeddingLoss::new(&ctx, flow_config, Some(domain)).unwrap();
    loss.backbone_weight = 0.0;
    // Nine segments, v = 0, 1, 2 by thirds; their embeddings are clusters the flow can tell apart.
    let segment_values: Vec<f32> = (0..9).map(|s| (s / 3) as f32).collect();
    loss.set_segment_values(segment_values.clone());
    let mut rng = SeededRng::new(11);
    let params: Vec<&hark::nn::Param> = EmbeddingLoss::params(&loss);
    let mut adam = Adam::new(&ctx, &params, AdamConfig::adam(1e-2)).unwrap();
    drop(params);
    // Batches of 8 rows: 6 segments in shuffled order, then 2 pseudo-anomalies (masked out).
    let b = 8;
    let embed = |s: usize, rng: &mut SeededRng| -> Vec<f32> {
        (0..d)
            .map(|c| if c == s / 3 { 1.5 } else { 0.0 } + rng.uniform(-0.2, 0.2))
            .collect()
    };
    for step in 0..400 {
        let sources: Vec<Option<usize>> = (0..b)
            .map(|r| (r < 6).then(|| (r * 4 + step) % 9))
            .collect();
        let clean: Vec<bool> = sources.iter().map(Option::is_some).collect();
        let x: Vec<f32> = sources
            .iter()
            .flat_map(|s| match s {
                Some(s) => embed(*s, &mut rng),
                None => rng.vec(d, -3.0, 3.0),
            })
            .collect();
        let x = Tensor::from_slice(&ctx, &[b, d], &x).unwrap();
        loss.set_batch_rows(&sources).unwrap();
        let mut rec = Recorder::new(&ctx);
        loss.record(&mut rec, &x, &clean).unwrap();
        adam.step(&mut rec, &EmbeddingLoss::params(&loss)).unwrap();
        rec.submit().unwrap();
        loss.after_step(&ctx).unwrap();
    }
    // z_d of fresh rows of each segment sits near k v (well within the spacing k).
    let rows: Vec<usize> = (0..9).flat_map(|s| [s, s]).collect();
    let x: Vec<f32> = rows.iter().flat_map(|&s| embed(s, &mut rng)).collect();
    let x = Tensor::from_slice(&ctx, &[rows.len(), d], &x).unwrap();
    let mut rec = Recorder::new(&ctx);
    let (z, _) = loss.latents(&mut rec, &x, Mode::Eval).unwrap();
    rec.submit().unwrap();
    let z = z.to_vec(&ctx).unwrap();
    for v in 0..3 {
        let zs: Vec<f32> = (0..rows.len())
            .filter(|&r| segment_values[rows[r]] == v as f32)
            .map(|r| z[r * d])
            .collect();
        let m = mean(&zs);
        let target = f64::from(domain.k) * f64::from(v);
        eprintln!("z_d mean {m:.3} for v = {v} (k v = {target})");
        assert!(
            (m - target).abs() < 1.0,
            "z_d mean {m} for v = {v}, want k v = {target}"
        );
    }
}

#[test]
fn oe_dflow_system_scores_reloads_to_the_same_scores_and_refuses_oe_flow_checkpoints() {
    use hark::detect::contract::run_system;
    use hark::models::oe::{OeFlowVariant, OeSystem, ParameterSource};
    let Some(ctx) = test_context() else { return };
    let root = std::env::temp_dir().join(format!("hark_oe_dflow_sys_{}", std::process::id()));
    let (dataset, mut config) = tiny_system(&root);
    config.flow_variant = OeFlowVariant::DFlow { domain_channels: 2 };
    let (system, _, models, out) = train_and_save(&ctx, &config, &dataset, &root);
    // Valve section 00 has a numeric pattern number; fan section 00 (m-n_W...) falls back.
    let choice = |machine: &str| {
        system
            .dflow_parameters
            .iter()
            .find(|(m, _)| m == machine)
            .map(|(_, c)| c.source.clone())
            .unwrap()
    };
    assert!(
        matches!(choice("valve"), ParameterSource::Numeric { ref key, .. } if key == "pat"),
        "{:?}",
        choice("valve")
    );
    assert!(matches!(
        choice("fan"),
        ParameterSource::AttributeClass { .. }
    ));
    let mut loaded = OeSystem::new(&ctx, config.clone(), &dataset).unwrap();
    loaded.load_from = Some(models.clone());
    let again = root.join("again");
    std::fs::create_dir_all(&again).unwrap();
    run_system(&mut loaded, &dataset, &again, 0.9).unwrap();
    for name in [
        "anomaly_score_valve_section_00_test.csv",
        "anomaly_score_fan_section_00_test.csv",
    ] {
        let a = hark::detect::outputs::read_anomaly_scores(&out.join(name)).unwrap();
        let b = hark::detect::outputs::read_anomaly_scores(&again.join(name)).unwrap();
        assert_eq!(a.len(), 8);
        assert!(a.iter().all(|(_, s)| s.is_finite()));
        assert_eq!(a, b);
    }
    // Scoring OE-DFlow checkpoints as OE-Flow is refused, naming both variants.
    config.flow_variant = OeFlowVariant::Flow;
    let mut wrong = OeSystem::new(&ctx, config, &dataset).unwrap();
    wrong.load_from = Some(models);
    let other = root.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let error = run_system(&mut wrong, &dataset, &other, 0.9)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("--oe-flow-variant dflow") && error.contains("--oe-flow-variant flow"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(root);
}

/// Trains `config` on `dataset` through `run_system`, saving the models in `root/models` and the
/// challenge files in `root/scores`; returns the system, its reports and the two folders.
fn train_and_save(
    ctx: &Context,
    config: &hark::models::oe::OeConfig,
    dataset: &hark::audio::dataset::Dataset,
    root: &std::path::Path,
) -> (
    hark::models::oe::OeSystem,
    Vec<hark::detect::contract::SectionReport>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let models = root.join("models");
    let out = root.join("scores");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let mut system = hark::models::oe::OeSystem::new(ctx, config.clone(), dataset).unwrap();
    system.save_to = Some(models.clone());
    let reports = hark::detect::contract::run_system(&mut system, dataset, &out, 0.9).unwrap();
    (system, reports, models, out)
}

/// A tiny synthetic dataset under `root` (valve and fan, one section, 6 + 8 clips of 1 s) and an
/// OE-Flow configuration small enough to train on it in seconds.
fn tiny_system(
    root: &std::path::Path,
) -> (hark::audio::dataset::Dataset, hark::models::oe::OeConfig) {
    use hark::audio::synth::{generate, MachineType, SynthConfig};
    use hark::models::oe::{OeConfig, OeFlowConfig};
    let _ = std::fs::remove_dir_all(root);
    generate(&SynthConfig {
        out: root.join("data"),
        machines: vec![MachineType::Valve, MachineType::Fan],
        sections: 1,
        train_clips: 6,
        test_clips: 8,
        seed: 4,
        clip_seconds: 1.0,
        stems: false,
        threads: 1,
        progress: false,
        ..SynthConfig::default()
    })
    .unwrap();
    let dataset = hark::audio::dataset::read_dataset(&root.join("data")).unwrap();
    let mut config = OeConfig::new(OeNetConfig {
        mels: 16,
        frames: 16,
        channels: vec![4, 8],
        blocks: 1,
        embedding: 8,
    });
    config.train.epochs = 2;
    config.train.batch_size = 8;
    config.flow = Some(OeFlowConfig {
        blocks: 2,
        hidden: 16,
    });
    (dataset, config)
}

#[test]
fn inlier_detector_on_oe_flow_checkpoints_equals_oe_loaded_from_them() {
    use hark::audio::dataset::Split;
    use hark::detect::contract::AnomalyScorer;
    use hark::models::oe::{FlowDetector, OeSystem};
    let Some(ctx) = test_context() else { return };
    let root = std::env::temp_dir().join(format!("hark_oe_flow_det_{}", std::process::id()));
    let (dataset, config) = tiny_system(&root);
    let (_, _, models, _) = train_and_save(&ctx, &config, &dataset, &root);
    let machine = dataset.machine("valve").unwrap();
    let train: Vec<_> = machine.split(Split::Train).collect();
    let test: Vec<_> = machine.split(Split::Test).collect();
    // Loads the saved models with `detector` (without the flow when `flow` is false) and scores
    // the test clips.
    let scores = |detector: FlowDetector, flow: bool| {
        let mut c = config.clone();
        c.flow_detector = detector;
        if !flow {
            c.flow = None;
        }
        let mut system = OeSystem::new(&ctx, c, &dataset).unwrap();
        system.load_from = Some(models.clone());
        system.train(machine, &train).unwrap();
        system.score(&test).unwrap()
    };
    let inlier = scores(FlowDetector::InlierModel, true);
    assert_eq!(inlier, scores(FlowDetector::Flow, false));
    let flow = scores(FlowDetector::Flow, true);
    assert_ne!(inlier, flow);
    let _ = std::fs::remove_dir_all(root);
}
