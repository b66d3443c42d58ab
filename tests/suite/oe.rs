//! The OE system of paper 004: the Mahalanobis kNN and GMM inlier back ends (against a CPU
//! brute force), pseudo-target mixup, the feature extractor's training loss falling on tiny
//! synthetic segments, and the whole system through the scoring contract on `hark synth` data.

use std::path::PathBuf;

use hark::audio::dataset::{read_dataset, Domain};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::run_system;
use hark::detect::inlier::{
    pseudo_target_mixup, EmbeddingSet, InlierData, InlierKind, InlierModel, InlierOptions,
};
use hark::knn::Whitening;
use hark::models::oe::{
    train_oe, OeConfig, OeNetConfig, OeNetwork, OeSystem, OeTrainConfig, OeTrainData,
};
use hark::testing::{test_context, SeededRng};

/// Three clips of 6 rows each in 4-D, the last clip in the target domain.
fn embedding_set(seed: u64) -> EmbeddingSet {
    let mut rng = SeededRng::new(seed);
    let dim = 4;
    let mut set = EmbeddingSet {
        dim,
        ..Default::default()
    };
    for clip in 0..3 {
        for _ in 0..6 {
            set.rows.extend(
                (0..dim).map(|d| rng.uniform(-1.0, 1.0) * (1.0 + d as f32) + clip as f32 * 0.3),
            );
            set.domains.push(if clip == 2 {
                Domain::Target
            } else {
                Domain::Source
            });
            set.clips.push(clip);
        }
    }
    set
}

/// Mean Mahalanobis distance of `query` to its `k` nearest rows, skipping rows of `own`.
fn brute_force_knn(
    set: &EmbeddingSet,
    ridge: f64,
    query: &[f32],
    k: usize,
    own: Option<usize>,
) -> f64 {
    let w = Whitening::fit(&set.rows, set.dim, ridge).unwrap();
    let db = w.apply(&set.rows);
    let q = w.apply(query);
    let mut d: Vec<f64> = db
        .chunks(set.dim)
        .enumerate()
        .filter(|(i, _)| own != Some(set.clips[*i]))
        .map(|(_, r)| {
            r.iter()
                .zip(&q)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    d.sort_by(f64::total_cmp);
    d[..k].iter().sum::<f64>() / k as f64
}

#[test]
fn mahalanobis_knn_back_end_matches_a_brute_force_and_skips_the_own_clip() {
    let Some(ctx) = test_context() else { return };
    let set = embedding_set(11);
    let options = InlierOptions {
        kind: InlierKind::Knn { k: 2 },
        data: InlierData::BothDomains,
        regularisation: 1e-3,
        seed: 0,
    };
    let model = InlierModel::fit(&ctx, &set, &options).unwrap();
    let queries: Vec<f32> = vec![0.1, -0.2, 0.3, 0.0, 5.0, -6.0, 7.0, 9.0];
    let scores = model.score(&queries, None).unwrap();
    for (i, q) in queries.chunks(4).enumerate() {
        let expected = brute_force_knn(&set, 1e-3, q, 2, None);
        // f32 whitening and distances on the GPU: a few 1e-6 relative.
        assert!(
            (scores[i] - expected).abs() <= 1e-4 * expected.max(1.0),
            "query {i}: {} vs {expected}",
            scores[i]
        );
    }
    assert!(scores[1] > 3.0 * scores[0], "far query {scores:?}");
    // A training clip's own rows are skipped: its score is not zero and matches the brute force.
    let own_rows = &set.rows[0..6 * 4];
    let own = model.score(own_rows, Some(0)).unwrap();
    for (i, q) in own_rows.chunks(4).enumerate() {
        let expected = brute_force_knn(&set, 1e-3, q, 2, Some(0));
        assert!(expected > 0.0);
        assert!(
            (own[i] - expected).abs() <= 1e-4 * expected.max(1.0),
            "row {i}: {} vs {expected}",
            own[i]
        );
    }
    let with_self = model.score(own_rows, None).unwrap();
    assert!(with_self.iter().zip(&own).all(|(a, b)| a < b));
}

#[test]
fn gmm_back_end_scores_far_points_higher_and_source_only_drops_target_rows() {
    let Some(ctx) = test_context() else { return };
    let set = embedding_set(12);
    for data in [
        InlierData::SourceOnly,
        InlierData::BothDomains,
        InlierData::PseudoTarget,
    ] {
        let options = InlierOptions {
            kind: InlierKind::Gmm { components: 2 },
            data,
            regularisation: 1e-3,
            seed: 3,
        };
        let model = InlierModel::fit(&ctx, &set, &options).unwrap();
        let scores = model
            .score(&[0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0, 9.0], None)
            .unwrap();
        assert!(scores[1] > scores[0] + 10.0, "{data:?}: {scores:?}");
    }
    // The kNN database shows what each choice trains on: without target rows, a target row's
    // nearest neighbour is farther.
    let target_row = &set.rows[12 * 4..13 * 4];
    let knn = |data| {
        let options = InlierOptions {
            kind: InlierKind::Knn { k: 1 },
            data,
            regularisation: 1e-3,
            seed: 3,
        };
        InlierModel::fit(&ctx, &set, &options)
            .unwrap()
            .score(target_row, None)
            .unwrap()[0]
    };
    assert!(knn(InlierData::BothDomains) < 1e-3);
    assert!(knn(InlierData::SourceOnly) > 1e-2);
}

#[test]
fn inlier_models_refuse_inconsistent_embedding_sets() {
    let Some(ctx) = test_context() else { return };
    let good = embedding_set(5);
    let mut short_clips = good.clone();
    short_clips.clips.pop();
    let mut ragged = good.clone();
    ragged.rows.pop();
    let mut no_dim = good.clone();
    no_dim.dim = 0;
    for kind in [InlierKind::Gmm { components: 1 }, InlierKind::Knn { k: 1 }] {
        let options = InlierOptions {
            kind,
            ..Default::default()
        };
        assert!(InlierModel::fit(&ctx, &good, &options).is_ok());
        for bad in [&short_clips, &ragged, &no_dim] {
            let error = InlierModel::fit(&ctx, bad, &options)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains("clip indices"), "{kind:?}: {error}");
        }
    }
}

#[test]
fn pseudo_target_rows_lie_between_a_source_and_a_target_row() {
    let source: Vec<Vec<f32>> = vec![vec![0.0, 0.0], vec![1.0, 0.0]];
    let target: Vec<Vec<f32>> = vec![vec![0.0, 10.0]];
    let s: Vec<&[f32]> = source.iter().map(Vec::as_slice).collect();
    let t: Vec<&[f32]> = target.iter().map(Vec::as_slice).collect();
    let rows = pseudo_target_mixup(&s, &t, 50, 7).unwrap();
    assert_eq!(rows.len(), 50);
    let mut lambdas = Vec::new();
    for (row, i, j) in &rows {
        assert_eq!(*j, 0);
        // row = l * s + (1 - l) * t, so l = 1 - row[1] / 10 and row[0] = l * s[0].
        let l = 1.0 - row[1] / 10.0;
        assert!((0.0..=1.0).contains(&l));
        assert!((row[0] - l * source[*i][0]).abs() < 1e-5);
        lambdas.push(l);
    }
    let spread = lambdas.iter().cloned().fold(0.0f32, f32::max)
        - lambdas.iter().cloned().fold(1.0f32, f32::min);
    assert!(spread > 0.5, "lambda ~ U(0, 1), spread {spread}");
    assert!(pseudo_target_mixup(&s, &[], 3, 0).is_err());
}

fn tiny_net() -> OeNetConfig {
    OeNetConfig {
        mels: 16,
        frames: 16,
        channels: vec![4, 8],
        blocks: 1,
        embedding: 8,
    }
}

#[test]
fn oe_training_loss_falls_on_tiny_synthetic_segments() {
    let Some(ctx) = test_context() else { return };
    let config = tiny_net();
    let seg = config.frames * config.mels;
    let mut rng = SeededRng::new(5);
    // Normal segments: a bright band whose position gives the class; pseudo-anomalies: noise.
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
    let train = OeTrainConfig {
        epochs: 6,
        batch_size: 16,
        lr: 3e-3,
        mixup_prob: 0.0,
        ..Default::default()
    };
    let data = OeTrainData {
        normal: &normal,
        classes: &classes,
        pseudo: &pseudo,
    };
    let reports = train_oe(&ctx, &mut net, &data, &train, None, |_| {}).unwrap();
    let first = reports[0].loss;
    let last = reports[reports.len() - 1].loss;
    assert!(
        last.is_finite() && last < 0.6 * first,
        "loss {first} -> {last}"
    );
    // Classes out of range and missing pseudo-anomalies are refused.
    let bad = OeTrainData {
        normal: &normal,
        classes: &vec![5; classes.len()],
        pseudo: &pseudo,
    };
    assert!(train_oe(&ctx, &mut net, &bad, &train, None, |_| {}).is_err());
    let none = OeTrainData {
        normal: &normal,
        classes: &classes,
        pseudo: &[],
    };
    assert!(train_oe(&ctx, &mut net, &none, &train, None, |_| {}).is_err());
}

#[test]
fn oe_machine_loss_falls_below_chance_at_the_default_segment_size() {
    // The default 32 x 64 segments put [32, 8, 2048] through the stem's BatchNorm, where its old
    // one-thread-per-channel kernel zeroed every row after the first on lavapipe: the machine
    // loss then stayed at ln 2 whatever the learning rate.
    let Some(ctx) = test_context() else { return };
    let config = OeNetConfig::default();
    let seg = config.frames * config.mels;
    let mut rng = SeededRng::new(9);
    let mut normal = Vec::new();
    for _ in 0..32 {
        for _t in 0..config.frames {
            for m in 0..config.mels {
                let band = (10..20).contains(&m);
                normal.push(if band { 1.5 } else { 0.5 } + rng.uniform(-0.3, 0.3));
            }
        }
    }
    let classes = vec![0; 32];
    let pseudo = rng.vec(32 * seg, 0.0, 1.0);
    let mut net = OeNetwork::new(&ctx, &config, 1, 2).unwrap();
    let train = OeTrainConfig {
        epochs: 4,
        batch_size: 32,
        lr: 3e-3,
        mixup_prob: 0.0,
        ..Default::default()
    };
    let data = OeTrainData {
        normal: &normal,
        classes: &classes,
        pseudo: &pseudo,
    };
    let reports = train_oe(&ctx, &mut net, &data, &train, None, |_| {}).unwrap();
    let last = reports[reports.len() - 1].machine_loss;
    assert!(
        last < 0.35,
        "machine loss {:?}, chance is ln 2 = 0.693",
        reports.iter().map(|r| r.machine_loss).collect::<Vec<_>>()
    );
}

fn temp_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("hark_oe_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

#[test]
fn oe_system_trains_saves_loads_and_scores_through_the_contract() {
    let Some(ctx) = test_context() else { return };
    let root = temp_root("system");
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
    let mut config = OeConfig::new(tiny_net());
    config.train.epochs = 2;
    config.train.batch_size = 8;
    config.inlier.kind = InlierKind::Knn { k: 2 };
    config.aggregation = hark::detect::aggregate::Aggregation::TopK(2);
    let models = root.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let mut system = OeSystem::new(&ctx, config.clone(), &dataset).unwrap();
    system.save_to = Some(models.clone());
    let out = root.join("scores");
    std::fs::create_dir_all(&out).unwrap();
    let reports = run_system(&mut system, &dataset, &out, 0.9).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports
        .iter()
        .all(|r| r.metrics.is_some() && r.threshold.is_finite()));
    // The checkpoint records the aggregation; a loader told to follow it scores as trained.
    let metadata = hark::io::checkpoint::load_checkpoint(
        &ctx,
        &hark::models::oe::oe_checkpoint_path(&models, "valve"),
        &[],
    )
    .unwrap();
    assert_eq!(metadata["segment_aggregation"], "topk:2");
    let mut follow = config.clone();
    follow.aggregation = hark::detect::aggregate::Aggregation::Mean;
    follow.aggregation_from_checkpoint = true;
    // Loading the saved networks gives the same scores.
    let mut loaded = OeSystem::new(&ctx, follow, &dataset).unwrap();
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
        for ((na, sa), (nb, sb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            assert!(
                (sa - sb).abs() <= 1e-4 * sa.abs().max(1.0),
                "{na}: {sa} vs {sb}"
            );
        }
    }
    // Another network shape is refused when loading.
    let mut other = config;
    other.net.embedding = 16;
    let mut mismatched = OeSystem::new(&ctx, other, &dataset).unwrap();
    mismatched.load_from = Some(models);
    assert!(run_system(&mut mismatched, &dataset, &root.join("x"), 0.9).is_err());
    // A dataset of one machine type has no pseudo-anomalies.
    let mut single = dataset.clone();
    single.machines.truncate(1);
    let mut lonely = OeSystem::new(&ctx, OeConfig::new(tiny_net()), &single).unwrap();
    assert!(run_system(&mut lonely, &single, &root.join("y"), 0.9).is_err());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_single_machine_dataset_trains_with_pseudo_anomalies_from_another_collection() {
    let Some(ctx) = test_context() else { return };
    let root = temp_root("pseudo");
    let synth = |out: PathBuf, machine: MachineType| {
        generate(&SynthConfig {
            out,
            machines: vec![machine],
            sections: 1,
            train_clips: 4,
            test_clips: 8,
            seed: 6,
            clip_seconds: 1.0,
            stems: false,
            threads: 1,
            progress: false,
            ..SynthConfig::default()
        })
        .unwrap();
    };
    synth(root.join("valve-only"), MachineType::Valve);
    // The collection may hold the trained machine type too: its clips are never pseudo-anomalies.
    synth(root.join("others"), MachineType::Fan);
    synth(root.join("others-valve"), MachineType::Valve);
    let dataset = read_dataset(&root.join("valve-only")).unwrap();
    let mut config = OeConfig::new(tiny_net());
    config.train.epochs = 1;
    config.train.batch_size = 8;
    let out = root.join("scores");
    std::fs::create_dir_all(&out).unwrap();
    // Alone, one machine type has no pseudo-anomalies: the error names the way out.
    let mut alone = OeSystem::new(&ctx, config.clone(), &dataset).unwrap();
    let error = run_system(&mut alone, &dataset, &out, 0.9)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("--oe-pseudo-data"), "{error}");
    let mut only_valve = OeSystem::new(&ctx, config.clone(), &dataset).unwrap();
    only_valve.add_pseudo_anomalies(&read_dataset(&root.join("others-valve")).unwrap());
    assert!(run_system(&mut only_valve, &dataset, &out, 0.9).is_err());
    let mut system = OeSystem::new(&ctx, config, &dataset).unwrap();
    system.add_pseudo_anomalies(&read_dataset(&root.join("others")).unwrap());
    let reports = run_system(&mut system, &dataset, &out, 0.9).unwrap();
    assert_eq!(reports.len(), 1);
    assert!(system.history[0].machine_loss.is_finite());
    let _ = std::fs::remove_dir_all(root);
}
