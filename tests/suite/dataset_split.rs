//! `split_labelled_test_set` (`hark data split`): a trainable dataset from a labelled test set.

use std::path::Path;

use hark::audio::dataset::{
    read_dataset, split_labelled_test_set, Domain, Label, Split, SplitOptions,
};
use hark::audio::synth::{generate, MachineType, SynthConfig};

/// A labelled test-only collection: the test clips of a small synthetic dataset, the machine
/// folders holding the clips directly (as `../shared/data/real` does), plus a machine type with
/// a single normal clip.
fn test_only_collection(root: &Path) {
    let synth = root.join("synth");
    generate(&SynthConfig {
        out: synth.clone(),
        machines: vec![MachineType::Valve, MachineType::Fan],
        sections: 2,
        train_clips: 2,
        test_clips: 8,
        seed: 3,
        clip_seconds: 0.2,
        stems: false,
        threads: 1,
        progress: false,
        ..SynthConfig::default()
    })
    .unwrap();
    for machine in ["valve", "fan"] {
        let dir = root.join("collection").join(machine);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(synth.join(machine).join("test")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        // The attribute tables, cut down to the test clips.
        for section in ["00", "01"] {
            let name = format!("attributes_{section}.csv");
            let table = std::fs::read_to_string(synth.join(machine).join(&name)).unwrap();
            let kept: Vec<&str> = table
                .lines()
                .enumerate()
                .filter(|(i, l)| *i == 0 || l.contains("/test/"))
                .map(|(_, l)| l)
                .collect();
            std::fs::write(dir.join(&name), kept.join("\n") + "\n").unwrap();
        }
    }
    let lonely = root.join("collection").join("pump");
    std::fs::create_dir_all(&lonely).unwrap();
    let one = std::fs::read_dir(root.join("collection").join("valve"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("_normal_"))
        .unwrap();
    std::fs::copy(&one, lonely.join(one.file_name().unwrap())).unwrap();
}

#[test]
fn split_moves_part_of_each_groups_normals_to_train_and_keeps_the_rest() {
    let root = std::env::temp_dir().join(format!("hark_split_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    test_only_collection(&root);
    let collection = read_dataset(&root.join("collection")).unwrap();
    collection.require_no_problems().unwrap();
    let out = root.join("split");
    let report = split_labelled_test_set(&collection, &out, &SplitOptions::default()).unwrap();
    // The pump (one normal clip) cannot give a training clip and keep a test one.
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, "pump");
    let split = read_dataset(&out).unwrap();
    // The attribute tables were rewritten for the new names: no row names a missing clip.
    split.require_no_problems().unwrap();
    assert_eq!(split.machines.len(), 2);
    for machine in &split.machines {
        let original = collection.machine(&machine.machine).unwrap();
        let train: Vec<_> = machine.split(Split::Train).collect();
        let test: Vec<_> = machine.split(Split::Test).collect();
        // Nothing lost, nothing doubled.
        assert_eq!(train.len() + test.len(), original.clips.len());
        assert!(train.iter().all(|c| c.name.label == Label::Normal));
        // Every anomaly stays a test clip.
        let anomalies = |clips: &[&hark::audio::dataset::Clip]| {
            clips
                .iter()
                .filter(|c| c.name.label == Label::Anomaly)
                .count()
        };
        let all: Vec<_> = original.clips.iter().collect();
        assert_eq!(anomalies(&test), anomalies(&all));
        // Half of each (section, domain) group's normals, at least one left for the test set.
        for section in original.sections() {
            for domain in [Domain::Source, Domain::Target] {
                let count = |clips: &[&hark::audio::dataset::Clip]| {
                    clips
                        .iter()
                        .filter(|c| {
                            c.name.section == section
                                && c.name.domain == Some(domain)
                                && c.name.label == Label::Normal
                        })
                        .count()
                };
                let normals = count(&all);
                assert_eq!(count(&train), (normals as f64 * 0.5).round() as usize);
                assert!(count(&test) >= 1);
            }
        }
        // Training clips are links to the original files, with the attributes kept.
        for clip in train.iter().filter(|_| cfg!(unix)) {
            let target = std::fs::read_link(&clip.path).unwrap();
            assert!(target.starts_with(std::fs::canonicalize(&original.root).unwrap()));
            let source_name = target.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                source_name.replace("_test_", "_train_"),
                clip.file_name,
                "{source_name}"
            );
        }
    }
    // Another seed picks other clips; an existing folder and a bad fraction are refused.
    let other = root.join("split-seed-1");
    let options = SplitOptions {
        seed: 1,
        ..Default::default()
    };
    split_labelled_test_set(&collection, &other, &options).unwrap();
    let names = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("valve").join("train"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_ne!(names(&out), names(&other));
    assert!(split_labelled_test_set(&collection, &out, &SplitOptions::default()).is_err());
    let bad = SplitOptions {
        train_fraction: 1.0,
        ..Default::default()
    };
    assert!(split_labelled_test_set(&collection, &root.join("bad"), &bad).is_err());
    assert!(!root.join("bad").exists());
    // A fraction that picks no clip says so (not "too few normal clips").
    let tiny = SplitOptions {
        train_fraction: 0.1,
        ..Default::default()
    };
    let error = split_labelled_test_set(&collection, &root.join("tiny"), &tiny)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("picks none"), "{error}");
    // A dataset that already has training clips: the moved clips are numbered after them.
    let synth = read_dataset(&root.join("synth")).unwrap();
    let more = root.join("more-train");
    split_labelled_test_set(&synth, &more, &SplitOptions::default()).unwrap();
    let more = read_dataset(&more).unwrap();
    more.require_no_problems().unwrap();
    for machine in &more.machines {
        let before = synth.machine(&machine.machine).unwrap();
        let old_train = before.split(Split::Train).count();
        let moved = machine.split(Split::Train).count() - old_train;
        assert!(moved > 0);
        assert_eq!(
            machine.clips.len(),
            before.clips.len(),
            "{}: nothing lost",
            machine.machine
        );
    }
    // Nothing left half-made beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(&root);
}
