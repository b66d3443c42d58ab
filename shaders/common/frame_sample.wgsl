// `frame_sample`: sample t of frame `frame` of clip `row`, with the STFT's padding (zeros or
// reflect) and periodic Hann window applied. The including shader binds `signal` and `twiddles`
// (exp(-2 pi i t / n_fft)) and has `params.len`, `hop`, `pad`, `reflect` and `hann`.
// Imported by stft/stft_frame.wgsl and fft/rfft_workgroup.wgsl (the fused framing).

fn frame_sample(row: u32, frame: u32, t: u32) -> f32 {
    let len = i32(params.len);
    var p = i32(frame * params.hop + t) - i32(params.pad);
    if params.reflect == 1u && (p < 0 || p >= len) {
        // Reflection about the first and last samples, repeated for pads longer than the clip:
        // the signal extended with period 2 (len - 1).
        if len == 1 {
            p = 0;
        } else {
            let period = 2 * (len - 1);
            p = ((p % period) + period) % period;
            if p >= len {
                p = period - p;
            }
        }
    }
    var x = 0.0;
    if p >= 0 && p < len {
        x = signal[row * params.len + u32(p)];
    }
    if params.hann == 1u {
        x *= 0.5 - 0.5 * twiddles[t].x;
    }
    return x;
}
