//! WAV input: every supported format round-trips, every bad file gets a clear error naming it,
//! directories load in parallel with bad files skipped or stopping the load, and every real
//! DCASE clip in ../shared loads.

use std::path::{Path, PathBuf};

use hark::audio::wav::{read_many, read_wav, wav_files, OnBadFile, WavOptions};
use hark::HarkError;

fn write_wav<S: hound::Sample + Copy>(path: &Path, spec: hound::WavSpec, samples: &[S]) {
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    }
}

fn expect_wav_error(result: Result<Vec<f32>, HarkError>, path: &Path, needle: &str) {
    match result {
        Err(HarkError::Wav { path: p, reason }) => {
            assert_eq!(p, path.display().to_string());
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
        }
        other => panic!("expected a WAV error containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn integer_and_float_formats_scale_like_soundfile() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WavOptions::default();
    let p16 = dir.path().join("i16.wav");
    write_wav(
        &p16,
        spec(1, 16000, 16, hound::SampleFormat::Int),
        &[0i16, 16384, -32768, 32767],
    );
    // int16 / 32768 exactly, as soundfile's float32 read.
    assert_eq!(
        read_wav(&p16, &opts).unwrap(),
        vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]
    );
    let p24 = dir.path().join("i24.wav");
    write_wav(
        &p24,
        spec(1, 16000, 24, hound::SampleFormat::Int),
        &[0i32, 4_194_304, -8_388_608],
    );
    assert_eq!(read_wav(&p24, &opts).unwrap(), vec![0.0, 0.5, -1.0]);
    let p32 = dir.path().join("i32.wav");
    write_wav(
        &p32,
        spec(1, 16000, 32, hound::SampleFormat::Int),
        &[i32::MIN, 1 << 30],
    );
    assert_eq!(read_wav(&p32, &opts).unwrap(), vec![-1.0, 0.5]);
    let pf = dir.path().join("f32.wav");
    write_wav(
        &pf,
        spec(1, 16000, 32, hound::SampleFormat::Float),
        &[0.25f32, -0.75],
    );
    assert_eq!(read_wav(&pf, &opts).unwrap(), vec![0.25, -0.75]);
}

#[test]
fn bad_files_get_errors_that_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WavOptions::default();

    let stereo = dir.path().join("stereo.wav");
    write_wav(
        &stereo,
        spec(2, 16000, 16, hound::SampleFormat::Int),
        &[100i16, 300, -200, 0],
    );
    expect_wav_error(read_wav(&stereo, &opts), &stereo, "2 channels");
    let downmix = WavOptions {
        downmix: true,
        ..WavOptions::default()
    };
    let mixed = read_wav(&stereo, &downmix).unwrap();
    assert_eq!(mixed, vec![200.0 / 32768.0, -100.0 / 32768.0]);

    let slow = dir.path().join("8k.wav");
    write_wav(
        &slow,
        spec(1, 8000, 16, hound::SampleFormat::Int),
        &[1i16; 80],
    );
    expect_wav_error(read_wav(&slow, &opts), &slow, "8000 Hz");

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "these are not samples\n").unwrap();
    expect_wav_error(read_wav(&text, &opts), &text, "WAV");

    let truncated = dir.path().join("truncated.wav");
    write_wav(
        &truncated,
        spec(1, 16000, 16, hound::SampleFormat::Int),
        &[7i16; 1000],
    );
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 501]).unwrap();
    expect_wav_error(read_wav(&truncated, &opts), &truncated, "truncated");

    let empty = dir.path().join("empty.wav");
    write_wav::<i16>(&empty, spec(1, 16000, 16, hound::SampleFormat::Int), &[]);
    expect_wav_error(read_wav(&empty, &opts), &empty, "no samples");

    let nan = dir.path().join("nan.wav");
    write_wav(
        &nan,
        spec(1, 16000, 32, hound::SampleFormat::Float),
        &[0.0f32, f32::NAN, 1.0],
    );
    expect_wav_error(read_wav(&nan, &opts), &nan, "sample 1");

    let missing = dir.path().join("missing.wav");
    assert!(matches!(
        read_wav(&missing, &opts),
        Err(HarkError::Io { .. })
    ));
}

#[test]
fn a_directory_with_one_bad_file_skips_it_or_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..9 {
        let path = dir.path().join(format!("clip_{i}.wav"));
        if i == 4 {
            std::fs::write(&path, "not audio").unwrap();
        } else {
            write_wav(
                &path,
                spec(1, 16000, 16, hound::SampleFormat::Int),
                &vec![i as i16; 10 + i],
            );
        }
        paths.push(path);
    }
    assert_eq!(wav_files(dir.path()).unwrap(), paths);
    let opts = WavOptions::default();
    let loaded = read_many(&paths, &opts, OnBadFile::Skip).unwrap();
    assert_eq!(loaded.clips.len(), 8, "the other results are kept");
    assert_eq!(loaded.failures.len(), 1);
    assert_eq!(loaded.failures[0].0, paths[4]);
    for (path, clip) in loaded.paths.iter().zip(&loaded.clips) {
        let i: usize = path.file_stem().unwrap().to_str().unwrap()[5..]
            .parse()
            .unwrap();
        assert_eq!(clip.len(), 10 + i, "clips stay in path order");
    }
    let err = read_many(&paths, &opts, OnBadFile::Stop).unwrap_err();
    assert!(err.to_string().contains("clip_4.wav"), "{err}");
}

#[test]
fn every_real_dcase_clip_loads() {
    let Some(root) = hark::testing::real_data_dir() else {
        eprintln!("skipping: ../shared/data/real is not here");
        return;
    };
    let paths = wav_files(&root).unwrap();
    // 2020: six machine types x 3 clips; 2023: seven machine types.
    assert!(
        paths.len() >= 25,
        "expected the shared clips, found {}",
        paths.len()
    );
    let loaded = read_many(&paths, &WavOptions::default(), OnBadFile::Stop).unwrap();
    for (path, clip) in loaded.paths.iter().zip(&loaded.clips) {
        assert!(
            [160_000, 176_000, 192_000].contains(&clip.len()),
            "{}: {} samples",
            path.display(),
            clip.len()
        );
        let peak = clip.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.0 && peak <= 1.0, "{}: peak {peak}", path.display());
    }
}
