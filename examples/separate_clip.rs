//! Loads a Conv-TasNet from safetensors (torchaudio's state-dict names) and separates one WAV
//! through the library API.
//!
//! Run: `cargo run --release --example separate_clip -- <model.safetensors> <in.wav> <out.wav>`.
//! A checkpoint written by hark carries its configuration; a torchaudio state dict saved with
//! `safetensors.torch.save_file(model.state_dict(), ...)` loads too, its configuration inferred
//! from the tensors with torchaudio's defaults (X = 8 blocks per stack, sigmoid mask) for what
//! they cannot tell (`ConvTasNet::load_file` takes hints; `hark separate --layers --mask`).
//! Without arguments the example saves a small randomly initialised model and a synthetic
//! clip to a temporary folder first, so it runs anywhere (the output is then noise-shaped,
//! not separated: train a model with `hark separation` for a useful one).

use std::path::PathBuf;

use hark::audio::synth::{generate, MachineType, SynthConfig};
use hark::audio::wav::{read_wav, wav_files, write_wav_f32, WavOptions};
use hark::models::conv_tasnet::{ConvTasNet, ConvTasNetConfig};
use hark::models::separation::separate;
use hark::Context;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_path, input, output) = match args.as_slice() {
        [m, i, o] => (PathBuf::from(m), PathBuf::from(i), PathBuf::from(o)),
        [] => {
            let dir = std::env::temp_dir().join(format!("hark-separate-{}", std::process::id()));
            let config = ConvTasNetConfig {
                enc_feats: 64,
                msk_feats: 32,
                msk_hidden: 64,
                msk_layers: 4,
                msk_stacks: 2,
                ..ConvTasNetConfig::default()
            };
            let model_path = dir.join("conv_tasnet.safetensors");
            ConvTasNet::new(&ctx, config, 0)?.save(&model_path)?;
            generate(&SynthConfig {
                out: dir.join("data"),
                machines: vec![MachineType::Valve],
                sections: 1,
                train_clips: 1,
                test_clips: 4,
                clip_seconds: 2.0,
                stems: false,
                ..SynthConfig::default()
            })?;
            let input = wav_files(&dir.join("data"))?
                .into_iter()
                .next()
                .ok_or("no synthetic clip")?;
            (model_path, input, dir.join("separated.wav"))
        }
        _ => return Err("usage: separate_clip <model.safetensors> <in.wav> <out.wav>".into()),
    };
    let mut model = ConvTasNet::load_saved(&ctx, &model_path)?;
    let wave = read_wav(
        &input,
        &WavOptions {
            sample_rate: 16_000,
            downmix: false,
        },
    )?;
    // Says which length would fit instead of failing inside the GPU driver.
    model.check_fits(1, wave.len())?;
    let started = std::time::Instant::now();
    let separated = separate(&ctx, &mut model, std::slice::from_ref(&wave))?;
    let seconds = wave.len() as f64 / 16_000.0;
    write_wav_f32(&output, &separated[0], 16_000)?;
    println!(
        "{} ({seconds:.1} s) -> {} in {:.2} s on {} ({} state-dict tensors)",
        input.display(),
        output.display(),
        started.elapsed().as_secs_f64(),
        ctx.adapter_info().name,
        model.state_dict().len()
    );
    Ok(())
}
