//! Embedding hark in an engine that owns its wgpu device: the engine creates the device, queue,
//! buffers and command encoder; hark wraps them, records a matmul into the engine's encoder, and
//! the engine submits. Run: `cargo run --release --example embed_in_engine`.

use hark::kernels::matmul::{matmul, Activation, MatmulOptions};
use hark::{Context, DType, Recorder, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- The engine's own setup (nothing hark-specific). ---
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("engine"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))?;
    println!("engine device: {}", adapter.get_info().name);

    // The engine's buffers: a [2, 3] input and a [4, 3] weight (PyTorch Linear layout, [out, in]),
    // packed in one buffer at an aligned offset, and an output buffer.
    let align = u64::from(device.limits().min_storage_buffer_offset_alignment).max(16);
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let inputs = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine inputs"),
        size: align + 64,
        usage,
        mapped_at_creation: false,
    });
    let x = [1.0f32, 2.0, 3.0, -1.0, 0.5, 2.0];
    let w = [
        0.1f32, 0.2, 0.3, -0.5, 0.0, 0.5, 1.0, 1.0, 1.0, 0.0, -1.0, 0.0,
    ];
    queue.write_buffer(&inputs, 0, bytemuck::cast_slice(&x));
    queue.write_buffer(&inputs, align, bytemuck::cast_slice(&w));
    let output = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine output"),
        size: 2 * 4 * 4,
        usage,
        mapped_at_creation: false,
    });

    // --- hark on the engine's device. ---
    let ctx = Context::from_device(device.clone(), queue.clone());
    let x_t = Tensor::wrap(&ctx, &inputs, 0, &[2, 3], DType::F32)?;
    let w_t = Tensor::wrap(&ctx, &inputs, align, &[4, 3], DType::F32)?;
    let y_t = Tensor::wrap(&ctx, &output, 0, &[2, 4], DType::F32)?;

    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("engine frame"),
    });
    // ... the engine may record its own passes here ...
    let mut rec = Recorder::for_encoder(&ctx, &mut encoder);
    // y = ReLU(x W^T): a Linear layer without bias.
    let options = MatmulOptions {
        trans_b: true,
        activation: Activation::Relu,
        ..Default::default()
    };
    matmul(&mut rec, &x_t, &w_t, &y_t, &options)?;
    rec.finish()?;
    // ... and more of its own passes after; then it submits as usual.
    queue.submit([encoder.finish()]);

    let y = y_t.to_vec(&ctx)?;
    println!("y = ReLU(x W^T) = {y:?}");
    let expected = [1.4f32, 1.0, 6.0, 0.0, 0.6, 1.5, 1.5, 0.0];
    hark::testing::compare(&y, &expected, 1e-5, 1e-6)?;
    println!("matches the hand-computed result");
    Ok(())
}
