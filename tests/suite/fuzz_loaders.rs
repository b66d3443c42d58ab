//! Fuzzing of every file loader: valid files (WAV, npy, safetensors checkpoints with their
//! metadata, score CSV, attribute CSV, ensemble config) are mutated by a seeded mutator (bit
//! flips, truncation, extension, overwritten header fields, hostile metadata values) and each
//! case must end in `Ok` or a typed `Err`: a panic fails the test naming the case, a case past
//! its time limit fails it as a hang, and an allocation abort would kill the binary, which is
//! why loaders validate sizes before allocating. Cases are few and small so that all of them
//! run in seconds on lavapipe.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use hark::audio::dataset::read_machine;
use hark::audio::wav::{read_wav, WavOptions};
use hark::detect::ensemble::parse_ensemble_config;
use hark::detect::outputs::read_anomaly_scores;
use hark::io::npy::{read_npy, write_npy};
use hark::kernels::fft::FftPath;
use hark::models::conv_tasnet::{
    torchaudio_state_dict, ConvTasNet, ConvTasNetConfig, MaskActivation, StateDictHints,
};
use hark::models::embedding::{Branches, EmbeddingModel, EmbeddingNetConfig};
use hark::testing::test_context;
use hark::HarkError;

/// The longest one case may take before it counts as a hang.
const CASE_LIMIT: Duration = Duration::from_secs(20);

/// A seeded mutator (splitmix64): the same seed gives the same cases.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A value that breaks size fields: zero, one, all ones, sign bits, huge.
    fn interesting(&mut self) -> u64 {
        const VALUES: [u64; 10] = [
            0,
            1,
            2,
            0x7f,
            0xff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x7fff_ffff_ffff_ffff,
            u64::MAX,
        ];
        VALUES[self.below(VALUES.len())]
    }

    /// Overwrites `width` bytes at `at` with a little-endian interesting value.
    fn write_field(&mut self, bytes: &mut [u8], at: usize, width: usize) {
        let value = self.interesting().to_le_bytes();
        for (i, b) in value.iter().take(width).enumerate() {
            if let Some(slot) = bytes.get_mut(at + i) {
                *slot = *b;
            }
        }
    }

    /// One random mutation of `valid`; `fields` are (offset, width) of header fields worth
    /// rewriting with interesting values.
    fn mutate(&mut self, valid: &[u8], fields: &[(usize, usize)]) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        let len = bytes.len();
        match self.below(7) {
            0 => {
                for _ in 0..1 + self.below(8) {
                    let i = self.below(len);
                    bytes[i] ^= 1 << self.below(8);
                }
            }
            1 => bytes.truncate(self.below(len)),
            2 => {
                for _ in 0..1 + self.below(64) {
                    bytes.push(self.next() as u8);
                }
            }
            3 => {
                let i = self.below(len);
                bytes[i] = self.interesting() as u8;
            }
            4 | 5 if !fields.is_empty() => {
                let (at, width) = fields[self.below(fields.len())];
                self.write_field(&mut bytes, at, width);
            }
            4 | 5 => {
                let at = self.below(len);
                let width = [1, 2, 4, 8][self.below(4)];
                self.write_field(&mut bytes, at, width);
            }
            _ => {
                // Duplicate a chunk in place (grows a header, shifts the data).
                let start = self.below(len);
                let end = (start + 1 + self.below(32)).min(len);
                let chunk = bytes[start..end].to_vec();
                let at = self.below(len);
                bytes.splice(at..at, chunk);
            }
        }
        bytes
    }
}

/// Runs `load` in its own thread: a panic or a run past [`CASE_LIMIT`] fails the test naming
/// the case; a typed error or success passes.
fn run_case<T: Send + 'static>(
    case: &str,
    load: impl FnOnce() -> Result<T, HarkError> + Send + 'static,
) -> Result<T, HarkError> {
    let (send, receive) = mpsc::channel();
    let case_name = case.to_string();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(load));
        let _ = send.send(outcome);
    });
    match receive.recv_timeout(CASE_LIMIT) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{case_name}: the loader panicked: {message}")
        }
        Err(_) => panic!("{case_name}: the loader ran past {CASE_LIMIT:?} (a hang)"),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn valid_wav(samples: usize) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for i in 0..samples {
        writer.write_sample((i as i16).wrapping_mul(97)).unwrap();
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

#[test]
fn wav_reader_survives_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_wav(200);
    // RIFF size, fmt size, format tag, channels, rate, byte rate, block align, bits, data size.
    let fields = [
        (4, 4),
        (16, 4),
        (20, 2),
        (22, 2),
        (24, 4),
        (28, 4),
        (32, 2),
        (34, 2),
        (40, 4),
    ];
    let mut mutator = Mutator(0x3a7);
    for case in 0..300 {
        let bytes = mutator.mutate(&valid, &fields);
        let path = dir.path().join(format!("case{case}.wav"));
        write(&path, &bytes);
        let options = WavOptions {
            downmix: case % 2 == 0,
            ..WavOptions::default()
        };
        let result = run_case(&format!("wav case {case}"), move || {
            read_wav(&path, &options)
        });
        if let Ok(samples) = result {
            assert!(samples.iter().all(|v| v.is_finite()), "wav case {case}");
        }
    }
}

#[test]
fn wav_header_claiming_more_samples_than_stored_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = valid_wav(200);
    bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let path = dir.path().join("long.wav");
    write(&path, &bytes);
    let err = read_wav(&path, &WavOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("long.wav"), "{err}");
}

/// The npy header text's shape, rewritten to `shape` (the header is padded to the same length).
fn npy_with_shape(valid: &[u8], shape: &str) -> Vec<u8> {
    let header_len = usize::from(u16::from_le_bytes([valid[8], valid[9]]));
    let header = std::str::from_utf8(&valid[10..10 + header_len]).unwrap();
    let start = header.find("'shape': (").unwrap() + "'shape': (".len();
    let end = start + header[start..].find(')').unwrap();
    let mut text = format!("{}{shape}{}", &header[..start], &header[end..]);
    text = text.trim_end().to_string();
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(' ');
    }
    text.push('\n');
    let mut out = valid[..8].to_vec();
    out.extend((text.len() as u16).to_le_bytes());
    out.extend(text.as_bytes());
    out.extend(&valid[10 + header_len..]);
    out
}

#[test]
fn npy_reader_survives_mutated_files_and_checks_the_shape_against_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let valid_path = dir.path().join("valid.npy");
    let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
    write_npy(&valid_path, &[4, 6], &data).unwrap();
    let valid = std::fs::read(&valid_path).unwrap();

    // Header shapes that do not match the 24 stored values are errors naming the file.
    for shape in [
        "3, 6",
        "5, 6",
        "4,",
        "100000000000, 100000000000",
        "18446744073709551615, 2",
    ] {
        let path = dir.path().join("shape.npy");
        write(&path, &npy_with_shape(&valid, shape));
        let p = path.clone();
        let err = run_case(&format!("npy shape ({shape})"), move || read_npy(&p))
            .err()
            .unwrap_or_else(|| panic!("npy shape ({shape}) was read"));
        assert!(err.to_string().contains("shape.npy"), "{err}");
    }
    let path = dir.path().join("same.npy");
    write(&path, &npy_with_shape(&valid, "2, 12"));
    assert_eq!(read_npy(&path).unwrap().shape, vec![2, 12]);

    let mut mutator = Mutator(0x4e9);
    // Magic, version, header length.
    let fields = [(0, 1), (6, 1), (8, 2)];
    for case in 0..300 {
        let bytes = mutator.mutate(&valid, &fields);
        let path = dir.path().join(format!("case{case}.npy"));
        write(&path, &bytes);
        if let Ok(array) = run_case(&format!("npy case {case}"), move || read_npy(&path)) {
            let numel: usize = array.shape.iter().product();
            assert_eq!(numel, array.data.len(), "npy case {case}");
        }
    }
}

#[test]
fn score_csv_reader_survives_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let valid = b"file_name,anomaly_score\nsection_00_0000.wav,1.25\nsection_00_0001.wav,-3e2\n\
                  section_00_0002.wav,0.5\n"
        .to_vec();
    let mut mutator = Mutator(0x5c0);
    for case in 0..300 {
        let bytes = mutator.mutate(&valid, &[]);
        let path = dir.path().join(format!("case{case}.csv"));
        write(&path, &bytes);
        if let Ok(scores) = run_case(&format!("score csv case {case}"), move || {
            read_anomaly_scores(&path)
        }) {
            assert!(
                scores.iter().all(|(_, s)| s.is_finite()),
                "score csv case {case}"
            );
        }
    }
}

#[test]
fn ensemble_config_parser_survives_mutated_text() {
    let valid = b"# members\n1.0 runs/ae\n0.5 /abs/runs/flow  # second\n2 runs/knn\n".to_vec();
    let mut mutator = Mutator(0xe45);
    for case in 0..300 {
        let bytes = mutator.mutate(&valid, &[]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Ok(members) = run_case(&format!("ensemble case {case}"), move || {
            parse_ensemble_config(&text, Path::new("/base"))
        }) {
            assert!(
                members.iter().all(|m| m.weight.is_finite()),
                "ensemble case {case}"
            );
        }
    }
}

#[test]
fn attribute_csv_reader_survives_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let machine = dir.path().join("fan");
    let train = machine.join("train");
    std::fs::create_dir_all(&train).unwrap();
    let names = [
        "section_00_source_train_normal_0000_noAttribute.wav",
        "section_00_target_train_normal_0001_noAttribute.wav",
    ];
    for name in names {
        write(&train.join(name), &valid_wav(64));
    }
    let valid = format!(
        "file_name,d1p,d1v,d2p,d2v\nfan/train/{},speed,6,noise,1\nfan/train/{},speed,8,noise,2\n",
        names[0], names[1]
    )
    .into_bytes();
    let csv = machine.join("attributes_00.csv");
    let mut mutator = Mutator(0xa77);
    for case in 0..150 {
        write(&csv, &mutator.mutate(&valid, &[]));
        let dir = machine.clone();
        let _ = run_case(&format!("attribute csv case {case}"), move || {
            let mut problems = Vec::new();
            read_machine(&dir, &mut problems).map(|m| (m, problems.len()))
        });
    }
}

// ---- checkpoints ----

fn small_tasnet() -> ConvTasNetConfig {
    ConvTasNetConfig {
        sources: 1,
        enc_kernel: 4,
        enc_feats: 8,
        msk_kernel: 3,
        msk_feats: 4,
        msk_hidden: 8,
        msk_layers: 2,
        msk_stacks: 2,
        mask: MaskActivation::Sigmoid,
    }
}

fn tasnet_metadata(c: &ConvTasNetConfig) -> HashMap<String, String> {
    HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("hark_model".to_string(), "conv_tasnet".to_string()),
        ("num_sources".to_string(), c.sources.to_string()),
        ("enc_kernel_size".to_string(), c.enc_kernel.to_string()),
        ("enc_num_feats".to_string(), c.enc_feats.to_string()),
        ("msk_kernel_size".to_string(), c.msk_kernel.to_string()),
        ("msk_num_feats".to_string(), c.msk_feats.to_string()),
        ("msk_num_hidden_feats".to_string(), c.msk_hidden.to_string()),
        ("msk_num_layers".to_string(), c.msk_layers.to_string()),
        ("msk_num_stacks".to_string(), c.msk_stacks.to_string()),
        ("msk_activate".to_string(), c.mask.name().to_string()),
    ])
}

/// A Conv-TasNet checkpoint as [`ConvTasNet::save`] writes it, built on the CPU; `poison` puts
/// a NaN in the first value of that tensor.
fn tasnet_file(metadata: HashMap<String, String>, poison: Option<&str>) -> Vec<u8> {
    let dict = torchaudio_state_dict(&small_tasnet());
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = dict
        .into_iter()
        .enumerate()
        .map(|(t, (name, shape))| {
            let n: usize = shape.iter().product();
            let mut values: Vec<f32> = (0..n).map(|i| ((i + t) % 7) as f32 * 0.01).collect();
            if poison == Some(name.as_str()) {
                values[0] = f32::NAN;
            }
            (name, shape, bytemuck::cast_slice(&values).to_vec())
        })
        .collect();
    let views = data.iter().map(|(name, shape, bytes)| {
        (
            name.clone(),
            safetensors::tensor::TensorView::new(
                safetensors::tensor::Dtype::F32,
                shape.clone(),
                bytes,
            )
            .unwrap(),
        )
    });
    safetensors::tensor::serialize(views, Some(metadata)).unwrap()
}

/// Values that break a size in a checkpoint's metadata.
const HOSTILE_SIZES: [&str; 12] = [
    "0",
    "-1",
    "2",
    "4",
    "999999999",
    "1000000000",
    "1000000",
    "18446744073709551616",
    "nan",
    "",
    "3.5",
    "1e9",
];

#[test]
fn conv_tasnet_checkpoints_with_hostile_metadata_or_bytes_are_refused() {
    let ctx = test_context();
    let dir = tempfile::tempdir().unwrap();
    let config = small_tasnet();
    let valid = tasnet_file(tasnet_metadata(&config), None);
    let path = dir.path().join("valid.safetensors");
    write(&path, &valid);
    assert_eq!(
        ConvTasNet::read_config(&path, &StateDictHints::default())
            .unwrap()
            .0,
        config
    );
    let mut gpu_loads = 0;
    let mut load = |case: String, path: PathBuf, read_ok: bool| {
        let p = path.clone();
        let read = run_case(&format!("{case} (read_config)"), move || {
            ConvTasNet::read_config(&p, &StateDictHints::default())
        });
        assert!(
            !(read_ok && read.is_err()),
            "{case}: {:?}",
            read.as_ref().err()
        );
        // Loading allocates the model: on the GPU, for every case that the configuration
        // check passed, and a bounded number of the others (they must fail before allocating).
        if let Some(ctx) = ctx.clone() {
            if read.is_ok() || gpu_loads < 40 {
                gpu_loads += 1;
                let _ = run_case(&format!("{case} (load_file)"), move || {
                    ConvTasNet::load_file(&ctx, &path, &StateDictHints::default()).map(|_| ())
                });
            }
        }
        read
    };

    // The metadata sizes of the crashes and hangs, and others like them.
    for key in [
        "num_sources",
        "enc_kernel_size",
        "enc_num_feats",
        "msk_kernel_size",
        "msk_num_feats",
        "msk_num_hidden_feats",
        "msk_num_layers",
        "msk_num_stacks",
    ] {
        for value in HOSTILE_SIZES {
            let mut metadata = tasnet_metadata(&config);
            metadata.insert(key.to_string(), value.to_string());
            let path = dir.path().join(format!("{key}-{value}.safetensors"));
            write(&path, &tasnet_file(metadata, None));
            let read = load(format!("conv-tasnet {key}={value}"), path, false);
            if value.parse::<usize>().ok() != Some(config_value(&config, key)) {
                let err = read
                    .err()
                    .unwrap_or_else(|| panic!("{key}={value} was read"));
                assert!(err.to_string().contains(".safetensors"), "{err}");
            }
        }
    }
    // ConvTasNet::load with a configuration the file cannot back fails before allocating.
    if let Some(ctx) = ctx.clone() {
        let huge = ConvTasNetConfig {
            enc_kernel: 999_999_999,
            ..config
        };
        assert!(ConvTasNet::load(&ctx, &path, huge).is_err());
        let many = ConvTasNetConfig {
            msk_stacks: 1_000_000,
            ..config
        };
        assert!(ConvTasNet::load(&ctx, &path, many).is_err());
        // A NaN weight is refused naming the file and the tensor.
        let poisoned = dir.path().join("nan.safetensors");
        let tensor = "mask_generator.conv_layers.1.conv_layers.3.weight";
        write(
            &poisoned,
            &tasnet_file(tasnet_metadata(&config), Some(tensor)),
        );
        let err = ConvTasNet::load_file(&ctx, &poisoned, &StateDictHints::default())
            .err()
            .expect("a NaN weight was loaded")
            .to_string();
        assert!(
            err.contains("nan.safetensors") && err.contains(tensor),
            "{err}"
        );
    }

    // Random byte mutations of the whole file.
    let mut mutator = Mutator(0xc7a);
    for case in 0..150 {
        let bytes = mutator.mutate(&valid, &[(0, 8)]);
        let path = dir.path().join(format!("case{case}.safetensors"));
        write(&path, &bytes);
        let _ = load(format!("conv-tasnet case {case}"), path, false);
    }
}

fn config_value(c: &ConvTasNetConfig, key: &str) -> usize {
    match key {
        "num_sources" => c.sources,
        "enc_kernel_size" => c.enc_kernel,
        "enc_num_feats" => c.enc_feats,
        "msk_kernel_size" => c.msk_kernel,
        "msk_num_feats" => c.msk_feats,
        "msk_num_hidden_feats" => c.msk_hidden,
        "msk_num_layers" => c.msk_layers,
        _ => c.msk_stacks,
    }
}

/// Rewrites metadata entry `key` of a safetensors file to `value` (the header is JSON whose
/// metadata values are strings).
fn with_metadata(valid: &[u8], key: &str, value: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&valid[8..8 + n]).unwrap();
    let field = format!("\"{key}\":\"");
    let start = header.find(&field).unwrap() + field.len();
    let end = start + header[start..].find('"').unwrap();
    let escaped = value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"");
    let mut text = format!("{}{escaped}{}", &header[..start], &header[end..]).into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&valid[8 + n..]);
    out
}

#[test]
fn embedding_checkpoints_with_hostile_metadata_or_bytes_are_refused() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddingNetConfig {
        samples: hark::models::embedding::network::min_samples(),
        branches: Branches::Spectrogram,
        temporal_norm: true,
        fft_path: FftPath::Global,
    };
    let classes = vec!["a".to_string(), "b".to_string()];
    let model = EmbeddingModel::new(&ctx, config, classes, 2, 1).unwrap();
    let path = dir.path().join("valid.safetensors");
    model.save(&ctx, &path).unwrap();
    let valid = std::fs::read(&path).unwrap();
    EmbeddingModel::load(&ctx, &path, FftPath::Global).unwrap();

    for key in ["samples", "sub_clusters", "classes", "branches"] {
        for value in HOSTILE_SIZES.iter().chain(&["a\nb\nc", "spectrum"]) {
            let path = dir.path().join(format!("{key}.safetensors"));
            write(&path, &with_metadata(&valid, key, value));
            let ctx = ctx.clone();
            let _ = run_case(&format!("embedding {key}={value:?}"), move || {
                EmbeddingModel::load(&ctx, &path, FftPath::Global).map(|_| ())
            });
        }
    }
    let mut mutator = Mutator(0xeb0);
    for case in 0..40 {
        let path = dir.path().join(format!("case{case}.safetensors"));
        write(&path, &mutator.mutate(&valid, &[(0, 8)]));
        let ctx = ctx.clone();
        let _ = run_case(&format!("embedding case {case}"), move || {
            EmbeddingModel::load(&ctx, &path, FftPath::Global).map(|_| ())
        });
    }
}
