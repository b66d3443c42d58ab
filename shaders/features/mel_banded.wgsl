// The mel filterbank as the banded product it is: every mel filter is non-zero on one run of
// consecutive bins (a triangle), so
//   out[r, m] = epilogue(sum_{j < len[m]} power[r, start[m] + j] * weights[offset[m] + j])
// with each filter's run of weights packed end to end. A 128-mel filterbank on 513 bins has
// ~1,000 non-zero weights of 65,664, so this does ~1/64 of the dense matmul's multiply-adds and
// reads each power row once per filter run (neighbouring invocations are neighbouring mels of
// one row: their runs overlap, so the reads hit the same cache lines).
// Epilogue (MODE): 0 none, 1 10 log10(max(x, eps)) (dB), 2 ln(max(x, eps)).
// Zero weights outside the runs are skipped, not multiplied: an inf or NaN bin outside a filter's
// run does not reach that filter (the dense product would give NaN there).
// CPU twin: src/cpu/features/mel_banded.rs.

// Keep in sync with MelParams in src/kernels/features/mel.rs.
struct Params {
    rows: u32,
    bins: u32,
    n_mels: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Per mel: (first bin, run length, offset of its first weight in `weights`).
@group(0) @binding(1) var<storage, read> runs: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> power: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override MODE: u32 = 0u;
const WG: u32 = 256u;
const TEN_LOG10_2: f32 = 3.0102999566398120;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.rows * params.n_mels {
        return;
    }
    let r = i / params.n_mels;
    let m = i - r * params.n_mels;
    let run = runs[m];
    let base = r * params.bins + run.x;
    var acc = 0.0;
    for (var j = 0u; j < run.y; j++) {
        acc = fma(power[base + j], weights[run.z + j], acc);
    }
    if MODE == 1u {
        acc = log2(max(acc, params.eps)) * TEN_LOG10_2;
    } else if MODE == 2u {
        acc = log(max(acc, params.eps));
    }
    out[i] = acc;
}
