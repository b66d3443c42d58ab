//! OE-Flow's joint training (paper 004): a normalizing flow on the OE embeddings through the
//! `EmbeddingLoss` hook; its NLL of the training embeddings ends well below an untrained flow's, and a saved flow reloads to
//! the same NLLs.

use hark::models::flow::{Flow, FlowConfig, FlowNll, Subnet};
use hark::models::oe::{
    train_oe, FlowEmbeddingLoss, OeNetConfig, OeNetwork, OeTrainConfig, OeTrainData,
};
use hark::nn::Mode;
use hark::runtime::Recorder;
use hark::tensor::Tensor;
use hark::testing::{test_context, SeededRng};
use hark::Context;

/// Mean flow NLL of the embeddings of `segments` (`[rows, 1, frames, mels]` values).
fn mean_nll(ctx: &Context, net: &mut OeNetwork, flow: &mut Flow, segments: &[f32]) -> Vec<f32> {
    let c = &net.config;
    let rows = segments.len() / (c.frames * c.mels);
    let x = Tensor::from_slice(ctx, &[rows, 1, c.frames, c.mels], segments).unwrap();
    let mut nll = FlowNll::new(ctx, None);
    let mut rec = Recorder::new(ctx);
    let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
    let (z, logdet) = flow.forward(&mut rec, &e, Mode::Eval).unwrap();
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
        epochs: 8,
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
    let after_values = mean_nll(&ctx, &mut net, &mut loss.flow, &normal);
    let after = mean(&after_values);
    // The embeddings move while the flow learns, so the reference is an untrained flow (same
    // seed) on the final embeddings.
    let mut fresh = Flow::new(&ctx, flow_config).unwrap();
    let before = mean(&mean_nll(&ctx, &mut net, &mut fresh, &normal));
    assert!(
        after.is_finite() && after < before - 1.0,
        "flow NLL of the training embeddings {before} -> {after}"
    );
    // Saved and reloaded, the flow gives the same NLLs.
    let path =
        std::env::temp_dir().join(format!("hark_oe_flow_{}.safetensors", std::process::id()));
    loss.flow.save(&path).unwrap();
    let mut loaded = Flow::load(&ctx, &path, flow_config).unwrap();
    let again = mean_nll(&ctx, &mut net, &mut loaded, &normal);
    let _ = std::fs::remove_file(&path);
    for (a, b) in after_values.iter().zip(&again) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
    }
}

#[test]
fn oe_flow_system_scores_through_the_contract_and_reloads_to_the_same_scores() {
    use hark::audio::dataset::read_dataset;
    use hark::audio::synth::{generate, MachineType, SynthConfig};
    use hark::detect::contract::run_system;
    use hark::models::oe::{oe_flow_checkpoint_path, OeConfig, OeFlowConfig, OeSystem};
    let Some(ctx) = test_context() else { return };
    let root = std::env::temp_dir().join(format!("hark_oe_flow_sys_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
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
    let dataset = read_dataset(&root.join("data")).unwrap();
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
    let models = root.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let mut system = OeSystem::new(&ctx, config.clone(), &dataset).unwrap();
    system.save_to = Some(models.clone());
    let out = root.join("scores");
    std::fs::create_dir_all(&out).unwrap();
    let reports = run_system(&mut system, &dataset, &out, 0.9).unwrap();
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

/// Per-row latents `z` (`[rows, embedding]`) of the flow on the embeddings of `segments`.
fn latents(ctx: &Context, net: &mut OeNetwork, flow: &mut Flow, segments: &[f32]) -> Vec<f32> {
    let c = &net.config;
    let rows = segments.len() / (c.frames * c.mels);
    let x = Tensor::from_slice(ctx, &[rows, 1, c.frames, c.mels], segments).unwrap();
    let mut rec = Recorder::new(ctx);
    let e = net.embed(&mut rec, &x, Mode::Eval).unwrap();
    let (z, _) = flow.forward(&mut rec, &e, Mode::Eval).unwrap();
    rec.submit().unwrap();
    z.to_vec(ctx).unwrap()
}

/// `(nll, score)` per row with the domain latent's means at `k v` of `values`.
fn domain_nll(
    ctx: &Context,
    net: &mut OeNetwork,
    flow: &mut Flow,
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
    let (z, logdet) = flow.forward(&mut rec, &e, Mode::Eval).unwrap();
    let (values, score) = nll.forward(&mut rec, &z, &logdet).unwrap();
    rec.submit().unwrap();
    (values.to_vec(ctx).unwrap(), score.to_vec(ctx).unwrap())
}

#[test]
fn joint_oe_dflow_training_lowers_the_nll_and_moves_z_d_to_k_v() {
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
    let (after, score) = domain_nll(&ctx, &mut net, &mut loss.flow, domain, &normal, &values);
    let mut fresh = Flow::new(&ctx, flow_config).unwrap();
    let (before, _) = domain_nll(&ctx, &mut net, &mut fresh, domain, &normal, &values);
    let (after, before) = (mean(&after), mean(&before));
    assert!(
        after.is_finite() && after < before - 1.0,
        "domain-latent NLL of the training embeddings {before} -> {after}"
    );
    assert!(score.iter().all(|s| s.is_finite()));
    // z_d of every class sits nearer its own k v than the other class's.
    let z = latents(&ctx, &mut net, &mut loss.flow, &normal);
    let d = config.embedding;
    for channel in 0..domain.channels {
        let class_mean = |v: f32| {
            let rows: Vec<f32> = (0..values.len())
                .filter(|&r| values[r] == v)
                .map(|r| z[r * d + channel])
                .collect();
            mean(&rows)
        };
        let (m0, m1) = (class_mean(0.0), class_mean(1.0));
        let k = f64::from(domain.k);
        eprintln!("z_d[{channel}]: v=0 mean {m0:.3}, v=1 mean {m1:.3} (k v: 0, {k})");
        assert!(
            (m0 - 0.0).abs() < (m0 - k).abs() && (m1 - k).abs() < (m1 - 0.0).abs(),
            "z_d[{channel}] means {m0} (v = 0), {m1} (v = 1) for k = {k}"
        );
    }
}
