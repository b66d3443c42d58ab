//! The kernel machinery: per-dispatch parameters within one submit, pipeline and bind-group
//! caching, tensors (upload, download, zero-fill, errors), the embedding API and the profiler.

use hark::kernels::elementwise;
use hark::testing::{assert_close, test_context};
use hark::{DType, HarkError, Recorder, Tensor};

#[test]
fn many_dispatches_in_one_submit_each_see_their_own_parameters() {
    let Some(ctx) = test_context() else { return };
    // Dispatches of one kernel with different `n` and `b_len`, all in one pass and one submit.
    // One uniform rewritten between dispatches would give every dispatch the last one's values:
    // longer outputs would be left partly unwritten and the broadcast pattern would be wrong.
    let cases = [
        (300usize, 300usize),
        (17, 1),
        (1, 1),
        (260, 13),
        (5, 5),
        (299, 23),
    ];
    let mut rng = hark::testing::SeededRng::new(3);
    let mut pending = Vec::new();
    let mut rec = Recorder::new(&ctx);
    for &(n, b_len) in &cases {
        let a = rng.vec(n, -1.0, 1.0);
        let b = rng.vec(b_len, -1.0, 1.0);
        let ta = Tensor::from_slice(&ctx, &[n], &a).unwrap();
        let tb = Tensor::from_slice(&ctx, &[b_len], &b).unwrap();
        let out = Tensor::zeros(&ctx, &[n], DType::F32).unwrap();
        elementwise::add(&mut rec, &ta, &tb, &out).unwrap();
        pending.push((
            out,
            hark::cpu::elementwise::binary(elementwise::BinaryOp::Add, &a, &b),
        ));
    }
    assert_eq!(rec.dispatch_count(), cases.len());
    rec.submit().unwrap();
    for (out, expected) in pending {
        assert_close(&out.to_vec(&ctx).unwrap(), &expected, 0.0, 0.0);
    }
}

#[test]
fn writing_a_buffer_that_is_also_read_is_a_clear_error() {
    let Some(ctx) = test_context() else { return };
    let a = Tensor::from_slice(&ctx, &[4], &[1.0; 4]).unwrap();
    let mut rec = Recorder::new(&ctx);
    let err = elementwise::add(&mut rec, &a, &a, &a).unwrap_err();
    assert!(err.to_string().contains("share one buffer"), "{err}");
}

#[test]
fn per_dispatch_parameters_survive_in_one_pass() {
    let Some(ctx) = test_context() else { return };
    // Same output buffer, different prefix lengths, all in one pass and one submit:
    // out = x + y over n = 300, then out2 = out * y over n = 7 with a scalar broadcast.
    let x = Tensor::from_slice(
        &ctx,
        &[300],
        &(0..300).map(|i| i as f32).collect::<Vec<_>>(),
    )
    .unwrap();
    let y = Tensor::from_slice(&ctx, &[300], &[1.0; 300]).unwrap();
    let two = Tensor::from_slice(&ctx, &[1], &[2.0]).unwrap();
    let sum = Tensor::zeros(&ctx, &[300], DType::F32).unwrap();
    let doubled = Tensor::zeros(&ctx, &[300], DType::F32).unwrap();
    let result = Tensor::zeros(&ctx, &[300], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    elementwise::add(&mut rec, &x, &y, &sum).unwrap();
    elementwise::mul(&mut rec, &sum, &two, &doubled).unwrap();
    elementwise::add(&mut rec, &doubled, &two, &result).unwrap();
    assert_eq!(rec.dispatch_count(), 3);
    rec.submit().unwrap();
    let expected: Vec<f32> = (0..300).map(|i| (i as f32 + 1.0) * 2.0 + 2.0).collect();
    assert_close(&result.to_vec(&ctx).unwrap(), &expected, 0.0, 0.0);
}

#[test]
fn pipelines_compile_once_and_bind_groups_are_reused() {
    let Some(shared) = test_context() else { return };
    // Caches of its own (same device): other tests running in parallel do not touch them.
    let ctx = hark::Context::from_device(shared.device().clone(), shared.queue().clone());
    let a = Tensor::from_slice(&ctx, &[33], &[1.0; 33]).unwrap();
    let out = Tensor::zeros(&ctx, &[33], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    elementwise::add(&mut rec, &a, &a, &out).unwrap();
    rec.submit_and_wait().unwrap();
    let pipelines = ctx.pipeline_count();
    let (_, misses) = ctx.bind_group_stats();
    for _ in 0..5 {
        let mut rec = Recorder::new(&ctx);
        elementwise::add(&mut rec, &a, &a, &out).unwrap();
        rec.submit().unwrap();
    }
    assert_eq!(
        ctx.pipeline_count(),
        pipelines,
        "no new pipeline for a repeated launch"
    );
    let (_, misses_after) = ctx.bind_group_stats();
    assert_eq!(
        misses_after, misses,
        "repeated launches reuse their bind group"
    );
    assert_close(&out.to_vec(&ctx).unwrap(), &[2.0; 33], 0.0, 0.0);
}

#[test]
fn tensors_upload_download_zero_and_reject_bad_input() {
    let Some(ctx) = test_context() else { return };
    let data: Vec<f32> = (0..7).map(|i| i as f32 - 3.5).collect();
    let t = Tensor::from_slice(&ctx, &[7], &data).unwrap();
    assert_eq!(t.to_vec(&ctx).unwrap(), data);
    let mut rec = Recorder::new(&ctx);
    rec.zero(&t);
    rec.submit().unwrap();
    assert_eq!(t.to_vec(&ctx).unwrap(), vec![0.0; 7]);

    let err = Tensor::from_slice(&ctx, &[2, 3], &[1.0; 5]).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    assert!(t.reshape(&[2, 4]).is_err());
    assert_eq!(t.reshape(&[7, 1]).unwrap().shape(), &[7, 1]);

    // Beyond the device's binding limit: a clear error, not a wgpu panic.
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let too_many = (limit / 4 + 1) as usize;
    let err = Tensor::zeros(&ctx, &[too_many], DType::F32).unwrap_err();
    assert!(matches!(err, HarkError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("max_storage_buffer_binding_size"));
    let err = Tensor::zeros(&ctx, &[usize::MAX, 2], DType::F32).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");

    let empty = Tensor::from_slice(&ctx, &[0], &[]).unwrap();
    assert!(empty.to_vec(&ctx).unwrap().is_empty());
}

#[test]
fn f16_storage_round_trips_where_supported() {
    let Some(ctx) = test_context() else { return };
    let values: Vec<half::f16> = [0.5f32, -1.25, 3.0]
        .iter()
        .map(|&v| half::f16::from_f32(v))
        .collect();
    match Tensor::from_f16(&ctx, &[3], &values) {
        Ok(t) => assert_eq!(t.to_vec(&ctx).unwrap(), vec![0.5, -1.25, 3.0]),
        Err(err) => {
            assert!(!ctx.has_f16(), "f16 failed on a device that has it: {err}");
            assert!(matches!(err, HarkError::DType { .. }));
        }
    }
}

#[test]
fn embedding_wraps_caller_buffers_and_records_into_caller_encoders() {
    let Some(ctx) = test_context() else { return };
    // A context built from the caller's device and queue.
    let engine = hark::Context::from_device(ctx.device().clone(), ctx.queue().clone());
    let align = u64::from(engine.limits().min_storage_buffer_offset_alignment);
    let buffer = engine.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine buffer"),
        size: align * 2 + 64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    engine.queue().write_buffer(
        &buffer,
        align,
        bytemuck::cast_slice(&[1.0f32, 2.0, 3.0, 4.0]),
    );
    let a = Tensor::wrap(&engine, &buffer, align, &[4], DType::F32).unwrap();
    let out_buffer = engine.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine output"),
        size: align + 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let out = Tensor::wrap(&engine, &out_buffer, align, &[4], DType::F32).unwrap();
    let mut encoder = engine.device().create_command_encoder(&Default::default());
    {
        let mut rec = Recorder::for_encoder(&engine, &mut encoder);
        elementwise::mul(&mut rec, &a, &a, &out).unwrap();
        rec.finish().unwrap();
    }
    engine.queue().submit([encoder.finish()]);
    assert_eq!(out.to_vec(&engine).unwrap(), vec![1.0, 4.0, 9.0, 16.0]);

    assert!(
        Tensor::wrap(&engine, &buffer, 4, &[4], DType::F32).is_err(),
        "misaligned offset"
    );
    assert!(
        Tensor::wrap(&engine, &buffer, 0, &[1000], DType::F32).is_err(),
        "past the end"
    );
}

#[test]
fn profiler_times_every_kernel_with_timestamps_and_wall_clock() {
    let Some(ctx) = test_context() else { return };
    let a = Tensor::from_slice(&ctx, &[4096], &[1.0; 4096]).unwrap();
    let out = Tensor::zeros(&ctx, &[4096], DType::F32).unwrap();
    let out2 = Tensor::zeros(&ctx, &[4096], DType::F32).unwrap();
    for wall_clock in [false, true] {
        let profile = hark::profiler::profile(&ctx, 3, wall_clock, |rec| {
            elementwise::add(rec, &a, &a, &out)?;
            elementwise::mul(rec, &out, &a, &out2)?;
            elementwise::mul(rec, &out2, &a, &out)
        })
        .unwrap();
        assert_eq!(profile.iterations, 3);
        assert_eq!(
            profile.kernels.len(),
            1,
            "one kernel name: elementwise_binary"
        );
        assert_eq!(profile.kernels[0].calls_per_iteration, 3);
        assert!(profile.mean_total_s() > 0.0 && profile.mean_total_s() < 10.0);
        let expected = if wall_clock || !ctx.has_timestamps() {
            hark::profiler::TimingMethod::WallClock
        } else {
            hark::profiler::TimingMethod::Timestamps
        };
        assert_eq!(profile.method, expected);
    }
}

#[test]
fn more_dispatches_than_one_parameter_chunk_in_one_submit() {
    let Some(ctx) = test_context() else { return };
    // 5000 dispatches (several 1024-slot parameter chunks) in one submit, ping-ponging
    // between two buffers with a different length at every step. A parameter slot reused within
    // the submit would give some dispatch another's length, and the result would differ from
    // the CPU simulation below.
    const STEPS: usize = 5000;
    const WIDTH: usize = 64;
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let make = |label| {
        ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (WIDTH * 4) as u64,
            usage,
            mapped_at_creation: false,
        })
    };
    let (buf_a, buf_b, buf_one) = (make("a"), make("b"), make("ones"));
    ctx.queue()
        .write_buffer(&buf_one, 0, bytemuck::cast_slice(&[1.0f32; WIDTH]));
    let views = |buffer: &wgpu::Buffer| -> Vec<Tensor> {
        (1..=WIDTH)
            .map(|len| Tensor::wrap(&ctx, buffer, 0, &[len], DType::F32).unwrap())
            .collect()
    };
    let (a, b, ones) = (views(&buf_a), views(&buf_b), views(&buf_one));
    let mut host = [vec![0.0f32; WIDTH], vec![0.0f32; WIDTH]];
    let mut rec = Recorder::new(&ctx);
    for step in 0..STEPS {
        let len = 1 + (step * 7) % WIDTH;
        let (src, dst) = if step % 2 == 0 { (&a, &b) } else { (&b, &a) };
        elementwise::add(&mut rec, &src[len - 1], &ones[len - 1], &dst[len - 1]).unwrap();
        let (s, d) = if step % 2 == 0 { (0, 1) } else { (1, 0) };
        let src_host = host[s].clone();
        for (dst_value, src_value) in host[d].iter_mut().zip(&src_host).take(len) {
            *dst_value = src_value + 1.0;
        }
    }
    rec.submit().unwrap();
    assert_close(&a[WIDTH - 1].to_vec(&ctx).unwrap(), &host[0], 0.0, 0.0);
    assert_close(&b[WIDTH - 1].to_vec(&ctx).unwrap(), &host[1], 0.0, 0.0);
}

#[test]
fn adapter_filters_that_match_nothing_give_a_clear_error() {
    let options = hark::ContextOptions {
        backend: None,
        adapter_name: Some("no-such-adapter-anywhere".into()),
    };
    let err = hark::Context::with_options(&options).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HarkError::NoAdapter { .. }), "{text}");
    assert!(text.contains("no-such-adapter-anywhere"), "{text}");
    assert!(text.contains("mesa-vulkan-drivers"), "{text}");
}

#[test]
fn interleaved_recorders_keep_their_own_parameters() {
    let Some(ctx) = test_context() else { return };
    // Recorder A records, B records and submits, A records more and submits. B's submit must not
    // free A's parameter slots for reuse while A's dispatches are still unsubmitted.
    let x = Tensor::from_slice(&ctx, &[100], &[1.0; 100]).unwrap();
    let make = || Tensor::zeros(&ctx, &[100], DType::F32).unwrap();
    let (a1, a2, b1) = (make(), make(), make());
    let short = Tensor::from_slice(&ctx, &[10], &[5.0; 10]).unwrap();
    let short_out = Tensor::zeros(&ctx, &[10], DType::F32).unwrap();
    let mut rec_a = Recorder::new(&ctx);
    elementwise::add(&mut rec_a, &x, &x, &a1).unwrap();
    let mut rec_b = Recorder::new(&ctx);
    for _ in 0..1100 {
        elementwise::mul(&mut rec_b, &short, &short, &short_out).unwrap();
    }
    elementwise::mul(&mut rec_b, &x, &x, &b1).unwrap();
    rec_b.submit().unwrap();
    let mut rec_c = Recorder::new(&ctx);
    for _ in 0..1100 {
        elementwise::mul(&mut rec_c, &short, &short, &short_out).unwrap();
    }
    rec_c.submit().unwrap();
    elementwise::add(&mut rec_a, &a1, &x, &a2).unwrap();
    rec_a.submit().unwrap();
    assert_close(&a1.to_vec(&ctx).unwrap(), &[2.0; 100], 0.0, 0.0);
    assert_close(&a2.to_vec(&ctx).unwrap(), &[3.0; 100], 0.0, 0.0);
    assert_close(&b1.to_vec(&ctx).unwrap(), &[1.0; 100], 0.0, 0.0);
}

#[test]
fn dropping_tensors_drops_their_cached_bind_groups() {
    let Some(shared) = test_context() else { return };
    let ctx = hark::Context::from_device(shared.device().clone(), shared.queue().clone());
    let a = Tensor::from_slice(&ctx, &[64], &[1.0; 64]).unwrap();
    for _ in 0..10 {
        // A temporary output per launch, as feature pipelines allocate them.
        let temporary = Tensor::zeros(&ctx, &[64], DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        elementwise::add(&mut rec, &a, &a, &temporary).unwrap();
        rec.submit().unwrap();
        assert_close(&temporary.to_vec(&ctx).unwrap(), &[2.0; 64], 0.0, 0.0);
    }
    assert_eq!(
        ctx.cached_bind_groups(),
        0,
        "temporaries left bind groups in the cache"
    );
    let out = Tensor::zeros(&ctx, &[64], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    elementwise::add(&mut rec, &a, &a, &out).unwrap();
    rec.submit().unwrap();
    assert_eq!(ctx.cached_bind_groups(), 1);
}

#[test]
fn a_run_profile_times_every_dispatch_of_the_run_and_keeps_results_exact() {
    let Some(ctx) = test_context() else { return };
    if !ctx.has_timestamps() {
        assert!(hark::profiler::run::take().unwrap().is_none());
        return;
    }
    // Recordings of every size the run profile must survive: small ones, and one past the
    // query set (2048 dispatches), whose excess runs untimed instead of failing.
    hark::profiler::run::start();
    let a = Tensor::from_slice(&ctx, &[257], &[1.5; 257]).unwrap();
    let mut outputs = Vec::new();
    for dispatches in [1usize, 7, 2100] {
        let mut rec = Recorder::new(&ctx);
        for _ in 0..dispatches {
            let out = Tensor::zeros(&ctx, &[257], DType::F32).unwrap();
            elementwise::add(&mut rec, &a, &a, &out).unwrap();
            outputs.push(out);
        }
        rec.submit().unwrap();
    }
    let profile = hark::profiler::run::take()
        .unwrap()
        .expect("a run profile was started");
    assert!(!hark::profiler::run::active());
    // Other tests may run kernels meanwhile (the profile is process-wide): look at ours.
    let (_, calls, seconds) = profile
        .kernels
        .iter()
        .find(|k| k.0 == "elementwise_binary")
        .copied()
        .expect("the adds were timed");
    assert!(calls >= 1 + 7 + 2048, "{calls} timed adds");
    assert!(profile.untimed_dispatches >= 2100 - 2048);
    assert!(seconds > 0.0 && seconds.is_finite());
    for out in [&outputs[0], &outputs[5], &outputs[outputs.len() - 1]] {
        assert_close(&out.to_vec(&ctx).unwrap(), &[3.0; 257], 0.0, 0.0);
    }
    // Stopped: a new recording is not timed and nothing is kept.
    let mut rec = Recorder::new(&ctx);
    elementwise::add(&mut rec, &a, &a, &outputs[0]).unwrap();
    rec.submit().unwrap();
    assert!(hark::profiler::run::take().unwrap().is_none());
}
