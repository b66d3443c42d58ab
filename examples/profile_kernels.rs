//! A small pipeline of hark kernels, a two-layer MLP `y = sigmoid(ReLU(x W1^T + b1) W2^T + b2)`
//! on a batch of DCASE-sized 640-dim vectors, recorded into one submit and profiled per kernel
//! with GPU timestamps. Run: `cargo run --release --example profile_kernels`.

use hark::kernels::matmul::{matmul, Activation, MatmulOptions};
use hark::profiler::profile;
use hark::testing::SeededRng;
use hark::{Context, DType, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new()?;
    println!(
        "adapter: {} ({:?})",
        ctx.adapter_info().name,
        ctx.adapter_info().backend
    );
    let (batch, d_in, hidden, d_out) = (512, 640, 128, 8);
    let mut rng = SeededRng::new(7);
    let x = Tensor::from_slice(&ctx, &[batch, d_in], &rng.vec(batch * d_in, -1.0, 1.0))?;
    let w1 = Tensor::from_slice(&ctx, &[hidden, d_in], &rng.vec(hidden * d_in, -0.05, 0.05))?;
    let b1 = Tensor::from_slice(&ctx, &[hidden], &rng.vec(hidden, -0.1, 0.1))?;
    let w2 = Tensor::from_slice(&ctx, &[d_out, hidden], &rng.vec(d_out * hidden, -0.1, 0.1))?;
    let b2 = Tensor::from_slice(&ctx, &[d_out], &rng.vec(d_out, -0.1, 0.1))?;
    let h = Tensor::zeros(&ctx, &[batch, hidden], DType::F32)?;
    let y = Tensor::zeros(&ctx, &[batch, d_out], DType::F32)?;

    let report = profile(&ctx, 10, false, |rec| {
        let layer1 = MatmulOptions {
            trans_b: true,
            bias: Some(&b1),
            activation: Activation::Relu,
            ..Default::default()
        };
        matmul(rec, &x, &w1, &h, &layer1)?;
        let layer2 = MatmulOptions {
            trans_b: true,
            bias: Some(&b2),
            activation: Activation::Sigmoid,
            ..Default::default()
        };
        matmul(rec, &h, &w2, &y, &layer2)
    })?;
    println!(
        "timing: {:?} over {} iterations",
        report.method, report.iterations
    );
    for k in &report.kernels {
        println!(
            "  {:<20} {} call(s)/iteration  mean {:.3} ms  min {:.3} ms",
            k.kernel,
            k.calls_per_iteration,
            k.mean_s * 1e3,
            k.min_s * 1e3
        );
    }
    let out = y.to_vec(&ctx)?;
    println!("first outputs: {:?}", &out[..4]);
    Ok(())
}
