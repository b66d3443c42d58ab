//! Incremental monitoring (`ae`): the front end's interior frames are the same in a window and
//! in any shorter clip around them, and so a stream's windows scored from cached interior
//! vectors plus recomputed edges score as the same windows scored whole and as `hark score`
//! scores them written to files, across several windows per tick, dropped windows, a gap and
//! a second stream; a hop that is no whole number of STFT hops is rounded (incremental) or kept
//! (`--incremental off`), also on the command line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use hark::audio::dataset::{read_dataset, read_plain_dataset, Clip, Dataset, PlainLayout, Split};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::audio::wav::write_wav_f32;
use hark::detect::contract::{read_wav_samples, run_system, AnomalyScorer};
use hark::detect::outputs::{anomaly_score_file_name, read_anomaly_scores};
use hark::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::autoencoder::{AutoencoderConfig, AutoencoderSystem};
use hark::monitor::{
    AudioFormat, Block, Event, Monitor, MonitorConfig, ScoringModel, VectorLayout, WindowScorer,
};
use hark::testing::test_context;
use hark::Context;

const RATE: u32 = 16_000;
const MACHINE: &str = "fan";
/// 2 s windows: 62.5 STFT hops, so the tail frames are not on a whole hop.
const WINDOW: usize = 32_000;

fn features() -> FeatureSpec {
    // The multi-pass FFT: what FftPath::Auto picks on software adapters, forced so that the
    // tests run the same path on every adapter.
    FeatureSpec {
        fft_path: FftPath::Global,
        ..FeatureSpec::dcase(FeatureKind::Dcase640)
    }
}

/// One synthetic fan section (2 s clips) with an autoencoder trained for one epoch.
struct Trained {
    _dir: tempfile::TempDir,
    root: PathBuf,
    models: PathBuf,
    dataset: Dataset,
    /// The test clips joined twice: 16 s of audio for the streams.
    audio: Vec<f32>,
}

fn trained(ctx: &Context) -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        generate(&SynthConfig {
            out: root.clone(),
            machines: vec![MachineType::Fan],
            sections: 1,
            train_clips: 4,
            test_clips: 4,
            clip_seconds: 2.0,
            stems: false,
            threads: 1,
            ..SynthConfig::default()
        })
        .unwrap();
        let dataset = read_dataset(&root).unwrap();
        let models = dir.path().join("models");
        let mut system = ae(ctx);
        system.save_to = Some(models.clone());
        let machine = &dataset.machines[0];
        let train: Vec<&Clip> = machine.split(Split::Train).collect();
        system.train(machine, &train).unwrap();
        let mut clip_audio = Vec::new();
        for clip in machine.split(Split::Test) {
            clip_audio.extend(read_wav_samples(&clip.path).unwrap());
        }
        let audio = [clip_audio.clone(), clip_audio].concat();
        Trained {
            _dir: dir,
            root,
            models,
            dataset,
            audio,
        }
    })
}

fn ae(ctx: &Context) -> AutoencoderSystem {
    AutoencoderSystem::new(
        ctx,
        AutoencoderConfig {
            epochs: 1,
            features: features(),
            ..AutoencoderConfig::default()
        },
    )
    .unwrap()
}

fn loaded(ctx: &Context, t: &Trained) -> AutoencoderSystem {
    let mut system = ae(ctx);
    system.load_from = Some(t.models.clone());
    system
}

fn monitor(ctx: &Context, t: &Trained, hop: usize, incremental: bool) -> Monitor {
    let scorer = WindowScorer::fit_model(
        ScoringModel::VectorMean(Box::new(loaded(ctx, t))),
        &t.dataset.machines[0],
        RATE,
        0.9,
    )
    .unwrap();
    Monitor::new(
        scorer,
        MonitorConfig {
            window: Some(WINDOW),
            hop,
            max_backlog: 2,
            incremental,
            ..MonitorConfig::default()
        },
    )
    .unwrap()
}

/// `(stream, start sample, score)` of every scored window.
fn scores(events: &[Event]) -> Vec<(String, u64, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Score {
                stream,
                start_s,
                score,
                ..
            } => Some((
                stream.clone(),
                (start_s * f64::from(RATE)).round() as u64,
                *score,
            )),
            _ => None,
        })
        .collect()
}

/// Relative agreement of two scores: the same samples through the same kernels in batches of
/// other sizes (whole windows vs short clips, several windows vs one), so the per-vector
/// errors agree to f32 rounding and their means to about 1e-6.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-6)
}

#[test]
fn interior_frames_are_the_same_in_a_window_and_in_a_shorter_clip() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let spec = features();
    let l = VectorLayout::new(&spec, WINDOW).unwrap();
    let mut extractor = FeatureExtractor::new(&ctx, &spec).unwrap();
    let window = t.audio[4_000..4_000 + WINDOW].to_vec();
    let whole = extractor.extract(std::slice::from_ref(&window)).unwrap();
    let dims = spec.context * spec.n_mels;
    assert_eq!(whole.shape, vec![l.vectors, dims]);
    // A clip from 20 STFT hops in to the window's end: its vectors from the first interior one
    // are the window's from 20 + first_interior (interior ones and the tail, which sees the
    // same padding); the head clip's first vectors are the window's head.
    let offset = 20 * l.stft_hop;
    let body = extractor.extract(&[window[offset..].to_vec()]).unwrap();
    let head = extractor
        .extract(&[window[..l.head_samples].to_vec()])
        .unwrap();
    let w = whole.clip(0);
    let b = &body.clip(0)[l.first_interior * dims..];
    let h = &head.clip(0)[..l.first_interior * dims];
    let from = (20 + l.first_interior) * dims;
    assert_eq!(b.len(), w.len() - from);
    let mut worst = 0.0f32;
    for (x, y) in w[from..].iter().zip(b).chain(w.iter().zip(h)) {
        // Log-mel in dB: the same FFT per frame, the mel matmul in another row count.
        worst = worst.max((x - y).abs());
    }
    assert!(worst <= 1e-4, "largest difference {worst} dB");
    // The frames next to the edges do differ: the window's first vector is not the one a
    // clip starting a hop earlier gives (that frame sees audio where the window sees zeros).
    let earlier = extractor
        .extract(&[t.audio[4_000 - l.stft_hop..4_000 + WINDOW].to_vec()])
        .unwrap();
    let e = &earlier.clip(0)[dims..2 * dims];
    assert!(e.iter().zip(&w[..dims]).any(|(x, y)| (x - y).abs() > 1e-2));
}

/// Feeds `audio` of two streams into `monitor` in blocks of uneven sizes (some bring several
/// windows due at once, one more than the backlog holds), stream "a" with a gap, ticking after
/// every block.
fn feed(monitor: &mut Monitor, audio: &[f32]) -> Vec<Event> {
    let mono = AudioFormat {
        sample_rate: RATE,
        channels: 1,
    };
    let a = monitor.add_stream("a", mono, 0).unwrap();
    let b = monitor.add_stream("b", mono, 0).unwrap();
    // Stream b: the same audio from 50 000 samples on, wrapped.
    let rotated: Vec<f32> = audio[50_000..]
        .iter()
        .chain(&audio[..50_000])
        .copied()
        .collect();
    let sizes = [3_000, 10_000, 8_192, 20_000, 700, 45_000, 16_384];
    let (gap_from, gap_to) = (120_000, 130_000);
    let mut events = Vec::new();
    let (mut pa, mut pb, mut k) = (0usize, 0usize, 0usize);
    while pa < audio.len() || pb < audio.len() {
        let n = sizes[k % sizes.len()];
        k += 1;
        if pa < audio.len() {
            if pa == gap_from {
                pa = gap_to;
            }
            let end = (pa + n).min(audio.len());
            let end = if pa < gap_from {
                end.min(gap_from)
            } else {
                end
            };
            let block = Block {
                start: pa as u64,
                samples: audio[pa..end].to_vec(),
            };
            events.extend(monitor.push(a, block).unwrap());
            pa = end;
        }
        if pb < audio.len() {
            let end = (pb + n / 2 + 1).min(audio.len());
            let block = Block {
                start: pb as u64,
                samples: rotated[pb..end].to_vec(),
            };
            events.extend(monitor.push(b, block).unwrap());
            pb = end;
        }
        events.extend(monitor.tick().unwrap());
    }
    while monitor.pending() > 0 {
        events.extend(monitor.tick().unwrap());
    }
    events
}

#[test]
fn incremental_windows_score_as_whole_windows_and_as_hark_score() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    // 0.5 s is 15.6 STFT hops: incremental scoring rounds it to 16 (8192 samples).
    let mut incremental = monitor(&ctx, t, 8_000, true);
    assert_eq!(incremental.requested_hop(), 8_000);
    assert_eq!(incremental.geometry().hop, 8_192);
    assert!(incremental.incremental().is_some());
    let mut whole = monitor(&ctx, t, 8_192, false);
    assert!(whole.incremental().is_none());
    assert_eq!(monitor(&ctx, t, 8_000, false).geometry().hop, 8_000);

    let got_events = feed(&mut incremental, &t.audio);
    let want_events = feed(&mut whole, &t.audio);
    let got = scores(&got_events);
    let want = scores(&want_events);
    assert_eq!(
        got.iter().map(|(s, at, _)| (s, at)).collect::<Vec<_>>(),
        want.iter().map(|(s, at, _)| (s, at)).collect::<Vec<_>>(),
        "the same windows"
    );
    // The stream's first window waits for a full window; after the gap it waits again.
    let starts_a: Vec<u64> = got
        .iter()
        .filter(|(s, ..)| s == "a")
        .map(|(_, at, _)| *at)
        .collect();
    assert_eq!(starts_a[0], 0);
    // No window straddles the gap; after it the hops count from its end again.
    assert!(
        starts_a
            .iter()
            .all(|&at| at + WINDOW as u64 <= 120_000
                || (at >= 130_000 && (at - 130_000) % 8_192 == 0)),
        "{starts_a:?}"
    );
    assert!(starts_a.iter().any(|&at| at >= 130_000), "{starts_a:?}");
    let dropped = got_events
        .iter()
        .any(|e| matches!(e, Event::Dropped { .. }));
    assert!(dropped, "the 45 000-sample block overflows the backlog");
    assert!(got_events.iter().any(|e| matches!(e, Event::Gap { .. })));
    for ((stream, at, g), (_, _, w)) in got.iter().zip(&want) {
        assert!(
            close(*g, *w),
            "{stream} window at {at}: incremental {g}, whole {w}"
        );
    }
    // The cache holds a window's interior vectors per stream, and at most a hop's more
    // computed ahead of the next window.
    let interior = incremental.incremental().unwrap().interior();
    for id in [0, 1] {
        let held = incremental.cached_vectors(id);
        assert!((interior..=interior + 16).contains(&held), "{held}");
    }

    // Stream a's windows written to files and scored by `hark score`'s path.
    let dir = tempfile::tempdir().unwrap();
    let score_dir = dir.path().join("windows");
    let mut names = Vec::new();
    for (i, (_, at, score)) in got.iter().filter(|(s, ..)| s == "a").enumerate() {
        let at = *at as usize;
        let name = format!("w{i:02}.wav");
        write_wav_f32(&score_dir.join(&name), &t.audio[at..at + WINDOW], RATE).unwrap();
        names.push((name, *score));
    }
    let dataset = read_plain_dataset(&PlainLayout {
        machine: MACHINE.to_string(),
        train_dir: t.root.join(MACHINE).join("train"),
        score_dir: Some(score_dir),
        labels: None,
    })
    .unwrap();
    let out = dir.path().join("scores");
    let reports = run_system(&mut loaded(&ctx, t), &dataset, &out, 0.9).unwrap();
    let expected: BTreeMap<String, f64> =
        read_anomaly_scores(&out.join(anomaly_score_file_name(MACHINE, 0)))
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(expected.len(), names.len());
    for (name, score) in &names {
        let want = expected[name];
        assert!(
            close(*score, want),
            "{name}: monitor {score}, hark score {want}"
        );
    }
    let threshold = incremental.scorer().threshold(0).unwrap();
    assert!((threshold - reports[0].threshold).abs() <= 1e-9 * threshold.abs());
}

#[test]
fn hark_monitor_rounds_the_hop_when_scoring_incrementally() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("stream.wav");
    write_wav_f32(&wav, &t.audio[..4 * RATE as usize], RATE).unwrap();
    let run = |mode: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
            .args([
                "monitor", "--system", "ae", "--replay", "fast", "--hop", "1",
            ])
            .args(["--incremental", mode, "--machine", MACHINE, "--models"])
            .arg(&t.models)
            .arg("--train-dir")
            .arg(t.root.join(MACHINE).join("train"))
            .arg("--wav")
            .arg(format!("s={}", wav.display()))
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let ends: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"event\":\"score\""))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["time"].as_f64().unwrap()
            })
            .collect();
        (stderr, ends)
    };
    // 2 s windows of 4 s: every 0.992 s (31 STFT hops) incrementally, every 1 s whole.
    let (stderr, ends) = run("auto");
    let same = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    };
    assert!(stderr.contains("rounded from 1 s to 0.992 s"), "{stderr}");
    assert!(same(&ends, &[2.0, 2.992, 3.984]), "{ends:?}");
    let (stderr, ends) = run("off");
    assert!(stderr.contains("each window scored whole"), "{stderr}");
    assert!(same(&ends, &[2.0, 3.0, 4.0]), "{ends:?}");
}

#[test]
fn a_stream_warms_its_vectors_before_its_first_window_is_due() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let mono = AudioFormat {
        sample_rate: RATE,
        channels: 1,
    };
    let first_window = |incremental: bool, warm_at: &[usize]| {
        let mut m = monitor(&ctx, t, 8_192, incremental);
        let id = m.add_stream("a", mono, 0).unwrap();
        let mut at = 0;
        let mut held = Vec::new();
        for &to in warm_at.iter().chain([WINDOW].iter()) {
            let block = Block {
                start: at as u64,
                samples: t.audio[at..to].to_vec(),
            };
            assert!(m.push(id, block).unwrap().is_empty());
            at = to;
            if to < WINDOW {
                // No window yet: nothing to score, the new audio's vectors are computed.
                assert_eq!(m.pending(), 0);
                m.warm().unwrap();
                held.push(m.cached_vectors(id));
            }
        }
        let got = scores(&m.tick().unwrap());
        assert_eq!(got.len(), 1);
        (got[0].2, held)
    };
    // A vector at position P (a multiple of 512, from 512) reads samples P - 512 .. P + 2560:
    // 1 000 samples hold none; 12 000 hold 18; 12 500 one more, too few to bother; 25 000 hold
    // 43.
    let (warmed, held) = first_window(true, &[1_000, 12_000, 12_500, 25_000]);
    assert_eq!(held, vec![0, 18, 18, 43]);
    let (whole, held) = first_window(false, &[1_000, 12_000, 12_500, 25_000]);
    assert!(held.iter().all(|&h| h == 0));
    assert!(close(warmed, whole), "warmed {warmed}, whole {whole}");
}
