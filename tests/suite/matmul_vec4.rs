//! The vec4 matmul (`matmul_vec4.wgsl`) against the CPU reference and against the scalar shader,
//! and the autotuner: every candidate it may pick computes the right product, and its cache file
//! survives missing, corrupt and foreign entries.

use hark::cpu::matmul::{self as cpu_matmul, MatmulShape};
use hark::kernels::matmul::autotune::{
    self, read_cache, write_cache_entry, MatmulChoice, MatmulProblem,
};
use hark::kernels::matmul::{
    matmul, vec4_eligible, Activation, MatmulOptions, MatmulPath, MatmulTiles,
};
use hark::testing::{compare, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

fn tiles(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> MatmulTiles {
    MatmulTiles { bm, bn, bk, tm, tn }
}

/// Every vec4 register tile the autotuner may pick, and the two defaults.
fn vec4_tiles() -> Vec<MatmulTiles> {
    vec![
        MatmulTiles::LARGE,
        MatmulTiles::SMALL,
        tiles(128, 128, 16, 16, 8),
        tiles(128, 128, 16, 8, 16),
        tiles(64, 128, 16, 8, 8),
        tiles(32, 128, 16, 4, 8),
        tiles(128, 16, 16, 8, 4),
        tiles(16, 16, 4, 4, 4),
    ]
}

struct Run {
    shape: MatmulShape,
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Option<Vec<f32>>,
    activation: Activation,
}

impl Run {
    fn new(rng: &mut SeededRng, shape: MatmulShape) -> Self {
        let a_items = if shape.shared_a { 1 } else { shape.batch };
        let b_items = if shape.shared_b { 1 } else { shape.batch };
        Self {
            a: rng.vec(a_items * shape.m * shape.k, -1.0, 1.0),
            b: rng.vec(b_items * shape.k * shape.n, -1.0, 1.0),
            bias: None,
            activation: Activation::None,
            shape,
        }
    }

    fn gpu(
        &self,
        ctx: &Context,
        tiles: Option<MatmulTiles>,
        path: MatmulPath,
        k_splits: Option<usize>,
    ) -> hark::Result<Vec<f32>> {
        let s = self.shape;
        let items = |shared: bool| if shared { 1 } else { s.batch };
        let a_dims = if s.trans_a {
            [items(s.shared_a), s.k, s.m]
        } else {
            [items(s.shared_a), s.m, s.k]
        };
        let b_dims = if s.trans_b {
            [items(s.shared_b), s.n, s.k]
        } else {
            [items(s.shared_b), s.k, s.n]
        };
        let a = Tensor::from_slice(ctx, &a_dims, &self.a)?;
        let b = Tensor::from_slice(ctx, &b_dims, &self.b)?;
        let bias = match &self.bias {
            Some(v) => Some(Tensor::from_slice(ctx, &[s.n], v)?),
            None => None,
        };
        let out = Tensor::zeros(ctx, &[s.batch, s.m, s.n], DType::F32)?;
        let mut rec = Recorder::new(ctx);
        let options = MatmulOptions {
            trans_a: s.trans_a,
            trans_b: s.trans_b,
            bias: bias.as_ref(),
            activation: self.activation,
            tiles,
            k_splits,
            path,
            ..Default::default()
        };
        matmul(&mut rec, &a, &b, &out, &options)?;
        rec.submit()?;
        out.to_vec(ctx)
    }

    fn expected(&self) -> Vec<f32> {
        cpu_matmul::matmul(
            self.shape,
            &self.a,
            &self.b,
            self.bias.as_deref(),
            self.activation,
        )
    }

    fn check(&self, got: &[f32], what: &str) {
        let tolerance = (1e-5, 4.0 * f32::EPSILON * self.shape.k as f32);
        if let Err(report) = compare(got, &self.expected(), tolerance.0, tolerance.1) {
            panic!("{what} {:?}: {report}", self.shape);
        }
    }
}

fn shape(batch: usize, m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> MatmulShape {
    MatmulShape {
        batch,
        m,
        n,
        k,
        trans_a,
        trans_b,
        shared_a: false,
        shared_b: false,
    }
}

#[test]
fn vec4_path_matches_cpu_for_every_tile_transpose_and_ragged_edge() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    // (batch, M, N, K): N and the stored row lengths multiples of 4 (M too for transposed A);
    // M, N, K ragged against every tile; 1-quad edges; the autoencoder's layer on one clip.
    let shapes = [
        (1, 4, 4, 4),
        (1, 4, 4, 8),
        (1, 12, 20, 36),
        (2, 68, 132, 20),
        (1, 132, 128, 44),
        (3, 36, 4, 124),
        (1, 312, 128, 640),
    ];
    for (batch, m, n, k) in shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let run = Run::new(&mut rng, shape(batch, m, n, k, ta, tb));
            for t in vec4_tiles() {
                let got = run.gpu(&ctx, Some(t), MatmulPath::Vec4, None).unwrap();
                run.check(&got, &format!("{t:?}"));
            }
        }
    }
}

#[test]
fn rows_of_odd_length_fall_back_to_the_scalar_shader_and_forcing_vec4_there_is_an_error() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(42);
    // Row lengths 1, 3, 5, 127, 1025 along each operand's stored rows.
    for (m, n, k) in [
        (5, 3, 4),
        (4, 4, 127),
        (1, 1025, 8),
        (3, 8, 5),
        (127, 12, 1),
    ] {
        for (ta, tb) in [(false, false), (true, true)] {
            let run = Run::new(&mut rng, shape(1, m, n, k, ta, tb));
            let eligible = vec4_eligible(&MatmulTiles::SMALL, ta, tb, m, n, k, [0; 3]);
            let got = run.gpu(&ctx, Some(MatmulTiles::SMALL), MatmulPath::Auto, None);
            run.check(&got.unwrap(), "auto path");
            let forced = run.gpu(&ctx, Some(MatmulTiles::SMALL), MatmulPath::Vec4, None);
            assert_eq!(
                forced.is_ok(),
                eligible,
                "m={m} n={n} k={k} ta={ta} tb={tb}"
            );
        }
    }
    // Offsets off a 16-byte boundary never take the vec4 shader.
    assert!(!vec4_eligible(
        &MatmulTiles::SMALL,
        false,
        false,
        4,
        4,
        4,
        [4, 0, 0]
    ));
    assert!(!vec4_eligible(
        &MatmulTiles::SMALL,
        false,
        false,
        4,
        4,
        4,
        [0, 0, 8]
    ));
    assert!(vec4_eligible(
        &MatmulTiles::SMALL,
        false,
        false,
        4,
        4,
        4,
        [16, 32, 256]
    ));
    // A thread tile that is not whole quads is not a vec4 tile.
    assert!(!vec4_eligible(
        &MatmulTiles::THIN,
        false,
        false,
        4,
        4,
        4,
        [0; 3]
    ));
}

#[test]
fn vec4_and_scalar_shaders_agree_bit_for_bit_with_epilogue_sharing_and_split_k() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(43);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut s = shape(3, 44, 36, 1204, ta, tb);
        s.shared_b = true;
        let mut run = Run::new(&mut rng, s);
        run.bias = Some(rng.vec(36, -1.0, 1.0));
        run.activation = Activation::LeakyRelu(0.2);
        for splits in [None, Some(1), Some(3)] {
            let v = run
                .gpu(&ctx, Some(MatmulTiles::SMALL), MatmulPath::Vec4, splits)
                .unwrap();
            let scalar = run
                .gpu(&ctx, Some(MatmulTiles::SMALL), MatmulPath::Scalar, splits)
                .unwrap();
            run.check(&v, "vec4");
            assert_eq!(v, scalar, "ta={ta} tb={tb} splits={splits:?}");
        }
    }
}

#[test]
fn vec4_k_beyond_the_loop_budget_is_split_and_exact() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(44);
    // One output tile, K = 40,000: past lavapipe's loop budget for one workgroup.
    let run = Run::new(&mut rng, shape(1, 16, 16, 40_000, false, true));
    for t in [MatmulTiles::SMALL, tiles(128, 128, 16, 16, 8)] {
        let got = run.gpu(&ctx, Some(t), MatmulPath::Vec4, Some(1)).unwrap();
        run.check(&got, &format!("{t:?}"));
    }
}

#[test]
fn every_autotune_candidate_computes_the_product() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(45);
    // (M, N, K, trans_a, trans_b, at least this many candidates): tiles more than twice the
    // output are left out, so a tiny product has only its heuristic choice.
    for (m, n, k, ta, tb, least) in [(72, 136, 40, false, true, 3), (33, 7, 19, true, false, 1)] {
        let run = Run::new(&mut rng, shape(1, m, n, k, ta, tb));
        let problem = MatmulProblem {
            batch: 1,
            m,
            n,
            k,
            trans_a: ta,
            trans_b: tb,
            vec4: vec4_eligible(&MatmulTiles::SMALL, ta, tb, m, n, k, [0; 3]),
        };
        let candidates = autotune::candidates(&problem, ctx.limits());
        assert!(candidates.len() >= least, "{candidates:?}");
        assert_eq!(
            candidates[0],
            MatmulChoice::heuristic_for(&problem),
            "heuristic first"
        );
        for c in candidates {
            let got = run.gpu(&ctx, Some(c.tiles), c.path, c.k_splits).unwrap();
            run.check(&got, &c.describe());
        }
    }
}

#[test]
fn autotuning_picks_a_timed_candidate_caches_it_and_reuses_it() {
    let Some(shared) = test_context() else { return };
    // A context of its own: turning autotuning on here leaves the shared one pinned.
    let ctx = Context::from_device(shared.device().clone(), shared.queue().clone());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tune.tsv");
    ctx.set_autotune_cache(Some(cache.clone()));
    ctx.set_autotune(true);
    let problem = MatmulProblem {
        batch: 1,
        m: 40,
        n: 24,
        k: 16,
        trans_a: false,
        trans_b: false,
        vec4: true,
    };
    let choice = autotune::choose(&ctx, &problem).unwrap();
    assert!(autotune::candidates(&problem, ctx.limits()).contains(&choice));
    let adapter = autotune::adapter_key(ctx.adapter_info());
    let cached = read_cache(&cache, &adapter);
    assert_eq!(cached.get(&problem.class_key()), Some(&choice));
    // A fresh context reads the file instead of tuning: plant a different valid choice and see
    // it come back.
    let planted = MatmulChoice {
        tiles: MatmulTiles::SMALL,
        path: MatmulPath::Scalar,
        k_splits: Some(1),
    };
    write_cache_entry(&cache, &adapter, &problem.class_key(), &planted).unwrap();
    let fresh = Context::from_device(shared.device().clone(), shared.queue().clone());
    fresh.set_autotune_cache(Some(cache.clone()));
    fresh.set_autotune(true);
    assert_eq!(autotune::choose(&fresh, &problem).unwrap(), planted);
    // The tuned product is right, through the plain launcher.
    let mut rng = SeededRng::new(46);
    let run = Run::new(&mut rng, shape(1, 40, 24, 16, false, false));
    run.check(
        &run.gpu(&fresh, None, MatmulPath::Auto, None).unwrap(),
        "autotuned",
    );
    // Off: the heuristic, whatever the cache says.
    fresh.set_autotune(false);
    assert_eq!(
        autotune::choose(&fresh, &problem).unwrap(),
        MatmulChoice::heuristic_on(&problem, fresh.is_software())
    );
}

#[test]
fn autotune_cache_survives_missing_corrupt_and_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("tune.tsv");
    assert!(read_cache(&path, "gpu").is_empty(), "missing file");
    let choice = MatmulChoice::heuristic(1, 512, 512);
    let other = MatmulChoice {
        tiles: MatmulTiles::THIN,
        path: MatmulPath::Scalar,
        k_splits: Some(1),
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "garbage\n\u{0}\u{1}binary\tjunk\ngpu\tclass-a\t9x9 nonsense\nother gpu\tclass-a\t16x128x16x2x8 scalar budget-split\n",
    )
    .unwrap();
    assert!(
        read_cache(&path, "gpu").is_empty(),
        "corrupt lines are skipped"
    );
    write_cache_entry(&path, "gpu", "class-a", &choice).unwrap();
    write_cache_entry(&path, "gpu", "class-b", &other).unwrap();
    write_cache_entry(&path, "gpu", "class-a", &other).unwrap();
    let mine = read_cache(&path, "gpu");
    assert_eq!(mine.len(), 2);
    assert_eq!(mine["class-a"], other, "replaced, not duplicated");
    assert_eq!(mine["class-b"], other);
    let theirs = read_cache(&path, "other gpu");
    assert_eq!(theirs.len(), 1, "another adapter's entry is kept");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("garbage") && !text.contains("nonsense"),
        "{text}"
    );
    // A folder where the file should be: reading gives nothing, writing fails cleanly.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir_all(blocked.join("x")).unwrap();
    assert!(read_cache(&blocked, "gpu").is_empty());
    assert!(write_cache_entry(&blocked, "gpu", "c", &choice).is_err());
}

#[test]
fn thin_heuristic_tiles_fit_the_short_side_and_keep_vec4_products_on_the_vec4_shader() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(47);
    // (M, N, K, trans_a, trans_b): the oe and embedding networks' narrow convolutions (8 and 16
    // output channels: forward, input and weight gradients; a first layer's 9-tap im2col), one-row
    // and tiny outputs, and ragged long sides, at sizes a test can afford.
    let cases = [
        (8, 1030, 72, false, false),
        (8, 72, 4100, false, true),
        (72, 1028, 8, true, false),
        (8, 9, 4099, false, true),
        (8, 12, 4100, false, true),
        (16, 52, 3084, false, true),
        (8, 2053, 9, false, false),
        (9, 1031, 8, true, false),
        (16, 2048, 144, false, false),
        (16, 144, 2052, false, true),
        (2048, 8, 128, true, false),
        (1, 516, 8, false, false),
        (5, 12, 7, false, false),
        (3, 1, 1, false, false),
        (32, 1028, 288, false, false),
    ];
    for (m, n, k, ta, tb) in cases {
        let problem = MatmulProblem {
            batch: 1,
            m,
            n,
            k,
            trans_a: ta,
            trans_b: tb,
            vec4: vec4_eligible(&MatmulTiles::SMALL, ta, tb, m, n, k, [0; 3]),
        };
        let choice = MatmulChoice::heuristic_for(&problem);
        let t = choice.tiles;
        let short_tile = if m <= n { t.bm } else { t.bn } as usize;
        assert!(
            short_tile <= m.min(n).max(8).next_power_of_two(),
            "{m}x{n}: {t:?} is longer than the short side needs"
        );
        // Outputs of at most 8 x 16 take the scalar shader's 8 x 16 tile on purpose.
        if problem.vec4 && m.max(n) > 16 {
            assert!(
                vec4_eligible(&t, ta, tb, m, n, k, [0; 3]),
                "{m}x{n}x{k}: vec4 operands but {t:?} sends the product to the scalar shader"
            );
        }
        let run = Run::new(&mut rng, shape(1, m, n, k, ta, tb));
        let got = run.gpu(&ctx, None, MatmulPath::Auto, None).unwrap();
        run.check(&got, &choice.describe());
    }
}

#[test]
fn gpu_and_software_heuristics_both_compute_the_product() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(48);
    // Shapes of the embedding network's convolutions (scaled down along N*P), one side under
    // 128, both from 128, ragged edges, K below a slice, and an odd K (scalar shader).
    let cases = [
        (64, 580, 512, false, true),
        (576, 132, 64, true, false),
        (128, 1000, 256, false, false),
        (130, 132, 8, true, false),
        (33, 36, 12, false, false),
        (40, 44, 49, false, false),
    ];
    for (m, n, k, ta, tb) in cases {
        let problem = MatmulProblem {
            batch: 1,
            m,
            n,
            k,
            trans_a: ta,
            trans_b: tb,
            vec4: vec4_eligible(&MatmulTiles::SMALL, ta, tb, m, n, k, [0; 3]),
        };
        let run = Run::new(&mut rng, shape(1, m, n, k, ta, tb));
        for software in [false, true] {
            let choice = MatmulChoice::heuristic_on(&problem, software);
            assert!(choice.tiles.bk as usize <= k.next_multiple_of(4));
            if problem.vec4 {
                assert!(vec4_eligible(&choice.tiles, ta, tb, m, n, k, [0; 3]));
            }
            let got = run
                .gpu(&ctx, Some(choice.tiles), choice.path, choice.k_splits)
                .unwrap();
            run.check(&got, &format!("software {software}: {}", choice.describe()));
        }
    }
}
