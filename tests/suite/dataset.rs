//! The dataset reader against the real DCASE clip names in `../shared/data/real/` (expected
//! values from the per-file table of its SOURCES.md), and against malformed layouts.

use hark::audio::dataset::{parse_clip_name, read_dataset, Domain, Label, Naming, Split};

/// (relative path, label, domain or n/a, section or id_xx) from SOURCES.md's per-file table.
fn expected_from_sources(sources: &str) -> Vec<(String, String, String, String)> {
    sources
        .lines()
        .filter(|l| l.starts_with("| `dcase"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[4].to_string(),
                cells[5].to_string(),
                cells[6].to_string(),
            )
        })
        .collect()
}

#[test]
fn parses_every_real_clip_name() {
    let real = hark::testing::shared_dir().join("data/real");
    let Ok(sources) = std::fs::read_to_string(real.join("SOURCES.md")) else {
        eprintln!(
            "skipping: {} not found (set HARK_SHARED_DIR)",
            real.display()
        );
        return;
    };
    let expected = expected_from_sources(&sources);
    assert!(
        expected.len() >= 30,
        "SOURCES.md table has {} rows",
        expected.len()
    );
    let mut checked = 0;
    for dataset_dir in ["dcase2020_task2_dev", "dcase2023_task2_dev"] {
        let dataset = read_dataset(&real.join(dataset_dir)).unwrap();
        assert!(dataset.problems.is_empty(), "{:?}", dataset.problems);
        for machine in &dataset.machines {
            for clip in &machine.clips {
                let relative = format!("{dataset_dir}/{}/{}", machine.machine, clip.file_name);
                let (_, label, domain, section) = expected
                    .iter()
                    .find(|e| e.0 == relative)
                    .unwrap_or_else(|| panic!("{relative} is not in SOURCES.md"));
                assert_eq!(&clip.name.label.to_string(), label, "{relative}");
                let parsed_domain = clip
                    .name
                    .domain
                    .map_or("n/a".to_string(), |d| d.to_string());
                assert_eq!(&parsed_domain, domain, "{relative}");
                let parsed_section = match clip.name.naming {
                    Naming::MachineId => format!("id_{:02}", clip.name.section),
                    _ => format!("{:02}", clip.name.section),
                };
                assert_eq!(&parsed_section, section, "{relative}");
                if dataset_dir.starts_with("dcase2023") {
                    assert_eq!(clip.split, Some(Split::Test), "{relative}");
                    assert!(!clip.attributes.is_empty(), "{relative}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        expected.len(),
        "every listed clip was found and parsed"
    );
}

#[test]
fn parses_attributes_of_dg_names() {
    let name = parse_clip_name("section_00_target_test_normal_0013_vel_620_ac_0.08.wav").unwrap();
    assert_eq!(name.domain, Some(Domain::Target));
    assert_eq!(name.label, Label::Normal);
    assert_eq!(name.index, 13);
    let pairs: Vec<(&str, &str)> = name
        .attributes
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(pairs, [("vel", "620"), ("ac", "0.08")]);
    let fan = parse_clip_name("section_00_source_test_anomaly_0022_m-n_W.wav").unwrap();
    assert_eq!(fan.attributes[0].key, "m-n");
    let none = parse_clip_name("section_01_source_train_normal_0990_noAttribute.wav").unwrap();
    assert!(none.attributes.is_empty());
    let hidden = parse_clip_name("section_03_0042.wav").unwrap();
    assert_eq!((hidden.label, hidden.index), (Label::Unknown, 42));
    let old = parse_clip_name("anomaly_id_04_00000055.wav").unwrap();
    assert_eq!(
        (old.section, old.label, old.domain),
        (4, Label::Anomaly, None)
    );
}

#[test]
fn reports_malformed_names_and_misplaced_clips() {
    let root = std::env::temp_dir().join(format!("hark_dataset_bad_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let train = root.join("fan/train");
    let test = root.join("fan/test");
    std::fs::create_dir_all(&train).unwrap();
    std::fs::create_dir_all(&test).unwrap();
    for (dir, name) in [
        (&train, "section_00_source_train_normal_0000_m-n_W.wav"),
        (&train, "section_00_source_test_normal_0001_m-n_W.wav"),
        (&test, "section_00_source_test_normal_0000_m-n.wav"),
        (&test, "recording.wav"),
    ] {
        std::fs::write(dir.join(name), b"").unwrap();
    }
    std::fs::write(
        root.join("fan/attributes_00.csv"),
        "file_name,d1p,d1v\nfan/train/section_00_source_train_normal_0000_m-n_W.wav,m-n,X\n",
    )
    .unwrap();
    let dataset = read_dataset(&root).unwrap();
    let details: Vec<String> = dataset.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(dataset.problems.len(), 4, "{details:#?}");
    assert!(details.iter().any(|d| d.contains("recording.wav")));
    assert!(details.iter().any(|d| d.contains("split 'test'")));
    assert!(details.iter().any(|d| d.contains("differ")));
    assert!(dataset.require_no_problems().is_err());
    assert_eq!(dataset.machines[0].clips.len(), 1);
    std::fs::remove_dir_all(&root).unwrap();
}
