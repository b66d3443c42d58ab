//! Live monitoring: a replayed stream scores its windows exactly as `hark score` scores the same
//! windows written to files (stats-knn on synthetic clips, GPU), an injected anomaly raises an
//! alert within three hops, and the stream faults (gaps, repeated audio, a full backlog, wrong
//! formats), the sources (stdin PCM, a watched folder) and the state resume hold, the latter on a
//! CPU scorer so they run in milliseconds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use hark::audio::dataset::{
    read_dataset, read_plain_dataset, Clip, Dataset, Label, MachineDataset, PlainLayout, Split,
};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::audio::wav::{read_wav, write_wav_f32, WavOptions};
use hark::detect::contract::{read_wav_samples, run_system, AnomalyScorer};
use hark::detect::outputs::{anomaly_score_file_name, read_anomaly_scores};
use hark::features::pipeline::{FeatureKind, FeatureSpec};
use hark::kernels::fft::FftPath;
use hark::models::stats_knn::{StatsKnnConfig, StatsKnnSystem};
use hark::monitor::sources::{BlockSource, FolderWatch, Pace, PcmEncoding, PcmSource, WavReplay};
use hark::monitor::{
    run, AlertState, AudioFormat, Block, Collect, DecisionRule, Event, Monitor, MonitorConfig,
    Poll, RunOptions, Source, WindowScorer,
};
use hark::testing::test_context;
use hark::Context;

const RATE: u32 = 16_000;
const MACHINE: &str = "fan";

fn features() -> FeatureSpec {
    // The multi-pass FFT: what FftPath::Auto picks on software adapters, forced so that the
    // tests run the same path on every adapter.
    FeatureSpec {
        fft_path: FftPath::Global,
        ..FeatureSpec::dcase(FeatureKind::Dcase640)
    }
}

/// One synthetic fan section (1 s clips) with a stats-knn model saved for it, made once.
struct Trained {
    _dir: tempfile::TempDir,
    root: PathBuf,
    models: PathBuf,
    dataset: Dataset,
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
            train_clips: 16,
            test_clips: 24,
            // Plain anomalies (severities x4): the monitor's alert latency is under test, not
            // how subtle an anomaly the detector finds.
            difficulty: 0.25,
            clip_seconds: 1.0,
            stems: false,
            threads: 1,
            ..SynthConfig::default()
        })
        .unwrap();
        let dataset = read_dataset(&root).unwrap();
        let models = dir.path().join("models");
        let mut system =
            StatsKnnSystem::new(ctx, StatsKnnConfig::with_defaults(features())).unwrap();
        system.save_to = Some(models.clone());
        let machine = &dataset.machines[0];
        let train: Vec<&Clip> = machine.split(Split::Train).collect();
        system.train(machine, &train).unwrap();
        Trained {
            _dir: dir,
            root,
            models,
            dataset,
        }
    })
}

/// A stats-knn scorer loaded from the model folder, as `hark monitor` builds it.
fn loaded_scorer(ctx: &Context, t: &Trained) -> WindowScorer {
    let mut system = StatsKnnSystem::new(ctx, StatsKnnConfig::with_defaults(features())).unwrap();
    system.load_from = Some(t.models.clone());
    WindowScorer::fit(Box::new(system), &t.dataset.machines[0], RATE, 0.9).unwrap()
}

fn test_clips(t: &Trained, label: Label) -> Vec<&Clip> {
    t.dataset.machines[0]
        .split(Split::Test)
        .filter(|c| c.name.label == label)
        .collect()
}

fn scores(events: &[Event]) -> Vec<(f64, f64, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Score {
                start_s,
                end_s,
                score,
                ..
            } => Some((*start_s, *end_s, *score)),
            _ => None,
        })
        .collect()
}

#[test]
fn replayed_windows_score_as_hark_score_scores_them() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let files: Vec<PathBuf> = [
        test_clips(t, Label::Normal)[0],
        test_clips(t, Label::Anomaly)[0],
        test_clips(t, Label::Normal)[1],
    ]
    .iter()
    .map(|c| c.path.clone())
    .collect();
    // Windows of 1 s every 0.5 s over 3 s: aligned with the clips and straddling them.
    let (window, hop) = (16_000, 8_000);
    let mut monitor = Monitor::new(
        loaded_scorer(&ctx, t),
        MonitorConfig {
            window: Some(window),
            hop,
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    let threshold = monitor.scorer().threshold(0).unwrap();
    let replay = WavReplay::new("line-1", files.clone(), Pace::Fast, hop).unwrap();
    let mut sink = Collect::default();
    run(
        &mut monitor,
        vec![(Box::new(replay), 0)],
        &mut sink,
        &RunOptions::default(),
    )
    .unwrap();
    let got = scores(&sink.events);
    assert_eq!(got.len(), 5, "{:?}", sink.events);

    // The same windows written to WAV files and scored by `hark score`'s path (plain layout).
    let stream: Vec<f32> = files
        .iter()
        .flat_map(|p| read_wav(p, &WavOptions::default()).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let score_dir = dir.path().join("windows");
    for (i, (start, _, _)) in got.iter().enumerate() {
        let at = (start * f64::from(RATE)).round() as usize;
        let path = score_dir.join(format!("w{i}.wav"));
        write_wav_f32(&path, &stream[at..at + window], RATE).unwrap();
    }
    let dataset = read_plain_dataset(&PlainLayout {
        machine: MACHINE.to_string(),
        train_dir: t.root.join(MACHINE).join("train"),
        score_dir: Some(score_dir),
        labels: None,
    })
    .unwrap();
    let mut system = StatsKnnSystem::new(&ctx, StatsKnnConfig::with_defaults(features())).unwrap();
    system.load_from = Some(t.models.clone());
    let out = dir.path().join("scores");
    let reports = run_system(&mut system, &dataset, &out, 0.9).unwrap();
    let expected: BTreeMap<String, f64> =
        read_anomaly_scores(&out.join(anomaly_score_file_name(MACHINE, 0)))
            .unwrap()
            .into_iter()
            .collect();
    // The same samples through the same kernels; only the batch around each window differs
    // (5 windows at once here, 5 files there), so the scores agree to f32 rounding of the
    // kNN distances.
    for (i, (_, _, score)) in got.iter().enumerate() {
        let want = expected[&format!("w{i}.wav")];
        assert!(
            (score - want).abs() <= 1e-5 * want.abs().max(1e-6),
            "window {i}: monitor {score}, hark score {want}"
        );
    }
    assert!(
        (threshold - reports[0].threshold).abs() <= 1e-9 * threshold.abs(),
        "threshold {threshold} vs {}",
        reports[0].threshold
    );
}

#[test]
fn an_injected_anomaly_alerts_within_three_hops() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let mut scorer = loaded_scorer(&ctx, t);
    let threshold = scorer.threshold(0).unwrap();
    // The monitor's latency is under test, not the detector: take the normal clips it scores
    // lowest and the anomalous ones it scores highest (as whole clips).
    let mut ranked = |label| {
        let clips = test_clips(t, label);
        let waves: Vec<Vec<f32>> = clips
            .iter()
            .map(|c| read_wav_samples(&c.path).unwrap())
            .collect();
        let inputs: Vec<hark::monitor::WindowInput> = waves
            .iter()
            .enumerate()
            .map(|(i, w)| hark::monitor::WindowInput {
                stream: "rank",
                section: 0,
                start: i as u64,
                samples: w,
            })
            .collect();
        let s = scorer.score(&inputs).unwrap();
        let mut order: Vec<usize> = (0..clips.len()).collect();
        order.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
        (order, s, waves)
    };
    let (normal_order, normal_scores, normal_waves) = ranked(Label::Normal);
    let (anomaly_order, anomaly_scores, anomaly_waves) = ranked(Label::Anomaly);
    let quiet: Vec<usize> = normal_order[..3].to_vec();
    let loud: Vec<usize> = anomaly_order.iter().rev().take(3).copied().collect();
    assert!(
        quiet.iter().all(|&i| normal_scores[i] < threshold)
            && loud[..2].iter().all(|&i| anomaly_scores[i] > threshold),
        "the synthetic fan clips do not separate at threshold {threshold}: normal \
         {normal_scores:?}, anomalous {anomaly_scores:?}"
    );
    // 3 s of normal sound, then the anomaly from 3 s on; 1 s windows every 1 s.
    let mut samples: Vec<f32> = Vec::new();
    for &i in &quiet {
        samples.extend(&normal_waves[i]);
    }
    for &i in &loud {
        samples.extend(&anomaly_waves[i]);
    }
    let blocks: Vec<Block> = samples
        .chunks(4_000)
        .enumerate()
        .map(|(i, c)| Block {
            start: i as u64 * 4_000,
            samples: c.to_vec(),
        })
        .collect();
    let format = AudioFormat {
        sample_rate: RATE,
        channels: 1,
    };
    let mut monitor = Monitor::new(
        scorer,
        MonitorConfig {
            window: Some(16_000),
            hop: 16_000,
            rule: DecisionRule {
                alert_k: 2,
                alert_n: 3,
                clear_m: 2,
            },
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    let mut sink = Collect::default();
    let source = BlockSource::new("press-4", format, blocks);
    run(
        &mut monitor,
        vec![(Box::new(source), 0)],
        &mut sink,
        &RunOptions::default(),
    )
    .unwrap();
    let alerts: Vec<f64> = sink
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Alert { time_s, .. } => Some(*time_s),
            _ => None,
        })
        .collect();
    let (onset, hop_s) = (3.0, 1.0);
    assert!(!alerts.is_empty(), "no alert: {:?}", sink.events);
    assert!(
        alerts[0] > onset && alerts[0] <= onset + 3.0 * hop_s,
        "first alert at {} s, anomaly from {onset} s: {:?}",
        alerts[0],
        sink.events
    );
}

/// A CPU scorer for the fault tests: mean |x| of each clip, read through the same `read_wav`
/// path as every system (so the held windows are exercised without a GPU).
struct Loudness;

impl AnomalyScorer for Loudness {
    fn name(&self) -> &str {
        "loudness"
    }

    fn train(&mut self, _machine: &MachineDataset, _clips: &[&Clip]) -> hark::Result<()> {
        Ok(())
    }

    fn score(&mut self, clips: &[&Clip]) -> hark::Result<Vec<f64>> {
        clips
            .iter()
            .map(|c| {
                let s = read_wav_samples(&c.path)?;
                Ok(s.iter().map(|v| f64::from(v.abs())).sum::<f64>() / s.len() as f64)
            })
            .collect()
    }
}

fn loudness_monitor(window: usize, hop: usize, max_backlog: usize) -> Monitor {
    let scorer = WindowScorer::new(
        Box::new(Loudness),
        MACHINE,
        RATE,
        BTreeMap::from([(0, 0.25)]),
    );
    Monitor::new(
        scorer,
        MonitorConfig {
            window: Some(window),
            hop,
            max_backlog,
            rule: DecisionRule {
                alert_k: 2,
                alert_n: 3,
                clear_m: 2,
            },
            ..MonitorConfig::default()
        },
    )
    .unwrap()
}

fn mono() -> AudioFormat {
    AudioFormat {
        sample_rate: RATE,
        channels: 1,
    }
}

fn block(start_s: f64, seconds: f64, level: f32) -> Block {
    Block {
        start: (start_s * f64::from(RATE)) as u64,
        samples: vec![level; (seconds * f64::from(RATE)) as usize],
    }
}

#[test]
fn gaps_repeated_audio_and_clipping_are_reported() {
    let mut monitor = loudness_monitor(16_000, 8_000, 4);
    let blocks = vec![
        block(0.0, 1.5, 0.1),
        // 1 s lost: a gap from 1.5 s to 2.5 s.
        block(2.5, 1.5, 0.1),
        // 0.5 s delivered twice, then 0.5 s of new audio at full scale (clipped).
        block(3.5, 1.0, 1.0),
    ];
    let mut sink = Collect::default();
    let source = BlockSource::new("fan-2", mono(), blocks);
    run(
        &mut monitor,
        vec![(Box::new(source), 0)],
        &mut sink,
        &RunOptions::default(),
    )
    .unwrap();
    let gaps: Vec<_> = sink
        .events
        .iter()
        .filter(|e| matches!(e, Event::Gap { .. }))
        .collect();
    assert_eq!(
        gaps,
        [&Event::Gap {
            stream: "fan-2".into(),
            time_s: 1.5,
            missing_s: 1.0
        }]
    );
    assert!(sink.events.iter().any(|e| matches!(
        e,
        Event::Overlap { time_s, repeated_s, .. } if *time_s == 3.5 && *repeated_s == 0.5
    )));
    // No window spans the gap: windows end at 1.0, 1.5, then (after 1 s of new audio) 3.5,
    // 4.0 and 4.5.
    let windows = scores(&sink.events);
    let ends: Vec<f64> = windows.iter().map(|w| w.1).collect();
    assert_eq!(ends, [1.0, 1.5, 3.5, 4.0, 4.5], "{:?}", sink.events);
    assert!(windows.iter().all(|w| w.1 <= 1.5 || w.0 >= 2.5));
    // Half of the last window is at full scale; the others hold none.
    let clipped: Vec<f64> = sink
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Score { clipped, .. } => Some(*clipped),
            _ => None,
        })
        .collect();
    assert_eq!(clipped, [0.0, 0.0, 0.0, 0.0, 0.5]);
    let end = sink.events.last().unwrap();
    assert!(
        matches!(
            end,
            Event::End {
                gaps: 1,
                windows: 5,
                ..
            }
        ),
        "{end:?}"
    );
}

#[test]
fn a_full_backlog_drops_the_oldest_windows_and_counts_them() {
    let mut monitor = loudness_monitor(16_000, 1_600, 3);
    // 3 s arrive before the monitor scores anything: 21 windows come due, 3 may wait.
    let events = monitor.push(0, block(0.0, 1.0, 0.1)).err();
    assert!(events.is_some(), "push to a stream that was never added");
    let id = monitor.add_stream("pump-1", mono(), 0).unwrap();
    let events = monitor.push(id, block(0.0, 3.0, 0.1)).unwrap();
    assert_eq!(monitor.pending(), 3);
    assert_eq!(
        events,
        [Event::Dropped {
            stream: "pump-1".into(),
            windows: 18,
            total: 18
        }]
    );
    let scored = scores(&monitor.tick().unwrap());
    // The newest three survive: they end at 2.8, 2.9 and 3.0 s.
    let ends: Vec<f64> = scored.iter().map(|w| (w.1 * 10.0).round() / 10.0).collect();
    assert_eq!(ends, [2.8, 2.9, 3.0]);
    assert_eq!(monitor.pending(), 0);
    // A ring plus three windows of 1 s per stream, whatever arrives.
    assert_eq!(monitor.geometry().bytes_per_stream(), 4 * 16_000 * 4);
    // Settings that would not bound memory or could never alert are refused.
    let scorer = || WindowScorer::new(Box::new(Loudness), MACHINE, RATE, BTreeMap::new());
    let hour = MonitorConfig {
        window: Some(3_600 * RATE as usize),
        ..MonitorConfig::default()
    };
    assert!(Monitor::new(scorer(), hour).is_err());
    let never = MonitorConfig {
        window: Some(16_000),
        rule: DecisionRule {
            alert_k: 4,
            alert_n: 3,
            clear_m: 1,
        },
        ..MonitorConfig::default()
    };
    assert!(Monitor::new(scorer(), never).is_err());
}

#[test]
fn a_stream_of_another_format_or_section_is_refused_by_name() {
    let mut monitor = loudness_monitor(16_000, 8_000, 4);
    let err = monitor
        .add_stream(
            "mic-7",
            AudioFormat {
                sample_rate: 44_100,
                channels: 1,
            },
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("mic-7") && err.contains("44100"), "{err}");
    let err = monitor
        .add_stream(
            "mic-8",
            AudioFormat {
                sample_rate: RATE,
                channels: 2,
            },
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("mic-8") && err.contains("2 channels"), "{err}");
    let err = monitor
        .add_stream("mic-9", mono(), 3)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mic-9") && err.contains("section 03"), "{err}");
    assert!(monitor.add_stream("../x", mono(), 0).is_err());
    // A WAV file at 44.1 kHz replayed: refused before anything is scored.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.wav");
    write_wav_f32(&path, &vec![0.0; 4_410], 44_100).unwrap();
    let replay = WavReplay::new("cd-line", vec![path], Pace::Fast, 8_000).unwrap();
    let err = run(
        &mut monitor,
        vec![(Box::new(replay), 0)],
        &mut Collect::default(),
        &RunOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cd-line") && err.contains("44100 Hz"), "{err}");
}

#[test]
fn the_decision_state_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let options = RunOptions {
        state_file: Some(state.clone()),
        ..RunOptions::default()
    };
    // Loud audio (mean |x| 0.5 > 0.25): three 1 s windows, alert after the second.
    let first = BlockSource::new("gear-3", mono(), vec![block(0.0, 3.0, 0.5)]);
    let mut monitor = loudness_monitor(16_000, 16_000, 4);
    let mut sink = Collect::default();
    run(
        &mut monitor,
        vec![(Box::new(first), 0)],
        &mut sink,
        &options,
    )
    .unwrap();
    assert!(sink.events.iter().any(|e| matches!(e, Event::Alert { .. })));
    // Restarted: one quiet window does not clear the alert (m = 2), the second does; no new
    // alert is raised, and the window count goes on from 3.
    let second = BlockSource::new("gear-3", mono(), vec![block(0.0, 2.0, 0.01)]);
    let mut monitor = loudness_monitor(16_000, 16_000, 4);
    let mut sink = Collect::default();
    run(
        &mut monitor,
        vec![(Box::new(second), 0)],
        &mut sink,
        &options,
    )
    .unwrap();
    let states: Vec<AlertState> = sink
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Score { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(states, [AlertState::Alert, AlertState::Normal]);
    assert!(!sink.events.iter().any(|e| matches!(e, Event::Alert { .. })));
    assert!(sink
        .events
        .iter()
        .any(|e| matches!(e, Event::AllClear { .. })));
    assert!(matches!(
        sink.events.last(),
        Some(Event::End { windows: 5, .. })
    ));
    // A state file of another machine type is refused, naming it.
    let err = hark::monitor::state_file::load_state(&state, "pump")
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("'{MACHINE}'")), "{err}");
}

/// Polls `source` until it has given `n` samples (or fails after a few seconds).
fn take(source: &mut dyn Source, n: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut got = 0;
    for _ in 0..2_000 {
        match source.poll().unwrap() {
            Poll::Block(b) => {
                got += b.samples.len();
                blocks.push(b);
                if got >= n {
                    break;
                }
            }
            Poll::Pending => std::thread::sleep(Duration::from_millis(5)),
            Poll::End => break,
        }
    }
    blocks
}

#[test]
fn stdin_pcm_and_a_watched_folder_deliver_their_samples() {
    // s16le: each sample scaled by 1/32768, as 16-bit WAV files are read.
    let values: Vec<i16> = (0..20_000)
        .map(|i| ((i * 37) % 65_536 - 32_768) as i16)
        .collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut pcm = PcmSource::spawn(
        "stdin",
        Box::new(std::io::Cursor::new(bytes)),
        PcmEncoding::S16le,
        mono(),
        1 << 20,
        8_000,
    );
    let blocks = take(&mut pcm, values.len());
    assert!(blocks.iter().all(|b| b.samples.len() <= 8_000));
    let samples: Vec<f32> = blocks.iter().flat_map(|b| b.samples.clone()).collect();
    let expected: Vec<f32> = values.iter().map(|&v| f32::from(v) / 32_768.0).collect();
    assert_eq!(samples, expected);
    let mut next = 0;
    for b in &blocks {
        assert_eq!(b.start, next);
        next += b.samples.len() as u64;
    }
    assert_eq!(pcm.poll().unwrap(), Poll::End);

    let dir = tempfile::tempdir().unwrap();
    let mut watch =
        FolderWatch::new("recorder", dir.path(), mono(), Duration::ZERO, 16_000).unwrap();
    assert_eq!(watch.poll().unwrap(), Poll::Pending);
    write_wav_f32(&dir.path().join("clip_0002.wav"), &[0.25; 12_000], RATE).unwrap();
    write_wav_f32(&dir.path().join("clip_0001.wav"), &[0.5; 10_000], RATE).unwrap();
    let blocks = take(&mut watch, 22_000);
    let samples: Vec<f32> = blocks.iter().flat_map(|b| b.samples.clone()).collect();
    assert_eq!(samples.len(), 22_000);
    // In name order, one continuous stream.
    assert!(samples[..10_000].iter().all(|&v| v == 0.5));
    assert!(samples[10_000..].iter().all(|&v| v == 0.25));
    // A file of another rate: an error naming the stream and the file.
    write_wav_f32(&dir.path().join("clip_0003.wav"), &[0.1; 100], 8_000).unwrap();
    let err = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            watch.poll().err()
        })
        .expect("the 8 kHz file was not refused")
        .to_string();
    assert!(
        err.contains("recorder") && err.contains("clip_0003.wav"),
        "{err}"
    );
}

fn hark(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

#[test]
fn hark_monitor_writes_json_lines_and_refuses_a_model_of_another_machine() {
    let Some(ctx) = test_context() else { return };
    let t = trained(&ctx);
    let dir = tempfile::tempdir().unwrap();
    let train_dir = t.root.join(MACHINE).join("train");
    let clips = test_clips(t, Label::Normal);
    let (out, csv, state) = (
        dir.path().join("events.jsonl"),
        dir.path().join("csv"),
        dir.path().join("state.json"),
    );
    let os = |s: &str| std::ffi::OsString::from(s);
    let mut args: Vec<std::ffi::OsString> = [
        "monitor",
        "--system",
        "stats-knn",
        "--replay",
        "fast",
        "--window",
        "1",
        "--hop",
        "0.5",
    ]
    .iter()
    .map(|s| os(s))
    .collect();
    args.extend([os("--models"), t.models.clone().into()]);
    args.extend([os("--train-dir"), train_dir.into()]);
    args.extend([
        os("--wav"),
        os(&format!("line-1={}", clips[0].path.display())),
    ]);
    args.extend([
        os("--wav"),
        os(&format!("line-1={}", clips[1].path.display())),
    ]);
    let with = |extra: &[std::ffi::OsString]| {
        let all: Vec<&std::ffi::OsStr> = args.iter().chain(extra).map(|s| s.as_os_str()).collect();
        hark(&all)
    };

    // The folder holds a fan model only: monitoring a pump with it is refused.
    let refused = with(&[os("--machine"), os("pump")]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("of {MACHINE} only")) && stderr.contains("'pump'"),
        "{stderr}"
    );

    let ran = with(&[
        os("--machine"),
        os(MACHINE),
        os("--out"),
        out.clone().into(),
        os("--csv-dir"),
        csv.clone().into(),
        os("--state"),
        state.clone().into(),
    ]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    // 2 s of audio, 1 s windows every 0.5 s: windows end at 1.0, 1.5 and 2.0 s.
    assert_eq!(kinds, ["score", "score", "score", "end"], "{lines:?}");
    assert_eq!(lines[2]["time"].as_f64(), Some(2.0));
    assert!(lines[0]["threshold"].as_f64().unwrap() > 0.0 && lines[0]["wall"].is_f64());
    let rows = std::fs::read_to_string(csv.join("line-1.csv")).unwrap();
    assert_eq!(rows.lines().count(), 4, "{rows}");
    assert!(state.is_file());

    // A live device needs the audio-input feature, and the error says how to get it.
    let device = with(&[os("--machine"), os(MACHINE), os("--device"), os("mic")]);
    let stderr = String::from_utf8_lossy(&device.stderr);
    if cfg!(feature = "audio-input") {
        assert!(!device.status.success());
    } else {
        assert!(stderr.contains("--features audio-input"), "{stderr}");
    }
}

#[test]
fn a_realtime_replay_follows_the_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quarter.wav");
    write_wav_f32(&path, &[0.2; 4_000], RATE).unwrap();
    let mut replay = WavReplay::new("line-2", vec![path], Pace::Realtime, 8_000).unwrap();
    let started = std::time::Instant::now();
    let blocks = take(&mut replay, 4_000);
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = blocks.iter().map(|b| b.samples.len()).sum();
    assert_eq!(total, 4_000);
    // 0.25 s of audio is not all there before 0.25 s have passed (less one poll's sleep).
    assert!(elapsed >= 0.24, "{elapsed} s");
    assert!(blocks.len() > 1, "delivered in one block");
    assert!(blocks
        .windows(2)
        .all(|w| w[1].start == w[0].start + w[0].samples.len() as u64));
    let end = (0..100).find(|_| {
        std::thread::sleep(Duration::from_millis(5));
        replay.poll().unwrap() == Poll::End
    });
    assert!(end.is_some(), "the replay did not end");
}

#[test]
fn the_bench_reports_every_injected_gap_and_the_stall() {
    use hark::monitor::bench::{bench_streams, InjectedFaults, InjectedGaps, InjectedStall};
    let scorer = WindowScorer::new(
        Box::new(Loudness),
        MACHINE,
        RATE,
        BTreeMap::from([(0, 0.25)]),
    );
    let config = MonitorConfig {
        window: Some(8_000),
        hop: 4_000,
        ..MonitorConfig::default()
    };
    let clip: std::sync::Arc<[f32]> = (0..16_000).map(|i| (i % 7) as f32 * 0.01).collect();
    let gaps = InjectedGaps {
        every_s: 1.0,
        gap_s: 0.3,
    };
    let stall = InjectedStall {
        after_s: 2.0,
        pause_s: 0.4,
    };
    let faults = InjectedFaults {
        gaps: Some(gaps),
        stall: Some(stall),
    };
    let (run, _) = bench_streams(scorer, config, clip, 3, 6.0, faults).unwrap();
    // Per stream: 1 s of audio, 0.3 s lost, ... over 6 s of timeline: 4 gaps each. The stall
    // loses no audio, so it adds no gap.
    assert_eq!(run.gaps_injected, 12);
    assert_eq!(run.gaps_reported, run.gaps_injected);
    assert_eq!(run.stalls_injected, 1);
    assert_eq!((run.stalls_reported, run.resumes_reported), (1, 1));
    if cfg!(target_os = "linux") {
        let memory = run.memory.expect("resident memory is sampled on Linux");
        assert!(memory.peak_mib >= memory.warm_mib() && memory.end_mib() <= memory.peak_mib);
    }
    assert!(run.windows > 0 && run.latency_p99_s >= run.latency_p50_s);
}

#[test]
fn hark_monitor_takes_mobilenets_patch_geometry_from_its_checkpoint() {
    let Some(_ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (data, models) = (dir.path().join("data"), dir.path().join("models"));
    let os = |s: &str| std::ffi::OsString::from(s);
    let run = |args: Vec<std::ffi::OsString>| {
        let all: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        let out = hark(&all);
        assert!(
            out.status.success(),
            "hark {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let mut synth: Vec<_> = [
        "synth",
        "--machines",
        "fan",
        "--sections",
        "2",
        "--clips",
        "2",
    ]
    .iter()
    .map(|s| os(s))
    .collect();
    synth.extend(["--test-clips", "4", "--seconds", "1", "--no-stems", "--out"].map(os));
    synth.push(data.clone().into());
    run(synth);
    // Patches of 16 frames every 8 (the defaults are 64 and 8): a 1 s clip has 32 frames.
    let mut train: Vec<_> = ["train", "--system", "mobilenet", "--patch-frames", "16"]
        .iter()
        .map(|s| os(s))
        .collect();
    train.extend(["--epochs", "1", "--batch-size", "4", "--data"].map(os));
    train.push(data.clone().into());
    train.push(os("--models"));
    train.push(models.clone().into());
    run(train);
    let clip = std::fs::read_dir(data.join("fan").join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("section_00"))
        .unwrap();
    let mut monitor: Vec<_> = ["monitor", "--system", "mobilenet", "--replay", "fast"]
        .iter()
        .map(|s| os(s))
        .collect();
    monitor.extend(["--hop", "0.5", "--machine", "fan", "--data"].map(os));
    monitor.push(data.into());
    monitor.push(os("--models"));
    monitor.push(models.into());
    monitor.push(os("--wav"));
    monitor.push(os(&format!("line-1={}", clip.display())));
    let out = run(monitor);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("\"event\":\"score\"")),
        "no window was scored: {stdout}"
    );
}
