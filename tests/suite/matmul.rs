//! GPU vs CPU for the tiled matmul: purposeful shapes (1, primes, non-multiples of every tile,
//! the model shapes), both tile configurations, every transpose combination, batch broadcast,
//! the bias + activation epilogue, split K (forced, and forced by the loop budget of software
//! drivers), and the error cases.

use hark::cpu::matmul::{self as cpu_matmul, MatmulShape};
use hark::kernels::matmul::{matmul, splits_used, Activation, MatmulOptions, MatmulTiles};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, Recorder, Tensor};

/// (batch, M, N, K).
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (1, 1, 7, 3),
    (1, 7, 1, 5),
    (1, 13, 17, 19),
    (1, 64, 64, 16),
    (1, 65, 63, 17),
    (1, 127, 129, 33),
    (1, 128, 128, 8),
    (2, 130, 131, 9),
    (3, 31, 37, 41),
    // The DCASE autoencoder's first layer on one clip: 309 frames x 640 -> 128.
    (1, 309, 128, 640),
];

/// The GPU and the CPU twin add the same products in the same order with fma, so results agree
/// to rounding; the absolute floor covers a different contraction choice by the driver: at most
/// a few ulps of the largest partial sum, which is below K for inputs in [-1, 1].
fn tolerance(k: usize) -> (f32, f32) {
    (1e-5, 4.0 * f32::EPSILON * k as f32)
}

struct Case {
    shape: MatmulShape,
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Option<Vec<f32>>,
    activation: Activation,
    k_splits: Option<usize>,
}

impl Case {
    fn new(rng: &mut SeededRng, shape: MatmulShape) -> Self {
        let a_items = if shape.shared_a { 1 } else { shape.batch };
        let b_items = if shape.shared_b { 1 } else { shape.batch };
        Self {
            a: rng.vec(a_items * shape.m * shape.k, -1.0, 1.0),
            b: rng.vec(b_items * shape.k * shape.n, -1.0, 1.0),
            bias: None,
            activation: Activation::None,
            k_splits: None,
            shape,
        }
    }

    fn run(&self, ctx: &Context, tiles: Option<MatmulTiles>) -> Vec<f32> {
        let s = self.shape;
        let a_items = if s.shared_a { 1 } else { s.batch };
        let b_items = if s.shared_b { 1 } else { s.batch };
        let a_dims = if s.trans_a {
            [a_items, s.k, s.m]
        } else {
            [a_items, s.m, s.k]
        };
        let b_dims = if s.trans_b {
            [b_items, s.n, s.k]
        } else {
            [b_items, s.k, s.n]
        };
        let a = Tensor::from_slice(ctx, &a_dims, &self.a).unwrap();
        let b = Tensor::from_slice(ctx, &b_dims, &self.b).unwrap();
        let bias = self
            .bias
            .as_ref()
            .map(|v| Tensor::from_slice(ctx, &[s.n], v).unwrap());
        let out = Tensor::zeros(ctx, &[s.batch, s.m, s.n], DType::F32).unwrap();
        let mut rec = Recorder::new(ctx);
        let options = MatmulOptions {
            trans_a: s.trans_a,
            trans_b: s.trans_b,
            bias: bias.as_ref(),
            activation: self.activation,
            tiles,
            bias_per_row: false,
            k_splits: self.k_splits,
            ..Default::default()
        };
        matmul(&mut rec, &a, &b, &out, &options).unwrap();
        rec.submit().unwrap();
        out.to_vec(ctx).unwrap()
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
fn matches_cpu_on_purposeful_shapes_tiles_and_transposes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(11);
    for &(batch, m, n, k) in SHAPES {
        for tiles in [MatmulTiles::SMALL, MatmulTiles::LARGE, MatmulTiles::THIN] {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let case = Case::new(&mut rng, shape(batch, m, n, k, trans_a, trans_b));
                let (rel, abs) = tolerance(k);
                let got = case.run(&ctx, Some(tiles));
                if let Err(report) = hark::testing::compare(&got, &case.expected(), rel, abs) {
                    panic!(
                        "b={batch} m={m} n={n} k={k} ta={trans_a} tb={trans_b} {tiles:?}: {report}"
                    );
                }
            }
        }
    }
}

#[test]
fn default_tile_choice_is_correct_on_a_large_problem() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(12);
    // Enough 128x128 tiles for the LARGE configuration; M and N are not multiples of 128.
    assert_eq!(MatmulTiles::for_shape(1, 1500, 1400,), MatmulTiles::LARGE);
    assert_eq!(MatmulTiles::for_shape(1, 4096, 128), MatmulTiles::SMALL);
    let case = Case::new(&mut rng, shape(1, 1500, 1400, 37, false, true));
    let (rel, abs) = tolerance(37);
    assert_close(&case.run(&ctx, None), &case.expected(), rel, abs);
}

#[test]
fn thin_products_get_thin_tiles() {
    let tile = |m, n| {
        let t = MatmulTiles::for_shape(1, m, n);
        (t.bm, t.bn)
    };
    // The embedding system's convolutions: 16 and 32 output channels over batch x positions.
    assert_eq!(tile(16, 15360), (16, 128));
    assert_eq!(tile(32, 4096), (32, 128));
    assert_eq!(tile(16, 144), (16, 64));
    assert_eq!(tile(2048, 16), (128, 16));
    // Tiny on both sides (a first convolution's weight gradient): a tile that fits it.
    assert_eq!(tile(1, 1), (8, 16));
    assert_eq!(tile(8, 9), (8, 16));
    assert_eq!(tile(8, 16384), (8, 256));
    assert_eq!(tile(33, 33), (64, 64));
}

#[test]
fn split_k_matches_cpu_with_bias_activation_transposes_and_sharing() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(16);
    for splits in [2, 3, 7] {
        for (trans_a, trans_b) in [(false, false), (true, true)] {
            for shared_b in [false, true] {
                let mut s = shape(3, 13, 37, 101, trans_a, trans_b);
                s.shared_b = shared_b;
                let mut case = Case::new(&mut rng, s);
                case.bias = Some(rng.vec(37, -1.0, 1.0));
                case.activation = Activation::Relu;
                case.k_splits = Some(splits);
                let (rel, abs) = tolerance(101);
                let got = case.run(&ctx, None);
                if let Err(report) = hark::testing::compare(&got, &case.expected(), rel, abs) {
                    panic!(
                        "splits {splits} ta={trans_a} tb={trans_b} shared_b={shared_b}: {report}"
                    );
                }
            }
        }
    }
}

#[test]
fn k_beyond_one_workgroups_loop_budget_is_split_and_exact() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(17);
    // One output tile and 40,000 K: one workgroup alone would run about 2,500 x 27 loop
    // iterations per invocation, past lavapipe's 65,535 (it then silently ends every loop: this
    // shape gave errors of the size of the result before K was split). Splitting is not
    // optional: asking for one slice still gets as many as the budget needs.
    let k = 40_000;
    for tiles in [MatmulTiles::SMALL, MatmulTiles::THIN] {
        assert!(splits_used(&tiles, Some(1), 1, 16, 16, k) >= 3, "{tiles:?}");
        let mut case = Case::new(&mut rng, shape(1, 16, 16, k, false, true));
        case.k_splits = Some(1);
        let (rel, abs) = tolerance(k);
        assert_close(&case.run(&ctx, Some(tiles)), &case.expected(), rel, abs);
    }
}

#[test]
fn few_output_tiles_split_k_for_occupancy_and_large_outputs_do_not() {
    let thin = MatmulTiles::for_shape(1, 16, 144);
    // The embedding stem's weight gradient: 3 tiles, K = batch x positions.
    assert!(splits_used(&thin, None, 1, 16, 144, 15_360) > 8);
    // Short K is never split for occupancy (at least 512 per slice).
    assert_eq!(splits_used(&thin, None, 1, 16, 144, 600), 1);
    // Enough tiles to fill a GPU: no split.
    assert_eq!(
        splits_used(&MatmulTiles::LARGE, None, 1, 2048, 2048, 4096),
        1
    );
}

#[test]
fn odd_tile_shapes_from_override_constants() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(13);
    let tiles = [
        MatmulTiles {
            bm: 32,
            bn: 16,
            bk: 4,
            tm: 2,
            tn: 1,
        },
        MatmulTiles {
            bm: 24,
            bn: 40,
            bk: 5,
            tm: 3,
            tn: 5,
        },
        MatmulTiles {
            bm: 8,
            bn: 8,
            bk: 1,
            tm: 8,
            tn: 8,
        },
    ];
    for t in tiles {
        let case = Case::new(&mut rng, shape(2, 29, 43, 23, false, false));
        let (rel, abs) = tolerance(23);
        assert_close(&case.run(&ctx, Some(t)), &case.expected(), rel, abs);
    }
}

#[test]
fn bias_and_every_activation_in_the_epilogue() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(14);
    for activation in [
        Activation::None,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Sigmoid,
        Activation::Tanh,
    ] {
        let mut case = Case::new(&mut rng, shape(2, 33, 70, 45, false, true));
        // Scale B so that pre-activations reach |x| ~ 30: the sigmoid/tanh tails are exercised.
        case.b.iter_mut().for_each(|v| *v *= 4.0);
        case.bias = Some(rng.vec(70, -3.0, 3.0));
        case.activation = activation;
        // Sigmoid and tanh go through exp in the shader: a few ulps more than the plain sum.
        let (rel, abs) = tolerance(45 * 4);
        assert_close(&case.run(&ctx, None), &case.expected(), rel.max(4e-6), abs);
    }
}

#[test]
fn an_operand_with_batch_one_is_shared_by_the_batch() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(15);
    for (shared_a, shared_b) in [(true, false), (false, true)] {
        let mut s = shape(4, 21, 34, 55, false, false);
        s.shared_a = shared_a;
        s.shared_b = shared_b;
        let case = Case::new(&mut rng, s);
        let (rel, abs) = tolerance(55);
        assert_close(&case.run(&ctx, None), &case.expected(), rel, abs);
    }
}

#[test]
fn rejects_bad_shapes_and_tiles() {
    let Some(ctx) = test_context() else { return };
    let t = |shape: &[usize]| Tensor::zeros(&ctx, shape, DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let opts = MatmulOptions::default();
    let err = matmul(&mut rec, &t(&[4, 5]), &t(&[6, 3]), &t(&[4, 3]), &opts).unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let err = matmul(
        &mut rec,
        &t(&[2, 4, 5]),
        &t(&[3, 5, 3]),
        &t(&[3, 4, 3]),
        &opts,
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch sizes"), "{err}");
    let err = matmul(&mut rec, &t(&[5]), &t(&[5, 3]), &t(&[1, 3]), &opts).unwrap_err();
    assert!(err.to_string().contains("[rows, cols]"), "{err}");
    let bias = t(&[4]);
    let with_bias = MatmulOptions {
        bias: Some(&bias),
        ..opts
    };
    let err = matmul(&mut rec, &t(&[4, 5]), &t(&[5, 3]), &t(&[4, 3]), &with_bias).unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");
    let bad_tiles = MatmulOptions {
        tiles: Some(MatmulTiles {
            bm: 64,
            bn: 64,
            bk: 8,
            tm: 16,
            tn: 4,
        }),
        ..opts
    };
    let err = matmul(&mut rec, &t(&[4, 5]), &t(&[5, 3]), &t(&[4, 3]), &bad_tiles).unwrap_err();
    assert!(err.to_string().contains("tiles"), "{err}");
    let huge_tiles = MatmulOptions {
        tiles: Some(MatmulTiles {
            bm: 1024,
            bn: 1024,
            bk: 64,
            tm: 8,
            tn: 8,
        }),
        ..opts
    };
    let err = matmul(&mut rec, &t(&[4, 5]), &t(&[5, 3]), &t(&[4, 3]), &huge_tiles).unwrap_err();
    assert!(err.to_string().contains("limits"), "{err}");
}

#[test]
fn bias_per_row_adds_one_value_per_output_row() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(41);
    // A 1x1 convolution: W [C_out, C_in] shared over the batch, X [batch, C_in, L].
    let (batch, c_out, c_in, len) = (3, 17, 13, 67);
    let w = rng.vec(c_out * c_in, -1.0, 1.0);
    let x = rng.vec(batch * c_in * len, -1.0, 1.0);
    let bias = rng.vec(c_out, -1.0, 1.0);
    let tw = Tensor::from_slice(&ctx, &[1, c_out, c_in], &w).unwrap();
    let tx = Tensor::from_slice(&ctx, &[batch, c_in, len], &x).unwrap();
    let tb = Tensor::from_slice(&ctx, &[c_out], &bias).unwrap();
    let out = Tensor::zeros(&ctx, &[batch, c_out, len], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let options = MatmulOptions {
        bias: Some(&tb),
        bias_per_row: true,
        ..Default::default()
    };
    matmul(&mut rec, &tw, &tx, &out, &options).unwrap();
    rec.submit().unwrap();
    let mut expected = vec![0.0f32; batch * c_out * len];
    for b in 0..batch {
        for o in 0..c_out {
            for t in 0..len {
                let dot: f64 = (0..c_in)
                    .map(|i| f64::from(w[o * c_in + i]) * f64::from(x[(b * c_in + i) * len + t]))
                    .sum();
                expected[(b * c_out + o) * len + t] = (dot + f64::from(bias[o])) as f32;
            }
        }
    }
    // K = 13 products in f32: 4 eps K absolute.
    assert_close(
        &out.to_vec(&ctx).unwrap(),
        &expected,
        1e-5,
        4.0 * f32::EPSILON * 13.0,
    );
    // A per-row bias of N elements is refused when M != N.
    let wrong = Tensor::zeros(&ctx, &[len], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let options = MatmulOptions {
        bias: Some(&wrong),
        bias_per_row: true,
        ..Default::default()
    };
    assert!(matmul(&mut rec, &tw, &tx, &out, &options).is_err());
}

#[test]
fn split_products_recorded_back_to_back_share_the_scratch_correctly() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(18);
    // The second product needs more partial sums than the first (the scratch grows between
    // them), the third fewer (it reuses the grown one); all in one submission.
    let shapes = [(5, 7, 300, 3), (9, 40, 500, 6), (4, 3, 200, 2)];
    let cases: Vec<_> = shapes
        .iter()
        .map(|&(m, n, k, _)| (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0)))
        .collect();
    let mut rec = Recorder::new(&ctx);
    let mut outs = Vec::new();
    for (&(m, n, k, splits), (a, b)) in shapes.iter().zip(&cases) {
        let a_t = Tensor::from_slice(&ctx, &[m, k], a).unwrap();
        let b_t = Tensor::from_slice(&ctx, &[k, n], b).unwrap();
        let out = Tensor::zeros(&ctx, &[m, n], DType::F32).unwrap();
        let options = MatmulOptions {
            k_splits: Some(splits),
            ..Default::default()
        };
        matmul(&mut rec, &a_t, &b_t, &out, &options).unwrap();
        outs.push((out, a_t, b_t));
    }
    rec.submit().unwrap();
    for ((&(m, n, k, _), (a, b)), (out, _, _)) in shapes.iter().zip(&cases).zip(&outs) {
        let expected = cpu_matmul::matmul(
            shape(1, m, n, k, false, false),
            a,
            b,
            None,
            Activation::None,
        );
        let (rel, abs) = tolerance(k);
        assert_close(&out.to_vec(&ctx).unwrap(), &expected, rel, abs);
    }
}
