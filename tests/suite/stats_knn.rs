//! The training-free stats-knn system: its embeddings (GPU front end) against the CPU front end,
//! its scores (GPU cosine top-k) against a brute-force CPU kNN and against the scoring rule
//! written out by hand, the per-memory scale, save/load through the scoring contract, and the
//! errors user input can reach (empty sections, NaN audio, mismatched dims on load, unknown
//! sections).

use std::collections::BTreeMap;

use hark::audio::dataset::{read_dataset, Domain, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::{run_system, AnomalyScorer};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::stats_knn::{
    embed_waves_cpu, load_stats_knn, save_stats_knn, stats_knn_checkpoint_path, BackEnd,
    ClipEmbedding, DomainMemories, EmbeddingOptions, KnnRule, Metric, SearchDevice, SectionModel,
    Standardization, StatsEmbedder, StatsKnnConfig, StatsKnnSystem, TrainingClip, View,
};
use hark::testing::{compare, test_context, SeededRng};

fn options(views: Vec<View>) -> EmbeddingOptions {
    EmbeddingOptions {
        views,
        spectrum_bands: 64,
        features: FeatureSpec {
            // The multi-pass FFT: the path software adapters use (and the CLI picks there).
            fft_path: FftPath::Global,
            ..FeatureSpec::dcase(FeatureKind::Logmel)
        },
    }
}

/// Broadband noise plus a tone that switches on halfway: every mel band well above the log
/// floor (so the dB values are well conditioned) and a transient for the change view.
fn wave(rng: &mut SeededRng, len: usize, freq: f64) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let tone = if i > len / 2 {
                0.3 * (2.0 * std::f64::consts::PI * freq * i as f64 / 16_000.0).sin() as f32
            } else {
                0.0
            };
            rng.uniform(-0.2, 0.2) + tone
        })
        .collect()
}

#[test]
fn embeddings_match_the_cpu_front_end() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(5);
    // Two lengths (two submits), one of them not a multiple of the hop; 17 clips of one length
    // make a second batch of that length.
    let mut waves: Vec<Vec<f32>> = (0..17)
        .map(|i| wave(&mut rng, 8_000, 300.0 + 40.0 * i as f64))
        .collect();
    waves.push(wave(&mut rng, 12_345, 2_000.0));
    let opts = options(View::ALL.to_vec());
    let mut embedder = StatsEmbedder::new(&ctx, opts.clone()).unwrap();
    let gpu = embedder.embed_waves(&waves).unwrap();
    let cpu = embed_waves_cpu(&opts, &waves).unwrap();
    assert_eq!(gpu.len(), waves.len());
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        for (v, view) in opts.views.iter().enumerate() {
            assert_eq!(g[v].len(), opts.dim(*view));
            // dB statistics of two f32 front ends (GPU FFT vs realfft): ~1e-4 dB apart on bands
            // this far above the floor; 1e-2 dB leaves room for the whole-clip FFT's longer sums.
            if let Err(report) = compare(&g[v], &c[v], 1e-3, 1e-2) {
                panic!("clip {i}, view {}: {report}", view.name());
            }
        }
    }
    // The tone that switches on shows in the change view's peak row: the band of the tone
    // stands out from a band far from it.
    let peak = &gpu[0][1][128..];
    assert!(peak.iter().cloned().fold(0.0, f32::max) > 3.0, "{peak:?}");
}

#[test]
fn embedding_refuses_nan_audio_and_bad_views() {
    let Some(ctx) = test_context() else { return };
    let mut embedder = StatsEmbedder::new(&ctx, options(vec![View::Logmel])).unwrap();
    let mut bad = vec![0.1f32; 4_000];
    bad[100] = f32::NAN;
    let err = embedder.embed_waves(&[bad]).unwrap_err();
    assert!(err.to_string().contains("non-finite samples"), "{err}");
    assert!(StatsEmbedder::new(&ctx, options(vec![])).is_err());
    assert!(StatsEmbedder::new(&ctx, options(vec![View::Change, View::Change])).is_err());
}

/// Embeddings of `n` clips around `centre` (two views of dims 6 and 4).
fn cluster(rng: &mut SeededRng, n: usize, centre: f32, spread: f32) -> Vec<ClipEmbedding> {
    (0..n)
        .map(|_| {
            vec![
                (0..6)
                    .map(|j| centre + j as f32 + rng.uniform(-spread, spread))
                    .collect(),
                (0..4)
                    .map(|j| centre * (j as f32 - 1.5) + rng.uniform(-spread, spread))
                    .collect(),
            ]
        })
        .collect()
}

fn training<'a>(
    names: &'a [String],
    embeddings: &'a [ClipEmbedding],
    targets: usize,
) -> Vec<TrainingClip<'a>> {
    names
        .iter()
        .zip(embeddings)
        .enumerate()
        .map(|(i, (name, embedding))| TrainingClip {
            name,
            domain: Some(if i < targets {
                Domain::Target
            } else {
                Domain::Source
            }),
            embedding,
        })
        .collect()
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (norm(a) * norm(b))
}

#[test]
fn scores_match_a_brute_force_cpu_knn() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(11);
    // 3 target clips around one centre, 12 source clips around another.
    let mut train = cluster(&mut rng, 3, 4.0, 0.8);
    train.extend(cluster(&mut rng, 12, -2.0, 0.5));
    let names: Vec<String> = (0..train.len()).map(|i| format!("train_{i}.wav")).collect();
    let clips = training(&names, &train, 3);
    let mut queries = cluster(&mut rng, 5, 4.0, 1.5);
    queries.extend(cluster(&mut rng, 5, -2.0, 1.5));
    queries.extend(cluster(&mut rng, 3, 1.0, 3.0));
    let query_names: Vec<String> = (0..queries.len())
        .map(|i| format!("test_{i}.wav"))
        .collect();
    let query_refs: Vec<&ClipEmbedding> = queries.iter().collect();
    for (domains, k, standardize, metric) in [
        (
            DomainMemories::Separate,
            1,
            Standardization::Columns,
            Metric::Euclidean,
        ),
        (
            DomainMemories::Separate,
            1,
            Standardization::View,
            Metric::Cosine,
        ),
        (
            DomainMemories::Separate,
            2,
            Standardization::None,
            Metric::Cosine,
        ),
        (
            DomainMemories::Separate,
            2,
            Standardization::View,
            Metric::Euclidean,
        ),
        // k = 3: the 3-clip target memory has no leave-one-out scale of its own.
        (
            DomainMemories::Separate,
            3,
            Standardization::Columns,
            Metric::Euclidean,
        ),
        (
            DomainMemories::Pooled,
            1,
            Standardization::View,
            Metric::Euclidean,
        ),
        (
            DomainMemories::Pooled,
            4,
            Standardization::None,
            Metric::Cosine,
        ),
    ] {
        let back_end = BackEnd {
            standardize,
            domains,
            rule: KnnRule { k, metric },
        };
        let gpu =
            SectionModel::fit(&SearchDevice::Gpu(ctx.clone()), back_end, &[6, 4], &clips).unwrap();
        let cpu = SectionModel::fit(&SearchDevice::Cpu, back_end, &[6, 4], &clips).unwrap();
        let case = format!("{domains:?} k={k} {standardize:?} {metric:?}");
        for (g, c) in gpu.views.iter().zip(&cpu.views) {
            for (gm, cm) in g.memories.iter().zip(&c.memories) {
                // Scales are means of f32 (GPU) and f64 (CPU) cosine distances.
                assert!(
                    (gm.scale - cm.scale).abs() <= 1e-4 + 1e-3 * cm.scale,
                    "{case}: scales {} vs {}",
                    gm.scale,
                    cm.scale
                );
            }
        }
        let gs = gpu.score(&query_names, &query_refs).unwrap();
        let cs = cpu.score(&query_names, &query_refs).unwrap();
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        // f32 similarities on the GPU against f64 on the CPU, divided by scales of ~0.01-5.
        if let Err(report) = compare(&to32(&gs), &to32(&cs), 3e-3, 3e-3) {
            panic!("{case}: GPU vs brute force: {report}");
        }
        // Training clips are not their own neighbours: every one scores above zero.
        let train_refs: Vec<&ClipEmbedding> = train.iter().collect();
        let own = cpu.score(&names, &train_refs).unwrap();
        assert!(own.iter().all(|&s| s > 0.0), "{case}: {own:?}");
    }
    // Pooled, k = 1, raw vectors, cosine, written out: the scale is the mean leave-one-out
    // nearest distance, a query scores its nearest distance over that scale, averaged over views.
    let back_end = BackEnd {
        standardize: Standardization::None,
        domains: DomainMemories::Pooled,
        rule: KnnRule {
            k: 1,
            metric: Metric::Cosine,
        },
    };
    let model =
        SectionModel::fit(&SearchDevice::Gpu(ctx.clone()), back_end, &[6, 4], &clips).unwrap();
    let scores = model.score(&query_names, &query_refs).unwrap();
    for (q, query) in queries.iter().enumerate() {
        let mut total = 0.0;
        for v in 0..2 {
            let nearest = |x: &[f32], skip: Option<usize>| {
                train
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != skip)
                    .map(|(_, t)| cosine_distance(x, &t[v]))
                    .fold(f64::INFINITY, f64::min)
            };
            let scale = (0..train.len())
                .map(|i| nearest(&train[i][v], Some(i)))
                .sum::<f64>()
                / train.len() as f64;
            total += nearest(&query[v], None) / scale;
        }
        let expected = total / 2.0;
        assert!(
            (scores[q] - expected).abs() <= 1e-3 * expected.max(1.0),
            "query {q}: {} vs {expected}",
            scores[q]
        );
    }
}

#[test]
fn separate_memories_let_target_clips_count() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(3);
    // A wide target cluster (3 clips) far from a tight source cluster (20 clips): a normal
    // target-domain query sits at the target cluster's usual spacing, an anomaly between them.
    let mut train = cluster(&mut rng, 3, 6.0, 2.0);
    train.extend(cluster(&mut rng, 20, -3.0, 0.2));
    let names: Vec<String> = (0..train.len()).map(|i| format!("train_{i}.wav")).collect();
    let clips = training(&names, &train, 3);
    let device = SearchDevice::Gpu(ctx.clone());
    // Euclidean on raw vectors: the clusters' spreads are the distances' scale.
    let back_end = BackEnd {
        standardize: Standardization::None,
        domains: DomainMemories::Separate,
        rule: KnnRule {
            k: 1,
            metric: Metric::Euclidean,
        },
    };
    let separate = SectionModel::fit(&device, back_end, &[6, 4], &clips).unwrap();
    let source_scale = separate.views[0].memories[0].scale;
    let target_scale = separate.views[0].memories[1].scale;
    assert!(
        target_scale > 3.0 * source_scale,
        "scales {source_scale} {target_scale}"
    );
    let normals = cluster(&mut rng, 6, 6.0, 2.0);
    let refs: Vec<&ClipEmbedding> = normals.iter().collect();
    let names: Vec<String> = (0..6).map(|i| format!("q{i}")).collect();
    let scores = separate.score(&names, &refs).unwrap();
    let mean = scores.iter().sum::<f64>() / 6.0;
    // Scaled by the target memory's own spacing, normal target clips score about 1, not the
    // many source spacings their raw distance is; one pooled memory scales them by the source
    // clips' spacing (most of the rows), which makes them look anomalous.
    assert!(mean < 3.0, "normal target clips score {scores:?}");
    let pooled = SectionModel::fit(
        &device,
        BackEnd {
            domains: DomainMemories::Pooled,
            ..back_end
        },
        &[6, 4],
        &clips,
    )
    .unwrap();
    let pooled_scores = pooled.score(&names, &refs).unwrap();
    let pooled_mean = pooled_scores.iter().sum::<f64>() / 6.0;
    assert!(
        pooled_mean > 2.0 * mean,
        "pooled {pooled_scores:?} vs separate {scores:?}"
    );
    // No training clips: a typed error, not a panic.
    assert!(SectionModel::fit(&device, BackEnd::default(), &[6, 4], &[]).is_err());
    // A clip of the wrong dims.
    let wrong = vec![vec![1.0; 5], vec![1.0; 4]];
    let bad = [TrainingClip {
        name: "x",
        domain: None,
        embedding: &wrong,
    }];
    assert!(SectionModel::fit(&device, BackEnd::default(), &[6, 4], &bad).is_err());
}

fn small_dataset(dir: &std::path::Path) -> hark::audio::dataset::Dataset {
    generate(&SynthConfig {
        out: dir.join("data"),
        machines: vec![MachineType::Valve],
        sections: 2,
        train_clips: 8,
        target_clips: Some(2),
        test_clips: 8,
        clip_seconds: 1.0,
        stems: false,
        threads: 1,
        ..SynthConfig::default()
    })
    .unwrap();
    let dataset = read_dataset(&dir.join("data")).unwrap();
    // `target_clips` sets the target share of the training clips (default 5 %: one clip here).
    let targets = dataset.machines[0]
        .split(Split::Train)
        .filter(|c| c.name.section == 1 && c.name.domain == Some(Domain::Target))
        .count();
    assert_eq!(targets, 2);
    dataset
}

fn scores_by_file(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("anomaly_score_") {
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

#[test]
fn saved_memories_score_as_the_trained_system_did() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_dataset(dir.path());
    let models = dir.path().join("models");
    let config = StatsKnnConfig {
        embedding: options(View::ALL.to_vec()),
        back_end: BackEnd::default(),
    };
    let mut trained = StatsKnnSystem::new(&ctx, config.clone()).unwrap();
    trained.save_to = Some(models.clone());
    let first = dir.path().join("first");
    let reports = run_system(&mut trained, &dataset, &first, 0.9).unwrap();
    assert_eq!(reports.len(), 2);
    // Scoring from the checkpoint, with other settings in the config: the checkpoint's win.
    let mut loaded = StatsKnnSystem::new(
        &ctx,
        StatsKnnConfig {
            embedding: options(vec![View::Logmel]),
            back_end: BackEnd {
                domains: DomainMemories::Pooled,
                ..BackEnd::default()
            },
        },
    )
    .unwrap();
    loaded.load_from = Some(models.clone());
    let second = dir.path().join("second");
    run_system(&mut loaded, &dataset, &second, 0.9).unwrap();
    assert_eq!(loaded.config().embedding.views, View::ALL.to_vec());
    let (a, b) = (scores_by_file(&first), scores_by_file(&second));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "scores after a reload differ");

    // A section the model has not seen: a typed error.
    let machine = &dataset.machines[0];
    let clips: Vec<_> = machine
        .split(Split::Train)
        .filter(|c| c.name.section == 0)
        .collect();
    let mut only_00 = StatsKnnSystem::new(&ctx, config.clone()).unwrap();
    only_00.train(machine, &clips).unwrap();
    let other: Vec<_> = machine
        .split(Split::Test)
        .filter(|c| c.name.section == 1)
        .collect();
    let err = only_00.score(&other).unwrap_err();
    assert!(err.to_string().contains("section 01"), "{err}");

    // Dims that do not match the metadata: the load names the tensor.
    let path = stats_knn_checkpoint_path(&models, "valve");
    let (mut settings, sections) = load_stats_knn(&ctx, &path, &SearchDevice::Cpu).unwrap();
    settings.spectrum_bands = 32;
    let broken = dir.path().join("broken");
    save_stats_knn(
        &ctx,
        &stats_knn_checkpoint_path(&broken, "valve"),
        "valve",
        &settings,
        &sections,
    )
    .unwrap();
    let err = load_stats_knn(
        &ctx,
        &stats_knn_checkpoint_path(&broken, "valve"),
        &SearchDevice::Cpu,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("spectrum"), "{err}");
    // Not a stats-knn checkpoint.
    let mut wrong = StatsKnnSystem::new(&ctx, config).unwrap();
    wrong.load_from = Some(dir.path().join("nowhere"));
    assert!(wrong.train(machine, &clips).is_err());
}
