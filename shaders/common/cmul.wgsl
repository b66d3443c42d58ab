// `cmul`: the complex product of two (re, im) pairs. Imported by the FFT shaders:
// fft/fft_stage.wgsl, bluestein.wgsl, rfft_post.wgsl and rfft_workgroup.wgsl.

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
