//! Conv-TasNet state dicts as torchaudio writes them: the exact names and shapes of
//! `ConvTasNet(...).state_dict()` for a configuration, and the configuration read back from the
//! shapes of a plain state dict (`safetensors.torch.save_file(model.state_dict(), path)` carries
//! none of hark's metadata).
//!
//! The shapes tell N, L, B, H, P, the number of blocks X*R and the number of sources. They do
//! not tell X from R: the depthwise convs' dilation `2^(i mod X)` is a constructor argument,
//! not a tensor, so 24 blocks are 8 x 3 or 12 x 2 or 24 x 1 alike. Without a hint hark takes
//! torchaudio's default of X = 8 blocks per stack (`msk_num_layers=8`, the paper's best model)
//! and refuses block counts that 8 does not divide; `--layers` / `--stacks` say otherwise. The
//! mask activation is no tensor either: torchaudio's default, sigmoid, unless told.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::config::{ConvTasNetConfig, MaskActivation};
use crate::error::{HarkError, Result};

/// torchaudio's default `msk_num_layers` (X), assumed when a plain state dict is loaded without
/// a hint.
pub const TORCHAUDIO_LAYERS_PER_STACK: usize = 8;

/// What a plain state dict's tensors cannot tell, when the user knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateDictHints {
    /// The mask activation (`msk_activate`); torchaudio's default, sigmoid, when `None`.
    pub mask: Option<MaskActivation>,
    /// X, conv blocks per stack (`msk_num_layers`).
    pub layers: Option<usize>,
    /// R, stacks (`msk_num_stacks`).
    pub stacks: Option<usize>,
}

/// A configuration read from a plain state dict, with what was assumed rather than read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InferredConfig {
    pub config: ConvTasNetConfig,
    /// X and R came from torchaudio's default X = 8, not from a hint.
    pub layers_assumed: bool,
    /// The mask came from torchaudio's default (sigmoid), not from a hint.
    pub mask_assumed: bool,
}

/// The state dict of `torchaudio.models.ConvTasNet` built with `config`: every name with its
/// shape, in the order torch lists them (module registration order).
pub fn torchaudio_state_dict(config: &ConvTasNetConfig) -> Vec<(String, Vec<usize>)> {
    let (n, l, p) = (config.enc_feats, config.enc_kernel, config.msk_kernel);
    let (b, h) = (config.msk_feats, config.msk_hidden);
    let blocks = config.msk_layers * config.msk_stacks;
    let mut dict: Vec<(String, Vec<usize>)> = Vec::with_capacity(config.state_dict_len());
    let mut push = |name: String, shape: &[usize]| dict.push((name, shape.to_vec()));
    push("encoder.weight".into(), &[n, 1, l]);
    let mg = "mask_generator";
    push(format!("{mg}.input_norm.weight"), &[n]);
    push(format!("{mg}.input_norm.bias"), &[n]);
    push(format!("{mg}.input_conv.weight"), &[b, n, 1]);
    push(format!("{mg}.input_conv.bias"), &[b]);
    for i in 0..blocks {
        let block = format!("{mg}.conv_layers.{i}");
        // Sequential(Conv1d 1x1, PReLU, GroupNorm, depthwise Conv1d, PReLU, GroupNorm).
        push(format!("{block}.conv_layers.0.weight"), &[h, b, 1]);
        push(format!("{block}.conv_layers.0.bias"), &[h]);
        push(format!("{block}.conv_layers.1.weight"), &[1]);
        push(format!("{block}.conv_layers.2.weight"), &[h]);
        push(format!("{block}.conv_layers.2.bias"), &[h]);
        push(format!("{block}.conv_layers.3.weight"), &[h, 1, p]);
        push(format!("{block}.conv_layers.3.bias"), &[h]);
        push(format!("{block}.conv_layers.4.weight"), &[1]);
        push(format!("{block}.conv_layers.5.weight"), &[h]);
        push(format!("{block}.conv_layers.5.bias"), &[h]);
        // torchaudio builds the very last block with `no_residual=True`.
        if i + 1 < blocks {
            push(format!("{block}.res_out.weight"), &[b, h, 1]);
            push(format!("{block}.res_out.bias"), &[b]);
        }
        push(format!("{block}.skip_out.weight"), &[b, h, 1]);
        push(format!("{block}.skip_out.bias"), &[b]);
    }
    push(format!("{mg}.output_prelu.weight"), &[1]);
    push(
        format!("{mg}.output_conv.weight"),
        &[n * config.sources, b, 1],
    );
    push(format!("{mg}.output_conv.bias"), &[n * config.sources]);
    push("decoder.weight".into(), &[n, 1, l]);
    dict
}

fn tensor_error(path: &Path, tensor: &str, detail: impl Into<String>) -> HarkError {
    HarkError::StateDict {
        path: path.display().to_string(),
        tensor: tensor.to_string(),
        detail: detail.into(),
    }
}

/// The shape of `name`, which must be present and of rank `R`; `layout` names the dimensions
/// for the error.
fn dims<const R: usize>(
    shapes: &BTreeMap<String, Vec<usize>>,
    path: &Path,
    name: &str,
    layout: &str,
) -> Result<[usize; R]> {
    let shape = shapes.get(name).ok_or_else(|| {
        tensor_error(
            path,
            name,
            "is missing (a torchaudio ConvTasNet state dict has it)",
        )
    })?;
    <[usize; R]>::try_from(shape.as_slice()).map_err(|_| {
        tensor_error(
            path,
            name,
            format!("has shape {shape:?}, expected {layout}"),
        )
    })
}

/// Fails naming `name` unless `got == want`.
fn agree(path: &Path, name: &str, what: &str, got: usize, want: usize, from: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(tensor_error(
            path,
            name,
            format!("has {what} = {got}, but {from} says {want}"),
        ))
    }
}

/// X and R for `blocks` conv blocks from the hints, or torchaudio's default X = 8.
fn layers_and_stacks(
    blocks: usize,
    hints: &StateDictHints,
    path: &Path,
) -> Result<(usize, usize, bool)> {
    let bad =
        |detail: String| HarkError::invalid("conv_tasnet", format!("{}: {detail}", path.display()));
    match (hints.layers, hints.stacks) {
        (Some(x), Some(r)) if x.checked_mul(r) == Some(blocks) => Ok((x, r, false)),
        (Some(x), Some(r)) => Err(bad(format!(
            "the state dict has {blocks} conv blocks, not layers x stacks = {x} x {r}"
        ))),
        (Some(x), None) if x > 0 && blocks.is_multiple_of(x) => Ok((x, blocks / x, false)),
        (None, Some(r)) if r > 0 && blocks.is_multiple_of(r) => Ok((blocks / r, r, false)),
        (Some(given), None) | (None, Some(given)) => Err(bad(format!(
            "the state dict has {blocks} conv blocks, which {given} does not divide"
        ))),
        (None, None) if blocks.is_multiple_of(TORCHAUDIO_LAYERS_PER_STACK) => Ok((
            TORCHAUDIO_LAYERS_PER_STACK,
            blocks / TORCHAUDIO_LAYERS_PER_STACK,
            true,
        )),
        (None, None) => Err(bad(format!(
            "the state dict has {blocks} conv blocks; the tensors do not tell blocks per stack \
             (X) from stacks (R), and torchaudio's default X = {TORCHAUDIO_LAYERS_PER_STACK} \
             does not divide {blocks}: give --layers X or --stacks R (X * R = {blocks})"
        ))),
    }
}

/// The configuration of a plain torchaudio state dict (`shapes`: every tensor's name and
/// shape), checked against every tensor: the error names the first tensor that is missing,
/// unexpected, or whose shape disagrees with the others. `path` only labels errors.
pub fn infer_config(
    shapes: &BTreeMap<String, Vec<usize>>,
    hints: &StateDictHints,
    path: &Path,
) -> Result<InferredConfig> {
    let encoder = "encoder.weight";
    let [n, one, l] = dims(shapes, path, encoder, "[N, 1, L]")?;
    agree(
        path,
        encoder,
        "input channels",
        one,
        1,
        "torchaudio's mono encoder",
    )?;
    let input_conv = "mask_generator.input_conv.weight";
    let [b, n_in, k] = dims(shapes, path, input_conv, "[B, N, 1]")?;
    agree(
        path,
        input_conv,
        "input channels",
        n_in,
        n,
        "encoder.weight (N)",
    )?;
    agree(path, input_conv, "kernel", k, 1, "torchaudio's 1x1 conv")?;
    let first = "mask_generator.conv_layers.0.conv_layers.0.weight";
    let [h, b_in, k] = dims(shapes, path, first, "[H, B, 1]")?;
    agree(
        path,
        first,
        "input channels",
        b_in,
        b,
        &format!("{input_conv} (B)"),
    )?;
    agree(path, first, "kernel", k, 1, "torchaudio's 1x1 conv")?;
    let depthwise = "mask_generator.conv_layers.0.conv_layers.3.weight";
    let [h_dw, one, p] = dims(shapes, path, depthwise, "[H, 1, P]")?;
    agree(
        path,
        depthwise,
        "channels",
        h_dw,
        h,
        &format!("{first} (H)"),
    )?;
    agree(
        path,
        depthwise,
        "channels per group",
        one,
        1,
        "a depthwise conv",
    )?;
    let output_conv = "mask_generator.output_conv.weight";
    let [rows, b_out, k] = dims(shapes, path, output_conv, "[N * sources, B, 1]")?;
    agree(
        path,
        output_conv,
        "input channels",
        b_out,
        b,
        &format!("{input_conv} (B)"),
    )?;
    agree(path, output_conv, "kernel", k, 1, "torchaudio's 1x1 conv")?;
    if rows == 0 || !rows.is_multiple_of(n) {
        return Err(tensor_error(
            path,
            output_conv,
            format!(
                "has {rows} output channels, which is not N x sources for N = {n} \
                 (encoder.weight)"
            ),
        ));
    }
    // Blocks: the distinct indices under `mask_generator.conv_layers.`; a gap or a stray index
    // shows up below as a missing or unexpected tensor.
    let blocks = shapes
        .keys()
        .filter_map(|name| {
            let rest = name.strip_prefix("mask_generator.conv_layers.")?;
            rest.split('.').next()?.parse::<usize>().ok()
        })
        .collect::<BTreeSet<_>>()
        .len();
    let (layers, stacks, layers_assumed) = layers_and_stacks(blocks, hints, path)?;
    let config = ConvTasNetConfig {
        sources: rows / n,
        enc_kernel: l,
        enc_feats: n,
        msk_kernel: p,
        msk_feats: b,
        msk_hidden: h,
        msk_layers: layers,
        msk_stacks: stacks,
        mask: hints.mask.unwrap_or(MaskActivation::Sigmoid),
    };
    config
        .validate()
        .map_err(|e| HarkError::invalid("conv_tasnet", format!("{}: {e}", path.display())))?;
    check_state_dict(shapes, &config, path)?;
    Ok(InferredConfig {
        config,
        layers_assumed,
        mask_assumed: hints.mask.is_none(),
    })
}

/// Checks that `shapes` holds exactly torchaudio's state dict for `config` (what
/// `load_state_dict(strict=True)` asks); the error names the first tensor that is missing, of
/// another shape, or not in it.
pub fn check_state_dict(
    shapes: &BTreeMap<String, Vec<usize>>,
    config: &ConvTasNetConfig,
    path: &Path,
) -> Result<()> {
    // A configuration with more blocks than the file has tensors (say, from edited metadata)
    // cannot fit: name its first absent block without listing them all.
    let blocks = config.msk_layers.saturating_mul(config.msk_stacks);
    if blocks > shapes.len() {
        let absent = (0..)
            .map(|i| format!("mask_generator.conv_layers.{i}.skip_out.weight"))
            .find(|name| !shapes.contains_key(name))
            .unwrap_or_default();
        return Err(tensor_error(
            path,
            &absent,
            format!("is missing ({config} has {blocks} conv blocks)"),
        ));
    }
    let expected = torchaudio_state_dict(config);
    for (name, shape) in &expected {
        match shapes.get(name) {
            None => {
                return Err(tensor_error(
                    path,
                    name,
                    format!("is missing (expected {shape:?} for {config})"),
                ))
            }
            Some(got) if got != shape => {
                return Err(tensor_error(
                    path,
                    name,
                    format!("has shape {got:?}; the configuration ({config}) gives {shape:?}"),
                ))
            }
            Some(_) => {}
        }
    }
    let known: BTreeSet<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    if let Some(extra) = shapes.keys().find(|name| !known.contains(name.as_str())) {
        let last = blocks.saturating_sub(1);
        let why = if extra.starts_with(&format!("mask_generator.conv_layers.{last}.res_out.")) {
            " (torchaudio's last conv block has no res_out)"
        } else {
            ""
        };
        return Err(tensor_error(
            path,
            extra,
            format!("is not in torchaudio's ConvTasNet state dict for {config}{why}"),
        ));
    }
    Ok(())
}
