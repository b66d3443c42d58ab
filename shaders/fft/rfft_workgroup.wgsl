// Batched real-input FFT of a power-of-two size n in workgroup memory, fused with the STFT's
// framing, padding and periodic Hann window on the way in and with the one-sided post-processing
// (complex / magnitude / power) on the way out: one workgroup per frame, one dispatch for every
// frame of every clip, one trip through global memory. The whole-clip rfft is the case
// frames = 1, hop = n, no padding, no window.
//
// The n real samples are packed as L = n / 2 complex points (the real-input trick, see
// rfft_post.wgsl) and transformed by Stockham stages of radix 4 (half the passes and barriers of
// radix 2; one radix-2 stage finishes odd powers of two). A stage reads every input of its
// butterflies into registers, waits at a barrier, then overwrites the one workgroup buffer, so
// L complex f32 (16 KiB at n = 4096, the WebGPU minimum) suffice instead of two ping-pong buffers.
// CPU twins: src/cpu/stft/stft_frame.rs (loads), src/cpu/fft/fft_stage.rs (the same Stockham
// stages), src/cpu/fft/rfft_post.rs (post-processing).

// Keep in sync with RfftWorkgroupParams in src/kernels/fft/rfft_workgroup.rs.
struct Params {
    // Samples per clip.
    len: u32,
    n_fft: u32,
    hop: u32,
    frames: u32,
    rows: u32,
    // Samples of padding before the clip (n_fft / 2 when centred, else 0).
    pad: u32,
    // 0 zeros, 1 reflect.
    reflect: u32,
    // 1: periodic Hann window; 0: none.
    hann: u32,
    // 0 complex (re, im interleaved), 1 magnitude, 2 power.
    kind: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> signal: array<f32>;
// twiddles[i] = exp(-2 pi i i / n_fft), i < n_fft, from the host in f64.
@group(0) @binding(2) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Complex points per frame (n_fft / 2).
override L: u32 = 512u;
// Threads: min(L / 4, 256) (at least 1), so a radix-4 stage gives every thread at least one
// butterfly and at most MAX_REGS / 4 of them for L <= 4096.
override WG: u32 = 128u;
const MAX_REGS: u32 = 16u;

var<workgroup> buf: array<vec2<f32>, L>;

#import common/cmul.wgsl

#import common/frame_sample.wgsl

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    // Uniform across the workgroup, so the early return keeps the barriers below in uniform
    // control flow.
    let frame_id = wid.y * groups.x + wid.x;
    if frame_id >= params.rows * params.frames {
        return;
    }
    let row = frame_id / params.frames;
    let frame = frame_id % params.frames;

    for (var m = tid; m < L; m += WG) {
        buf[m] = vec2<f32>(frame_sample(row, frame, 2u * m), frame_sample(row, frame, 2u * m + 1u));
    }
    // The loads are visible to every thread before the first stage reads them.
    workgroupBarrier();

    var regs: array<vec2<f32>, MAX_REGS>;
    for (var stride = 1u; stride < L; ) {
        let radix = select(2u, 4u, L / stride >= 4u);
        let quarter = L / radix;
        // Table index per unit of k * r: the L-point twiddle exp(-2 pi i i / L) is twiddles[2i].
        let step = 2u * (L / (stride * radix));
        var c = 0u;
        for (var j = tid; j < quarter; j += WG) {
            let k = j % stride;
            var v: array<vec2<f32>, 4>;
            for (var r = 0u; r < radix; r++) {
                v[r] = cmul(buf[j + r * quarter], twiddles[k * r * step]);
            }
            if radix == 4u {
                let a = v[0] + v[2];
                let b = v[0] - v[2];
                let cc = v[1] + v[3];
                // -i (v1 - v3): the forward radix-4 rotation.
                let dd = v[1] - v[3];
                let d = vec2<f32>(dd.y, -dd.x);
                regs[c] = a + cc;
                regs[c + 1u] = b + d;
                regs[c + 2u] = a - cc;
                regs[c + 3u] = b - d;
            } else {
                regs[c] = v[0] + v[1];
                regs[c + 1u] = v[0] - v[1];
            }
            c += radix;
        }
        // Every thread holds its butterflies' inputs: only now may outputs overwrite them.
        workgroupBarrier();
        c = 0u;
        for (var j = tid; j < quarter; j += WG) {
            let k = j % stride;
            let o = (j / stride) * stride * radix + k;
            for (var q = 0u; q < radix; q++) {
                buf[o + q * stride] = regs[c + q];
            }
            c += radix;
        }
        // The stage's outputs are visible before the next stage (or the post-processing) reads.
        workgroupBarrier();
        stride *= radix;
    }

    let bins = L + 1u;
    for (var k = tid; k < bins; k += WG) {
        let zk = buf[k % L];
        let zm = buf[(L - k) % L];
        let zc = vec2<f32>(zm.x, -zm.y);
        let e = 0.5 * (zk + zc);
        let d = 0.5 * (zk - zc);
        let x = e + cmul(twiddles[k], vec2<f32>(d.y, -d.x));
        let o = frame_id * bins + k;
        switch params.kind {
            case 0u: {
                out[2u * o] = x.x;
                out[2u * o + 1u] = x.y;
            }
            case 1u: {
                out[o] = length(x);
            }
            default: {
                out[o] = dot(x, x);
            }
        }
    }
}
