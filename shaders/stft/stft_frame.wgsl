// Cuts a batch of clips into frames (hop, zero / reflect / no padding), applies the periodic Hann
// window and writes each frame as complex FFT input: packed pairs (x[2m], x[2m+1]) for even
// n_fft (the real-input trick of rfft_post.wgsl), or (x[t], 0) for odd n_fft. One dispatch covers
// every frame of every clip. With frames = 1, hop = n_fft, no padding and no window it is the
// input stage of the whole-clip rfft.
// CPU twin: src/cpu/stft/stft_frame.rs.

// Keep in sync with StftFrameParams in src/kernels/stft/stft.rs.
struct Params {
    // Samples per clip.
    len: u32,
    n_fft: u32,
    hop: u32,
    frames: u32,
    // Clips.
    rows: u32,
    // Samples of padding before the clip (n_fft / 2 when centred, else 0).
    pad: u32,
    // 0 zeros, 1 reflect (numpy/librosa 'reflect': the edge sample is not repeated).
    reflect: u32,
    // 1: periodic Hann window; 0: none.
    hann: u32,
    // 1: write n_fft / 2 packed pairs per frame; 0: n_fft points with imaginary part 0.
    packed: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> signal: array<f32>;
// twiddles[t] = exp(-2 pi i t / n_fft): the window is 0.5 - 0.5 cos(2 pi t / n_fft) from its real
// part, so it is exact to f32 rounding like scipy's get_window('hann', n_fft, fftbins=True).
@group(0) @binding(2) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;

override WG: u32 = 256u;

#import common/frame_sample.wgsl

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = (wid.y * groups.x + wid.x) * WG + lid.x;
    let points = select(params.n_fft, params.n_fft / 2u, params.packed == 1u);
    if id >= params.rows * params.frames * points {
        return;
    }
    let m = id % points;
    let frame_id = id / points;
    let row = frame_id / params.frames;
    let frame = frame_id % params.frames;
    if params.packed == 1u {
        dst[id] = vec2<f32>(frame_sample(row, frame, 2u * m), frame_sample(row, frame, 2u * m + 1u));
    } else {
        dst[id] = vec2<f32>(frame_sample(row, frame, m), 0.0);
    }
}
