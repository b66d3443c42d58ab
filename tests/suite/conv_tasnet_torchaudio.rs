//! Conv-TasNet state dicts as torchaudio writes them: a plain safetensors state dict (no hark
//! metadata) loads with its configuration inferred from the tensors, separates exactly as the
//! same weights loaded from hark's own checkpoint, and hark's checkpoints hold exactly
//! torchaudio's names and shapes (what `load_state_dict(strict=True)` asks). torchaudio's module
//! tree is written out below as data from `torchaudio/models/conv_tasnet.py`; no Python runs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hark::audio::wav::{read_wav, write_wav_f32, WavOptions};
use hark::models::conv_tasnet::{
    infer_config, torchaudio_state_dict, ConfigOrigin, ConvTasNet, ConvTasNetConfig,
    MaskActivation, StateDictHints,
};
use hark::nn::{Layer, Mode};
use hark::testing::{test_context, SeededRng};
use hark::{HarkError, Recorder, Tensor};
use safetensors::tensor::{Dtype, TensorView};

/// A state dict's names and shapes.
type Shapes = BTreeMap<String, Vec<usize>>;

/// An edit that spoils a state dict.
type Edit = dyn Fn(&mut Shapes);

/// A safetensors file's tensors: name -> (element type, shape).
type Header = BTreeMap<String, (Dtype, Vec<usize>)>;

/// A dimension of a torchaudio ConvTasNet parameter, in its docstring's symbols (`NS` is
/// `input_dim * num_sources`, the output conv's channels).
#[derive(Clone, Copy)]
enum D {
    N,
    L,
    B,
    H,
    P,
    NS,
    One,
}

/// `ConvTasNet.__init__` up to the conv blocks: encoder (Conv1d 1->N, kernel L, no bias), then
/// the MaskGenerator's GroupNorm(1, N) and Conv1d(N, B, 1).
const HEAD: &[(&str, &[D])] = &[
    ("encoder.weight", &[D::N, D::One, D::L]),
    ("mask_generator.input_norm.weight", &[D::N]),
    ("mask_generator.input_norm.bias", &[D::N]),
    ("mask_generator.input_conv.weight", &[D::B, D::N, D::One]),
    ("mask_generator.input_conv.bias", &[D::B]),
];

/// `ConvBlock.conv_layers = Sequential(Conv1d(B, H, 1), PReLU(), GroupNorm(1, H),
/// Conv1d(H, H, P, groups=H), PReLU(), GroupNorm(1, H))`.
const BLOCK: &[(&str, &[D])] = &[
    ("conv_layers.0.weight", &[D::H, D::B, D::One]),
    ("conv_layers.0.bias", &[D::H]),
    ("conv_layers.1.weight", &[D::One]),
    ("conv_layers.2.weight", &[D::H]),
    ("conv_layers.2.bias", &[D::H]),
    ("conv_layers.3.weight", &[D::H, D::One, D::P]),
    ("conv_layers.3.bias", &[D::H]),
    ("conv_layers.4.weight", &[D::One]),
    ("conv_layers.5.weight", &[D::H]),
    ("conv_layers.5.bias", &[D::H]),
];

/// `res_out = None if no_residual else Conv1d(H, B, 1)`.
const RES_OUT: &[(&str, &[D])] = &[
    ("res_out.weight", &[D::B, D::H, D::One]),
    ("res_out.bias", &[D::B]),
];

/// `skip_out = Conv1d(H, B, 1)`.
const SKIP_OUT: &[(&str, &[D])] = &[
    ("skip_out.weight", &[D::B, D::H, D::One]),
    ("skip_out.bias", &[D::B]),
];

/// MaskGenerator's PReLU() and Conv1d(B, N * num_sources, 1), then the decoder
/// (ConvTranspose1d N->1, kernel L, no bias: weight `[in, out, kernel]`).
const TAIL: &[(&str, &[D])] = &[
    ("mask_generator.output_prelu.weight", &[D::One]),
    ("mask_generator.output_conv.weight", &[D::NS, D::B, D::One]),
    ("mask_generator.output_conv.bias", &[D::NS]),
    ("decoder.weight", &[D::N, D::One, D::L]),
];

/// torchaudio's state dict for `c`, built as its constructor builds the module tree: the
/// blocks by `for s in range(num_stacks): for l in range(num_layers)`, the one with
/// `l == num_layers - 1 and s == num_stacks - 1` without `res_out`.
fn torchaudio_list(c: &ConvTasNetConfig) -> Vec<(String, Vec<usize>)> {
    let size = |d: D| match d {
        D::N => c.enc_feats,
        D::L => c.enc_kernel,
        D::B => c.msk_feats,
        D::H => c.msk_hidden,
        D::P => c.msk_kernel,
        D::NS => c.enc_feats * c.sources,
        D::One => 1,
    };
    let entry = |prefix: &str, (name, dims): &(&str, &[D])| {
        (
            format!("{prefix}{name}"),
            dims.iter().map(|&d| size(d)).collect::<Vec<_>>(),
        )
    };
    let mut list: Vec<_> = HEAD.iter().map(|e| entry("", e)).collect();
    let mut index = 0;
    for s in 0..c.msk_stacks {
        for l in 0..c.msk_layers {
            let prefix = format!("mask_generator.conv_layers.{index}.");
            let no_residual = l == c.msk_layers - 1 && s == c.msk_stacks - 1;
            list.extend(BLOCK.iter().map(|e| entry(&prefix, e)));
            if !no_residual {
                list.extend(RES_OUT.iter().map(|e| entry(&prefix, e)));
            }
            list.extend(SKIP_OUT.iter().map(|e| entry(&prefix, e)));
            index += 1;
        }
    }
    list.extend(TAIL.iter().map(|e| entry("", e)));
    list
}

/// Awkward on purpose: two sources, H != N, L = 6 (stride 3), X = 3 (so torchaudio's default
/// X = 8 cannot be assumed), P = 3 as torchaudio requires.
fn small() -> ConvTasNetConfig {
    ConvTasNetConfig {
        sources: 2,
        enc_kernel: 6,
        enc_feats: 16,
        msk_kernel: 3,
        msk_feats: 8,
        msk_hidden: 12,
        msk_layers: 3,
        msk_stacks: 2,
        mask: MaskActivation::Sigmoid,
    }
}

/// torchaudio's own defaults: `ConvTasNet()` has two sources.
fn torchaudio_default() -> ConvTasNetConfig {
    ConvTasNetConfig {
        sources: 2,
        ..ConvTasNetConfig::default()
    }
}

fn shapes(list: &[(String, Vec<usize>)]) -> Shapes {
    list.iter().cloned().collect()
}

/// Random values for every tensor of `list` (as a PyTorch user's trained weights would be).
fn random_values(list: &[(String, Vec<usize>)], seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = SeededRng::new(seed);
    list.iter()
        .map(|(name, shape)| {
            let n = shape.iter().product();
            // PReLU slopes and gLN scales in a plausible range; everything else around zero.
            let values = if name.ends_with("conv_layers.2.weight")
                || name.ends_with("conv_layers.5.weight")
                || name.ends_with("input_norm.weight")
            {
                rng.vec(n, 0.5, 1.5)
            } else {
                rng.vec(n, -0.5, 0.5)
            };
            (name.clone(), shape.clone(), values)
        })
        .collect()
}

/// Writes float32 tensors as `safetensors.torch.save_file(state_dict, path)` does (no hark
/// metadata unless given).
fn write_state_dict(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: Option<HashMap<String, String>>,
) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, shape, _), b)| {
        (
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
        )
    });
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// Every tensor's name and shape in a safetensors file, with its metadata.
fn read_header(path: &Path) -> (Header, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = header
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, (info.dtype, info.shape.clone())))
        .collect();
    (tensors, header.metadata().clone().unwrap_or_default())
}

/// The tensor a state-dict error names.
fn named_tensor(err: HarkError) -> String {
    match err {
        HarkError::StateDict { tensor, .. } => tensor,
        other => panic!("expected a state-dict error, got {other}"),
    }
}

#[test]
fn the_library_lists_torchaudios_names_and_shapes() {
    for config in [small(), torchaudio_default(), ConvTasNetConfig::default()] {
        let expected = torchaudio_list(&config);
        assert_eq!(expected.len(), config.state_dict_len(), "{config}");
        assert_eq!(torchaudio_state_dict(&config), expected, "{config}");
    }
    let default = shapes(&torchaudio_list(&torchaudio_default()));
    assert_eq!(default.len(), 343);
    // Spot checks written out as torch prints them for `ConvTasNet()`.
    for (name, shape) in [
        ("encoder.weight", &[512, 1, 16][..]),
        ("decoder.weight", &[512, 1, 16]),
        ("mask_generator.input_conv.weight", &[128, 512, 1]),
        (
            "mask_generator.conv_layers.7.conv_layers.3.weight",
            &[512, 1, 3],
        ),
        (
            "mask_generator.conv_layers.22.res_out.weight",
            &[128, 512, 1],
        ),
        (
            "mask_generator.conv_layers.23.skip_out.weight",
            &[128, 512, 1],
        ),
        ("mask_generator.output_conv.weight", &[1024, 128, 1]),
        ("mask_generator.output_prelu.weight", &[1]),
    ] {
        assert_eq!(default.get(name).map(Vec::as_slice), Some(shape), "{name}");
    }
    assert!(!default.contains_key("mask_generator.conv_layers.23.res_out.weight"));
}

#[test]
fn infers_torchaudios_default_configuration_from_the_shapes() {
    let dict = shapes(&torchaudio_list(&torchaudio_default()));
    let path = Path::new("convtasnet.safetensors");
    let inferred = infer_config(&dict, &StateDictHints::default(), path).unwrap();
    assert_eq!(inferred.config, torchaudio_default());
    assert!(inferred.layers_assumed && inferred.mask_assumed);
    // The hints supply what the shapes cannot tell; a consistent X * R split is taken as given.
    let hints = StateDictHints {
        mask: Some(MaskActivation::Relu),
        layers: Some(6),
        stacks: None,
    };
    let inferred = infer_config(&dict, &hints, path).unwrap();
    assert_eq!(
        inferred.config,
        ConvTasNetConfig {
            msk_layers: 6,
            msk_stacks: 4,
            mask: MaskActivation::Relu,
            ..torchaudio_default()
        }
    );
    assert!(!inferred.layers_assumed && !inferred.mask_assumed);
    let hints = StateDictHints {
        stacks: Some(2),
        ..StateDictHints::default()
    };
    let inferred = infer_config(&dict, &hints, path).unwrap();
    assert_eq!(
        (inferred.config.msk_layers, inferred.config.msk_stacks),
        (12, 2)
    );
}

#[test]
fn a_plain_state_dict_separates_as_the_same_weights_from_a_hark_checkpoint() {
    let Some(ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = small();
    let tensors = random_values(&torchaudio_list(&config), 19);
    let plain = dir.path().join("plain.safetensors");
    write_state_dict(&plain, &tensors, None);

    let hints = StateDictHints {
        layers: Some(3),
        ..StateDictHints::default()
    };
    let (mut from_plain, origin) = ConvTasNet::load_file(&ctx, &plain, &hints).unwrap();
    assert_eq!(*from_plain.config(), config);
    assert_eq!(
        origin,
        ConfigOrigin::Inferred {
            layers_assumed: false,
            mask_assumed: true
        }
    );
    // Every value arrived under its name.
    let values: HashMap<_, _> = tensors.iter().map(|(n, _, v)| (n.clone(), v)).collect();
    for (name, tensor) in from_plain.state_dict() {
        assert_eq!(&tensor.to_vec(&ctx).unwrap(), values[&name], "{name}");
    }

    // hark's checkpoint of the same model: torchaudio's names and shapes exactly, float32,
    // nothing else (strict=True); the metadata is hark's, ignored by torch.
    let saved = dir.path().join("hark.safetensors");
    from_plain.save(&saved).unwrap();
    let (header, metadata) = read_header(&saved);
    let expected = shapes(&torchaudio_list(&config));
    let written: BTreeMap<_, _> = header
        .iter()
        .map(|(name, (dtype, shape))| {
            assert_eq!(*dtype, Dtype::F32, "{name}");
            (name.clone(), shape.clone())
        })
        .collect();
    assert_eq!(written, expected);
    assert_eq!(
        metadata.get("msk_num_layers").map(String::as_str),
        Some("3")
    );

    let (mut from_hark, origin) =
        ConvTasNet::load_file(&ctx, &saved, &StateDictHints::default()).unwrap();
    assert_eq!(origin, ConfigOrigin::Metadata);
    assert_eq!(*from_hark.config(), config);

    // Same weights, same kernels: the same separation, bit for bit. 1001 samples is not a
    // multiple of the stride (3), so the end padding and crop run too.
    let input = SeededRng::new(5).vec(2 * 1001, -1.0, 1.0);
    let x = Tensor::from_slice(&ctx, &[2, 1, 1001], &input).unwrap();
    let run = |model: &mut ConvTasNet| {
        let mut rec = Recorder::new(&ctx);
        let y = model.forward(&mut rec, &x, Mode::Eval).unwrap();
        rec.submit().unwrap();
        assert_eq!(y.shape(), [2, 2, 1001]);
        y.to_vec(&ctx).unwrap()
    };
    let a = run(&mut from_plain);
    let b = run(&mut from_hark);
    assert!(a.iter().all(|v| v.is_finite()));
    assert_eq!(a, b);

    // --mask relu reads the same tensors into a ReLU-mask model: another output.
    let relu = StateDictHints {
        mask: Some(MaskActivation::Relu),
        ..hints
    };
    let (mut with_relu, _) = ConvTasNet::load_file(&ctx, &plain, &relu).unwrap();
    assert_eq!(with_relu.config().mask, MaskActivation::Relu);
    assert_ne!(run(&mut with_relu), a);
}

#[test]
fn hark_checkpoints_of_the_default_model_hold_torchaudios_names_and_shapes() {
    let Some(ctx) = test_context() else { return };
    let config = torchaudio_default();
    let model = ConvTasNet::new(&ctx, config, 0).unwrap();
    let dict: Vec<(String, Vec<usize>)> = model
        .state_dict()
        .into_iter()
        .map(|(name, t)| (name, t.shape().to_vec()))
        .collect();
    // Same names, same shapes, and torch's registration order.
    assert_eq!(dict, torchaudio_list(&config));
}

#[test]
fn shapes_that_disagree_name_the_tensor() {
    let config = small();
    let good = torchaudio_list(&config);
    let hints = StateDictHints {
        layers: Some(3),
        ..StateDictHints::default()
    };
    let path = Path::new("m.safetensors");
    let infer = |edit: &Edit| {
        let mut dict = shapes(&good);
        edit(&mut dict);
        infer_config(&dict, &hints, path).map(|i| i.config)
    };
    assert_eq!(infer(&|_| {}).unwrap(), config);

    let cases: [(&str, &Edit); 8] = [
        // A depthwise kernel of 5 in one block only.
        ("mask_generator.conv_layers.4.conv_layers.3.weight", &|d| {
            d.insert(
                "mask_generator.conv_layers.4.conv_layers.3.weight".into(),
                vec![12, 1, 5],
            );
        }),
        // A decoder of another N than the encoder.
        ("decoder.weight", &|d| {
            d.insert("decoder.weight".into(), vec![20, 1, 6]);
        }),
        // A missing tensor.
        ("mask_generator.conv_layers.2.skip_out.bias", &|d| {
            d.remove("mask_generator.conv_layers.2.skip_out.bias");
        }),
        // The last block given a res_out, which torchaudio never builds.
        ("mask_generator.conv_layers.5.res_out.weight", &|d| {
            d.insert(
                "mask_generator.conv_layers.5.res_out.weight".into(),
                vec![8, 12, 1],
            );
        }),
        // Sources: output channels that are no multiple of N.
        ("mask_generator.output_conv.weight", &|d| {
            d.insert("mask_generator.output_conv.weight".into(), vec![40, 8, 1]);
        }),
        // Sources: a bias for three sources on a weight for two.
        ("mask_generator.output_conv.bias", &|d| {
            d.insert("mask_generator.output_conv.bias".into(), vec![48]);
        }),
        // The encoder absent: not a ConvTasNet state dict at all.
        ("encoder.weight", &|d| {
            d.remove("encoder.weight");
        }),
        // B disagrees between the input conv and the first block.
        ("mask_generator.conv_layers.0.conv_layers.0.weight", &|d| {
            d.insert(
                "mask_generator.conv_layers.0.conv_layers.0.weight".into(),
                vec![12, 9, 1],
            );
        }),
    ];
    for (tensor, edit) in cases {
        let err = infer(edit).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("m.safetensors"), "{message}");
        assert_eq!(named_tensor(err), tensor, "{message}");
    }
    let message = infer(&|d| {
        d.insert(
            "mask_generator.conv_layers.5.res_out.weight".into(),
            vec![8, 12, 1],
        );
    })
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("last conv block has no res_out"),
        "{message}"
    );
}

#[test]
fn blocks_per_stack_that_cannot_be_told_are_asked_for() {
    // Six blocks: torchaudio's default X = 8 does not divide them.
    let dict = shapes(&torchaudio_list(&small()));
    let path = Path::new("m.safetensors");
    let err = infer_config(&dict, &StateDictHints::default(), path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("6 conv blocks") && err.contains("--layers"),
        "{err}"
    );
    for (layers, stacks) in [(Some(4), None), (None, Some(4)), (Some(2), Some(2))] {
        let hints = StateDictHints {
            layers,
            stacks,
            mask: None,
        };
        let err = infer_config(&dict, &hints, path).unwrap_err().to_string();
        assert!(err.contains("6 conv blocks"), "{err}");
    }
    let hints = StateDictHints {
        layers: Some(3),
        stacks: Some(2),
        mask: None,
    };
    assert_eq!(infer_config(&dict, &hints, path).unwrap().config, small());
}

#[test]
fn files_that_do_not_fit_are_refused_before_any_gpu_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = small();
    let hints = StateDictHints {
        layers: Some(3),
        ..StateDictHints::default()
    };

    // A half-precision tensor: named, with how to save float32.
    let mut tensors = random_values(&torchaudio_list(&config), 3);
    let path = dir.path().join("half.safetensors");
    let halves: Vec<u8> = vec![0; 2 * tensors[0].2.len()];
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, shape, _), b)| {
        let view = if name == "encoder.weight" {
            TensorView::new(Dtype::F16, shape.clone(), &halves)
        } else {
            TensorView::new(Dtype::F32, shape.clone(), b)
        };
        (name.clone(), view.unwrap())
    });
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let err = ConvTasNet::read_config(&path, &hints).unwrap_err();
    assert!(err.to_string().contains("float32"), "{err}");
    assert_eq!(named_tensor(err), "encoder.weight");

    // Not safetensors at all.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"PK\x03\x04 a zip, as torch.save writes").unwrap();
    let err = ConvTasNet::read_config(&junk, &hints)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a safetensors file"), "{err}");

    // hark's metadata is the configuration; an option that contradicts it is refused, one
    // that agrees is fine.
    let metadata = HashMap::from(
        [
            ("hark_model", "conv_tasnet"),
            ("num_sources", "2"),
            ("enc_kernel_size", "6"),
            ("enc_num_feats", "16"),
            ("msk_kernel_size", "3"),
            ("msk_num_feats", "8"),
            ("msk_num_hidden_feats", "12"),
            ("msk_num_layers", "3"),
            ("msk_num_stacks", "2"),
            ("msk_activate", "sigmoid"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let tagged = dir.path().join("tagged.safetensors");
    write_state_dict(&tagged, &tensors, Some(metadata.clone()));
    let (read, origin) = ConvTasNet::read_config(&tagged, &StateDictHints::default()).unwrap();
    assert_eq!((read, origin), (config, ConfigOrigin::Metadata));
    let agreeing = StateDictHints {
        mask: Some(MaskActivation::Sigmoid),
        layers: Some(3),
        stacks: Some(2),
    };
    assert!(ConvTasNet::read_config(&tagged, &agreeing).is_ok());
    for contradicting in [
        StateDictHints {
            mask: Some(MaskActivation::Relu),
            ..StateDictHints::default()
        },
        StateDictHints {
            layers: Some(6),
            stacks: Some(1),
            ..StateDictHints::default()
        },
    ] {
        let err = ConvTasNet::read_config(&tagged, &contradicting)
            .unwrap_err()
            .to_string();
        assert!(err.contains("contradicts"), "{err}");
    }

    // A hark checkpoint is held to torchaudio's list too: a stray tensor is named.
    tensors.push(("optimizer.step".into(), vec![1], vec![0.0]));
    write_state_dict(&tagged, &tensors, Some(metadata));
    let err = ConvTasNet::read_config(&tagged, &StateDictHints::default()).unwrap_err();
    assert_eq!(named_tensor(err), "optimizer.step");
}

#[test]
fn hark_separate_reads_a_plain_state_dict_with_mask_and_layers_options() {
    let Some(_ctx) = test_context() else { return };
    let dir = tempfile::tempdir().unwrap();
    // `hark separate` writes one source per clip.
    let config = ConvTasNetConfig {
        sources: 1,
        ..small()
    };
    let plain = dir.path().join("plain.safetensors");
    write_state_dict(&plain, &random_values(&torchaudio_list(&config), 7), None);
    let clip = dir.path().join("clip.wav");
    write_wav_f32(&clip, &SeededRng::new(8).vec(1600, -0.5, 0.5), 16_000).unwrap();
    let hark = |extra: &[&str], out: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
            .env("HARK_AUTOTUNE", "off")
            .arg("separate")
            .arg("--model")
            .arg(&plain)
            .args(extra)
            .arg(&clip)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    // Six blocks and no --layers: refused, saying what to give.
    let refused = hark(&[], &dir.path().join("none"));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--layers"), "{stderr}");

    let out = dir.path().join("separated");
    let ran = hark(&["--layers", "3", "--mask", "relu"], &out);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{stderr}");
    assert!(stderr.contains("plain state dict"), "{stderr}");
    assert!(stderr.contains("X 3, R 2, relu mask"), "{stderr}");
    let options = WavOptions {
        sample_rate: 16_000,
        downmix: false,
    };
    let separated = read_wav(&out.join("clip.wav"), &options).unwrap();
    assert_eq!(separated.len(), 1600);
}
