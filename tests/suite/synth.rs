//! The synthetic dataset: bytes determined by the seed, the DG layout the reader accepts, and an
//! energy detector that must not separate anomalies perfectly at the default difficulty.

use std::path::{Path, PathBuf};

use hark::audio::dataset::{read_dataset, Split, Summary};
use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::detect::contract::{evaluate_score_files, run_system, EnergyScorer};

fn temp_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("hark_synth_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// FNV-1a over every file's relative path and bytes, in sorted order.
fn hash_tree(root: &Path) -> (u64, usize) {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for byte in relative.bytes().chain(std::fs::read(file).unwrap()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    (hash, files.len())
}

fn tiny_config(out: PathBuf, seed: u64) -> SynthConfig {
    SynthConfig {
        out,
        machines: vec![MachineType::Valve, MachineType::Bearing],
        sections: 2,
        train_clips: 2,
        test_clips: 4,
        seed,
        clip_seconds: 1.0,
        ..SynthConfig::default()
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (temp_root("a"), temp_root("b"), temp_root("c"));
    generate(&tiny_config(a.clone(), 11)).unwrap();
    // A different thread count must not change the bytes.
    generate(&SynthConfig {
        threads: 1,
        ..tiny_config(b.clone(), 11)
    })
    .unwrap();
    generate(&tiny_config(c.clone(), 12)).unwrap();
    let (hash_a, files_a) = hash_tree(&a);
    let (hash_b, files_b) = hash_tree(&b);
    let (hash_c, _) = hash_tree(&c);
    // 2 machines x 2 sections x 6 clips x 3 files + 4 attribute CSVs.
    assert_eq!(files_a, 2 * 2 * 6 * 3 + 4);
    assert_eq!((hash_a, files_a), (hash_b, files_b));
    assert_ne!(hash_a, hash_c);
    for root in [a, b, c] {
        std::fs::remove_dir_all(root).unwrap();
    }
}

#[test]
fn writes_the_dg_layout_with_stems() {
    let root = temp_root("layout");
    generate(&tiny_config(root.clone(), 3)).unwrap();
    let dataset = read_dataset(&root).unwrap();
    dataset.require_no_problems().unwrap();
    assert_eq!(dataset.machines.len(), 2);
    let valve = dataset.machine("valve").unwrap();
    assert_eq!(valve.sections(), [0, 1]);
    assert_eq!(valve.split(Split::Train).count(), 4);
    assert_eq!(valve.split(Split::Test).count(), 8);
    let summary = Summary::of(&dataset);
    assert_eq!(summary.total(), 24);
    let clip = valve.split(Split::Test).next().unwrap();
    let reader = hound::WavReader::open(&clip.path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 16000, 16)
    );
    assert_eq!(reader.duration(), 16000);
    let stem_dir = root
        .join("valve/stems/test")
        .join(clip.file_name.trim_end_matches(".wav"));
    // The mixture is the sum of the stems up to rounding of the three 16-bit files.
    let read = |p: PathBuf| -> Vec<i32> {
        hound::WavReader::open(p)
            .unwrap()
            .samples::<i16>()
            .map(|s| i32::from(s.unwrap()))
            .collect()
    };
    let (mixture, machine, noise) = (
        read(clip.path.clone()),
        read(stem_dir.join("machine.wav")),
        read(stem_dir.join("noise.wav")),
    );
    assert!(machine.iter().any(|&s| s != 0) && noise.iter().any(|&s| s != 0));
    for i in 0..mixture.len() {
        assert!(
            (mixture[i] - machine[i] - noise[i]).abs() <= 1,
            "sample {i}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// The whole contract on a small set: energy scorer -> CSVs -> evaluation from the CSVs, and the
/// difficulty check: a loudness detector must not rank anomalies perfectly.
#[test]
fn energy_scorer_is_not_perfect_at_default_difficulty() {
    let root = temp_root("energy");
    let scores = temp_root("energy_scores");
    generate(&SynthConfig {
        out: root.clone(),
        sections: 1,
        train_clips: 20,
        test_clips: 40,
        clip_seconds: 2.0,
        stems: false,
        seed: 5,
        ..SynthConfig::default()
    })
    .unwrap();
    let dataset = read_dataset(&root).unwrap();
    let reports = run_system(&mut EnergyScorer::default(), &dataset, &scores, 0.9).unwrap();
    assert_eq!(reports.len(), 5);
    let evaluated = evaluate_score_files(&scores, &dataset).unwrap();
    assert_eq!(evaluated.len(), 5);
    let mut perfect = 0;
    for (section, report) in evaluated.iter().zip(&reports) {
        // The CSV round trip reproduces the driver's own metrics.
        assert_eq!(Some(&section.metrics), report.metrics.as_ref());
        let aucs: Vec<f64> = section.metrics.domains.iter().map(|d| d.auc).collect();
        eprintln!(
            "{} energy AUCs {aucs:?} pAUC {:.3}",
            section.metrics.machine, section.metrics.pauc
        );
        if aucs.iter().all(|&a| a >= 0.999) {
            perfect += 1;
        }
    }
    assert!(
        perfect <= 1,
        "{perfect} machine types are perfectly separated by energy"
    );
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&scores).unwrap();
}
