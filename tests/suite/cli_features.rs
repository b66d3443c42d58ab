//! `hark features` as a user runs it: every real DCASE clip in ../shared, and a folder with bad
//! files (truncated, stereo, 8 kHz, a text file named .wav) handled by stopping or skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use hark::io::npy::read_npy;

fn hark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hark"));
    c.env("HARK_AUTOTUNE", "off");
    c
}

fn gpu_available() -> bool {
    hark::testing::test_context().is_some()
}

fn npy_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(npy_files(&path));
        } else if path.extension().is_some_and(|e| e == "npy") {
            found.push(path);
        }
    }
    found
}

#[test]
fn logmel_of_every_real_clip() {
    if !gpu_available() {
        return;
    }
    let Some(root) = hark::testing::real_data_dir() else {
        eprintln!("skipping: ../shared/data/real is not here");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let status = hark()
        .args(["features", "--kind", "logmel"])
        .arg(&root)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let wavs = hark::audio::wav::wav_files(&root).unwrap();
    let written = npy_files(out.path());
    assert_eq!(written.len(), wavs.len(), "one .npy per clip");
    for wav in &wavs {
        let npy = out
            .path()
            .join(wav.strip_prefix(&root).unwrap())
            .with_extension("npy");
        let array = read_npy(&npy).unwrap();
        let samples = hound::WavReader::open(wav).unwrap().len() as usize;
        // Centred STFT: 1 + len / hop frames (313 for 10 s, 344 for 11 s, 376 for 12 s).
        assert_eq!(
            array.shape,
            vec![1 + samples / 512, 128],
            "{}",
            npy.display()
        );
        assert!(array.data.iter().all(|v| v.is_finite()));
    }
}

fn write_clip(path: &Path, channels: u16, rate: u32, seconds: f32) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let n = (seconds * rate as f32) as usize * usize::from(channels);
    for i in 0..n {
        writer
            .write_sample(((i * 7919) % 2000) as i16 - 1000)
            .unwrap();
    }
    writer.finalize().unwrap();
}

#[test]
fn bad_files_stop_the_run_or_are_skipped_with_the_others_kept() {
    if !gpu_available() {
        return;
    }
    let input = tempfile::tempdir().unwrap();
    let dir = input.path();
    write_clip(&dir.join("a_good.wav"), 1, 16000, 1.0);
    write_clip(&dir.join("b_stereo.wav"), 2, 16000, 1.0);
    write_clip(&dir.join("c_8k.wav"), 1, 8000, 1.0);
    write_clip(&dir.join("d_truncated.wav"), 1, 16000, 1.0);
    let bytes = std::fs::read(dir.join("d_truncated.wav")).unwrap();
    std::fs::write(dir.join("d_truncated.wav"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.join("e_text.wav"), "just some text\n").unwrap();
    write_clip(&dir.join("f_good.wav"), 1, 16000, 2.0);

    let out = tempfile::tempdir().unwrap();
    let stop = hark()
        .args(["features", "--kind", "dcase640"])
        .arg(dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!stop.status.success(), "the default stops at a bad file");
    let stderr = String::from_utf8_lossy(&stop.stderr);
    assert!(
        stderr.contains("b_stereo.wav") && stderr.contains("2 channels"),
        "{stderr}"
    );

    let skip = hark()
        .args(["features", "--kind", "dcase640", "--skip-bad"])
        .arg(dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        skip.status.success(),
        "{}",
        String::from_utf8_lossy(&skip.stderr)
    );
    let report = String::from_utf8_lossy(&skip.stdout);
    for (name, reason) in [
        ("b_stereo.wav", "2 channels"),
        ("c_8k.wav", "8000 Hz"),
        ("d_truncated.wav", "truncated"),
        ("e_text.wav", "WAV"),
    ] {
        let line = report.lines().find(|l| l.contains(name));
        assert!(line.is_some_and(|l| l.contains(reason)), "{name}: {report}");
    }
    let mut written: Vec<String> = npy_files(out.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, vec!["a_good.npy", "f_good.npy"]);
    let good = read_npy(&out.path().join("f_good.npy")).unwrap();
    assert_eq!(good.shape, vec![1 + 32000 / 512 - 4, 640]);
}
