//! GPU vs CPU for the kNN family: row normalisation, score tiles, top-k selection, cosine search
//! through [`CosineIndex`] (f32 and f16 storage, forced chunking and tiling), k-means and
//! Mahalanobis search, and the typed errors.
//!
//! Exact index equality needs similarities that the GPU's f32 and the reference's f64 rank the
//! same way. Most tests therefore use "dyadic" rows: m = 1, 4, 16, 64 or 256 entries of
//! +-2^e, so that every norm is a power of two, every normalised entry is +-2^-j and every
//! similarity is a short sum of powers of two: exact in f32, f16 and f64 alike. Distinct
//! similarities then differ by at least 1/256 and equal ones are bitwise equal, so the tie rule
//! (lower index first) is exercised hard and any rank difference is a bug. Generic random data
//! is tested too, where positions whose reference scores differ by less than the f32 error may
//! legitimately swap.

use hark::cpu;
use hark::kernels::knn::{
    self, download_indices, max_k, Metric, ScoreTile, SelectTile, EMPTY_INDEX,
};
use hark::knn::{
    kmeans, CosineIndex, Distance, IndexOptions, KMeansOptions, MahalanobisIndex, Whitening,
};
use hark::testing::{assert_close, test_context, SeededRng};
use hark::{Context, DType, HarkError, Recorder, Tensor};

/// Similarities of dyadic rows are exact on both sides; 1e-6 absolute only absorbs the f64 -> f32
/// rounding of the reference (|s| <= 1).
const EXACT_ABS: f32 = 1e-6;

/// Cosine similarities of generic unit rows of dim <= 256: f32 sums of 256 products carry at
/// most ~256 * 2^-24 ~ 1.5e-5 relative error in the worst case, ~1e-6 typically; 2e-5 absolute
/// (|s| <= 1) covers the worst case plus the normalisation.
const GENERIC_ABS: f32 = 2e-5;

/// Dyadic rows (see the module docs): `count` rows of `dim`, a few of them all zero.
fn dyadic_rows(rng: &mut SeededRng, count: usize, dim: usize) -> Vec<f32> {
    let sizes: Vec<usize> = [1, 4, 16, 64, 256]
        .into_iter()
        .filter(|&m| m <= dim)
        .collect();
    let mut out = vec![0.0f32; count * dim];
    for row in out.chunks_mut(dim) {
        if rng.next_u64().is_multiple_of(23) {
            continue;
        }
        let m = sizes[(rng.next_u64() % sizes.len() as u64) as usize];
        let scale = [0.25f32, 1.0, 2.0, 8.0][(rng.next_u64() % 4) as usize];
        let mut positions: Vec<usize> = (0..dim).collect();
        for i in 0..m {
            let j = i + (rng.next_u64() % (dim - i) as u64) as usize;
            positions.swap(i, j);
            let sign = if rng.next_u64().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            row[positions[i]] = sign * scale;
        }
    }
    out
}

fn index(ctx: &Context, data: &[f32], dim: usize, options: IndexOptions) -> CosineIndex {
    CosineIndex::from_slice(ctx, data, dim, options).unwrap()
}

/// GPU search vs the f64 reference: indices exactly equal, similarities within `abs`.
fn check_exact(
    ctx: &Context,
    queries: &[f32],
    database: &[f32],
    dim: usize,
    k: usize,
    options: IndexOptions,
) {
    let (gpu_idx, gpu_sims) = index(ctx, database, dim, options)
        .search(queries, k)
        .unwrap();
    let (cpu_idx, cpu_sims) = cpu::knn::cosine_topk(queries, database, dim, k);
    let n = database.len() / dim;
    assert_eq!(
        gpu_idx,
        cpu_idx,
        "indices differ: {} queries x {n} rows, dim {dim}, k {k}, {options:?}",
        queries.len() / dim
    );
    assert_close(&gpu_sims, &cpu_sims, 0.0, EXACT_ABS);
}

#[test]
fn cosine_topk_matches_cpu_on_purposeful_shapes() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(71);
    // (queries, database rows, dim, k): one query; one row; primes and sizes that are not
    // multiples of the 64-wide tiles or the 256-thread rounds; k = 1, 16, 256 and k = rows.
    let cases = [
        (1, 1, 1, 1),
        (1, 97, 7, 1),
        (3, 97, 7, 16),
        (7, 31, 7, 31),
        (67, 257, 16, 16),
        (2, 1031, 256, 256),
        (5, 300, 64, 300),
        (1, 4099, 7, 16),
        (13, 509, 1, 256),
    ];
    for (nq, n, dim, k) in cases {
        let queries = dyadic_rows(&mut rng, nq, dim);
        let database = dyadic_rows(&mut rng, n, dim);
        check_exact(&ctx, &queries, &database, dim, k, IndexOptions::default());
    }
}

#[test]
fn cosine_topk_breaks_ties_by_lower_index() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(72);
    // 40 distinct rows, each stored 5 times at scattered places (and scaled, which cosine
    // ignores): every similarity is shared by at least 5 rows.
    let dim = 16;
    let base = dyadic_rows(&mut rng, 40, dim);
    let mut slots: Vec<usize> = (0..200).map(|i| i % 40).collect();
    for i in (1..slots.len()).rev() {
        slots.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let database: Vec<f32> = slots
        .iter()
        .enumerate()
        .flat_map(|(i, &r)| {
            let scale = [1.0f32, 0.5, 4.0][i % 3];
            base[r * dim..(r + 1) * dim]
                .iter()
                .map(move |v| v * scale)
                .collect::<Vec<_>>()
        })
        .collect();
    let queries = dyadic_rows(&mut rng, 9, dim);
    for k in [1, 5, 16, 64, 200] {
        check_exact(&ctx, &queries, &database, dim, k, IndexOptions::default());
    }
    // The order within a tie is explicit: equal similarities come in increasing index order.
    let (idx, sims) = index(&ctx, &database, dim, IndexOptions::default())
        .search(&queries, 200)
        .unwrap();
    for (i, s) in idx.chunks(200).zip(sims.chunks(200)) {
        for p in 1..200 {
            assert!(s[p - 1] > s[p] || (s[p - 1] == s[p] && i[p - 1] < i[p]));
        }
    }
}

#[test]
fn cosine_topk_merges_chunks_and_tiles() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(73);
    let dim = 7;
    let database = dyadic_rows(&mut rng, 611, dim);
    let queries = dyadic_rows(&mut rng, 11, dim);
    // Chunks of 37 rows (17 chunks, the last one short) and tiles of 29 or 300 columns: the top-k
    // of every tile of every chunk is merged into the running list on the GPU. k = 100 is more
    // than one chunk holds, so lists start partly empty.
    for (chunk_rows, tile_cols) in [(37, 29), (37, 300), (300, 64), (611, 1)] {
        let options = IndexOptions {
            chunk_rows: Some(chunk_rows),
            tile_cols: Some(tile_cols),
            ..Default::default()
        };
        assert_eq!(
            index(&ctx, &database, dim, options).chunks().len(),
            611usize.div_ceil(chunk_rows)
        );
        for k in [1, 16, 100] {
            check_exact(&ctx, &queries, &database, dim, k, options);
        }
    }
}

#[test]
fn cosine_topk_with_f16_storage() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(74);
    if !ctx.has_f16() {
        // Without SHADER_F16 the build refuses f16 storage with a typed error.
        let data = dyadic_rows(&mut rng, 10, 4);
        let options = IndexOptions {
            storage: DType::F16,
            ..Default::default()
        };
        let err = CosineIndex::from_slice(&ctx, &data, 4, options).unwrap_err();
        assert!(matches!(err, HarkError::DType { .. }), "{err}");
        eprintln!("skipping f16 search: the device lacks SHADER_F16");
        return;
    }
    // Normalised dyadic entries (+-2^-j, j <= 4) are exact in f16, so f16 storage ranks exactly.
    // Odd dims put rows across f16 word boundaries.
    for (nq, n, dim, k, chunk_rows) in [
        (3, 97, 7, 16, None),
        (5, 513, 64, 256, Some(100)),
        (2, 33, 1, 33, Some(5)),
    ] {
        let queries = dyadic_rows(&mut rng, nq, dim);
        let database = dyadic_rows(&mut rng, n, dim);
        let options = IndexOptions {
            storage: DType::F16,
            chunk_rows,
            tile_cols: Some(50),
        };
        check_exact(&ctx, &queries, &database, dim, k, options);
    }
    // Generic data: f16 rounds each stored entry by up to 2^-11 relative, so a similarity moves
    // by up to ~5e-4; compare the similarities only.
    let dim = 33;
    let database = rng.vec(200 * dim, -1.0, 1.0);
    let queries = rng.vec(4 * dim, -1.0, 1.0);
    let f16 = index(
        &ctx,
        &database,
        dim,
        IndexOptions {
            storage: DType::F16,
            ..Default::default()
        },
    );
    let (_, sims) = f16.search(&queries, 10).unwrap();
    let (_, cpu_sims) = cpu::knn::cosine_topk(&queries, &database, dim, 10);
    assert_close(&sims, &cpu_sims, 0.0, 1e-3);
}

/// Generic data: every GPU index must be the reference's, except where the reference scores of
/// the two candidates differ by less than `tol` (a near tie that f32 may order either way).
fn check_ranking(
    gpu_idx: &[u32],
    gpu_scores: &[f32],
    cpu_idx: &[u32],
    scores_f64: &[f64],
    n: usize,
    k: usize,
    tol: f64,
) -> usize {
    let mut swaps = 0;
    for q in 0..gpu_idx.len() / k {
        let row = &scores_f64[q * n..(q + 1) * n];
        for p in 0..k {
            let (g, c) = (gpu_idx[q * k + p] as usize, cpu_idx[q * k + p] as usize);
            assert!(
                (f64::from(gpu_scores[q * k + p]) - row[g]).abs() <= tol,
                "query {q} position {p}: GPU score {} of index {g}, reference {}",
                gpu_scores[q * k + p],
                row[g]
            );
            if g != c {
                assert!(
                    (row[g] - row[c]).abs() <= tol,
                    "query {q} position {p}: GPU index {g} ({}) vs reference {c} ({})",
                    row[g],
                    row[c]
                );
                swaps += 1;
            }
        }
    }
    swaps
}

#[test]
fn cosine_topk_matches_cpu_on_generic_data() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(75);
    for (nq, n, dim, k) in [(9, 1000, 256, 256), (31, 2000, 7, 16), (4, 500, 1, 3)] {
        let queries = rng.vec(nq * dim, -1.0, 1.0);
        let database = rng.vec(n * dim, -1.0, 1.0);
        let options = IndexOptions {
            chunk_rows: Some(n / 3 + 1),
            tile_cols: Some(128),
            ..Default::default()
        };
        let (gpu_idx, gpu_sims) = index(&ctx, &database, dim, options)
            .search(&queries, k)
            .unwrap();
        let (cpu_idx, cpu_sims) = cpu::knn::cosine_topk(&queries, &database, dim, k);
        assert_close(&gpu_sims, &cpu_sims, 0.0, GENERIC_ABS);
        let qn = cpu::knn::normalize_rows(&queries, dim);
        let xn = cpu::knn::normalize_rows(&database, dim);
        let scores = cpu::knn::similarity(&qn, &xn, dim, Metric::Dot);
        let swaps = check_ranking(
            &gpu_idx,
            &gpu_sims,
            &cpu_idx,
            &scores,
            n,
            k,
            f64::from(GENERIC_ABS),
        );
        eprintln!(
            "{nq} x {n} x {dim}, k {k}: {swaps} near-tie swaps of {}",
            nq * k
        );
    }
}

#[test]
fn normalize_rows_matches_cpu_and_keeps_zero_rows() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(76);
    for (rows, dim) in [(1, 1), (3, 7), (65, 256), (130, 3)] {
        let mut x = rng.vec(rows * dim, -3.0, 3.0);
        x[..dim].iter_mut().for_each(|v| *v = 0.0);
        // A row with one dominant entry: the others normalise to f16 subnormals or zero.
        if rows > 1 && dim > 1 {
            x[dim] = 1e4;
        }
        let tx = Tensor::from_slice(&ctx, &[rows, dim], &x).unwrap();
        let out = Tensor::zeros(&ctx, &[rows, dim], DType::F32).unwrap();
        let mut rec = Recorder::new(&ctx);
        knn::normalize_rows(&mut rec, &tx, &out).unwrap();
        rec.submit().unwrap();
        let got = out.to_vec(&ctx).unwrap();
        // f32 sum of squares and inverseSqrt (2 ulp) against f64: a few ulp per element.
        assert_close(&got, &cpu::knn::normalize_rows(&x, dim), 2e-6, 1e-7);
        assert!(got[..dim].iter().all(|&v| v == 0.0));
        if ctx.has_f16() {
            let half = Tensor::zeros(&ctx, &[rows, dim], DType::F16).unwrap();
            let mut rec = Recorder::new(&ctx);
            knn::normalize_rows(&mut rec, &tx, &half).unwrap();
            rec.submit().unwrap();
            // The same f32 values, rounded to nearest even exactly as the half crate rounds.
            let expected: Vec<f32> = got
                .iter()
                .map(|&v| half::f16::from_f32(v).to_f32())
                .collect();
            assert_eq!(half.to_vec(&ctx).unwrap(), expected);
        }
    }
}

#[test]
fn euclidean_scores_match_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(77);
    let (nq, n, dim) = (70, 133, 19);
    let q = rng.vec(nq * dim, -1.0, 1.0);
    let x = rng.vec(n * dim, -1.0, 1.0);
    let tq = Tensor::from_slice(&ctx, &[nq, dim], &q).unwrap();
    let tx = Tensor::from_slice(&ctx, &[n, dim], &x).unwrap();
    // A tile in the middle of both: queries 3.., database rows 10..
    let tile = ScoreTile {
        q0: 3,
        rows: 66,
        j0: 10,
        cols: 120,
    };
    let out = Tensor::zeros(&ctx, &[66, 120], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    knn::similarity(&mut rec, &tq, &tx, &out, tile, Metric::NegSquaredL2).unwrap();
    rec.submit().unwrap();
    let full = cpu::knn::similarity(&q, &x, dim, Metric::NegSquaredL2);
    let expected: Vec<f32> = (3..69)
        .flat_map(|r| (10..130).map(move |c| (r, c)))
        .map(|(r, c)| full[r * n + c] as f32)
        .collect();
    // 19 f32 squares summed: a few ulp of the sum (<= 76).
    assert_close(&out.to_vec(&ctx).unwrap(), &expected, 1e-5, 1e-5);
}

#[test]
fn topk_select_skips_nan_and_pads_empty_slots() {
    let Some(ctx) = test_context() else { return };
    let nan = f32::NAN;
    let ninf = f32::NEG_INFINITY;
    // Two queries, 6 columns in two tiles of 3 merged in index order.
    let tiles: [[f32; 6]; 2] = [
        [0.5, nan, 0.5, 0.9, ninf, 0.5],
        [nan, nan, 0.1, nan, nan, nan],
    ];
    let k = 4;
    let best = Tensor::zeros(&ctx, &[2, k], DType::F32).unwrap();
    let best_idx = Tensor::zeros(&ctx, &[2, k], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let mut keep = Vec::new();
    for t in 0..2 {
        let data: Vec<f32> = tiles
            .iter()
            .flat_map(|row| row[3 * t..3 * t + 3].to_vec())
            .collect();
        let scores = Tensor::from_slice(&ctx, &[2, 3], &data).unwrap();
        let tile = SelectTile {
            rows: 2,
            q0: 0,
            cols: 3,
            index_base: 3 * t,
        };
        knn::topk_select(&mut rec, &scores, tile, k, t == 0, &best, &best_idx).unwrap();
        keep.push(scores);
    }
    rec.submit().unwrap();
    let idx = download_indices(&ctx, &best_idx).unwrap();
    let sims = best.to_vec(&ctx).unwrap();
    assert_eq!(&idx[..4], &[3, 0, 2, 5]);
    assert_eq!(&sims[..4], &[0.9, 0.5, 0.5, 0.5]);
    assert_eq!(&idx[4..], &[2, EMPTY_INDEX, EMPTY_INDEX, EMPTY_INDEX]);
    assert_eq!(sims[4], 0.1);
    let as_f64: Vec<f64> = tiles.iter().flatten().map(|&v| f64::from(v)).collect();
    assert_eq!(cpu::knn::topk_select(&as_f64, 6, k).0, idx);
}

#[test]
fn knn_reports_bad_arguments() {
    let Some(ctx) = test_context() else { return };
    let data = vec![1.0f32; 10 * 4];
    let idx = index(&ctx, &data, 4, IndexOptions::default());
    let invalid = |r: hark::Result<(Vec<u32>, Vec<f32>)>, needle: &str| {
        let err = r.unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    invalid(idx.search(&[0.0; 4], 0), "k must be at least 1");
    invalid(idx.search(&[0.0; 4], 11), "exceeds the 10 database rows");
    invalid(idx.search(&[0.0; 5], 1), "not whole rows");
    // No queries: an empty answer, not an error.
    assert_eq!(idx.search(&[], 3).unwrap(), (Vec::new(), Vec::new()));
    let err = CosineIndex::from_slice(&ctx, &[], 4, IndexOptions::default()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = CosineIndex::from_slice(&ctx, &data, 0, IndexOptions::default()).unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");

    // The kernels' own checks.
    let q = Tensor::zeros(&ctx, &[2, 4], DType::F32).unwrap();
    let x = Tensor::zeros(&ctx, &[10, 5], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[2, 3], DType::F32).unwrap();
    let out_idx = Tensor::zeros(&ctx, &[2, 3], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    let opts = knn::TopkOptions::default();
    let err = knn::cosine_topk(&mut rec, &q, &[&x], 3, &out, &out_idx, &opts).unwrap_err();
    assert!(matches!(err, HarkError::Shape { .. }), "{err}");
    let err = knn::cosine_topk(&mut rec, &q, &[], 3, &out, &out_idx, &opts).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let too_big = max_k(ctx.limits()) * 2;
    let big = Tensor::zeros(&ctx, &[too_big + 1, 4], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[2, too_big], DType::F32).unwrap();
    let out_idx = Tensor::zeros(&ctx, &[2, too_big], DType::F32).unwrap();
    let err = knn::cosine_topk(&mut rec, &q, &[&big], too_big, &out, &out_idx, &opts).unwrap_err();
    assert!(err.to_string().contains("selects at most"), "{err}");
    assert_eq!(rec.dispatch_count(), 0);
}

/// Points around `centres` well-separated directions/centres, then shuffled.
fn blobs(rng: &mut SeededRng, centres: usize, per: usize, dim: usize, spread: f32) -> Vec<f32> {
    let mut out = Vec::new();
    let means: Vec<Vec<f32>> = (0..centres).map(|_| rng.vec(dim, -10.0, 10.0)).collect();
    for i in 0..centres * per {
        let m = &means[i % centres];
        out.extend(m.iter().map(|&v| v + rng.uniform(-spread, spread)));
    }
    out
}

fn check_kmeans(ctx: &Context, data: &[f32], dim: usize, options: KMeansOptions) {
    let gpu = kmeans(ctx, data, dim, &options).unwrap();
    let cpu = cpu::knn::kmeans(data, dim, &options).unwrap();
    let differ = gpu
        .assignments
        .iter()
        .zip(&cpu.assignments)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "{differ} assignments differ, {options:?}");
    // Centroids are f32 means of up to a few hundred points against f64 ones.
    assert_close(&gpu.centroids, &cpu.centroids, 1e-4, 1e-4);
}

#[test]
fn kmeans_matches_cpu_on_separated_and_generic_data() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(78);
    for distance in [Distance::Cosine, Distance::Euclidean] {
        let dim = 13;
        let separated = blobs(&mut rng, 5, 61, dim, 1.0);
        let options = KMeansOptions {
            clusters: 5,
            iterations: 4,
            distance,
            seed: 3,
        };
        check_kmeans(&ctx, &separated, dim, options);
        let generic = rng.vec(401 * 8, -1.0, 1.0);
        let options = KMeansOptions {
            clusters: 7,
            iterations: 6,
            distance,
            seed: 9,
        };
        check_kmeans(&ctx, &generic, 8, options);
    }
}

#[test]
fn kmeans_is_deterministic_and_checks_arguments() {
    let Some(ctx) = test_context() else { return };
    let data = SeededRng::new(79).vec(50 * 3, -1.0, 1.0);
    let options = KMeansOptions {
        clusters: 4,
        iterations: 3,
        distance: Distance::Euclidean,
        seed: 1,
    };
    assert_eq!(
        kmeans(&ctx, &data, 3, &options).unwrap(),
        kmeans(&ctx, &data, 3, &options).unwrap()
    );
    // Every point its own cluster: each keeps itself.
    let options = KMeansOptions {
        clusters: 50,
        ..options
    };
    let all = kmeans(&ctx, &data, 3, &options).unwrap();
    let mut sorted = all.assignments.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<u32>>());
    let err = kmeans(
        &ctx,
        &data,
        3,
        &KMeansOptions {
            clusters: 51,
            ..options
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("only 50 points"), "{err}");
    let err = kmeans(
        &ctx,
        &data,
        3,
        &KMeansOptions {
            clusters: 0,
            ..options
        },
    )
    .unwrap_err();
    assert!(matches!(err, HarkError::InvalidArgument { .. }), "{err}");
}

#[test]
fn mahalanobis_matches_cpu() {
    let Some(ctx) = test_context() else { return };
    let mut rng = SeededRng::new(80);
    // Correlated data: x = A z with a random mixing matrix, so whitening matters.
    let (n, nq, dim) = (300, 17, 6);
    let mix = rng.vec(dim * dim, -1.0, 1.0);
    let correlated = |rng: &mut SeededRng, rows: usize| -> Vec<f32> {
        let z = rng.vec(rows * dim, -1.0, 1.0);
        z.chunks(dim)
            .flat_map(|zr| {
                (0..dim)
                    .map(|r| (0..dim).map(|c| mix[r * dim + c] * zr[c]).sum::<f32>() + 3.0)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let database = correlated(&mut rng, n);
    let queries = correlated(&mut rng, nq);
    let options = IndexOptions {
        chunk_rows: Some(70),
        tile_cols: Some(50),
        ..Default::default()
    };
    let index = MahalanobisIndex::from_slice(&ctx, &database, dim, 0.0, options).unwrap();
    let k = 10;
    let (gpu_idx, gpu_d) = index.search(&queries, k).unwrap();
    let w = Whitening::fit(&database, dim, 0.0).unwrap();
    assert_eq!(&w, index.whitening());
    let (cpu_idx, cpu_d) = cpu::knn::mahalanobis_topk(&queries, &database, &w, k);
    // Whitened coordinates are O(3) after an f32 matmul with the f32-rounded transform: squared
    // distances of O(10) carry ~1e-5 relative error.
    assert_close(&gpu_d, &cpu_d, 1e-4, 1e-4);
    let qw = w.apply(&queries);
    let xw = w.apply(&database);
    let scores: Vec<f64> = qw
        .chunks(dim)
        .flat_map(|q| {
            xw.chunks(dim)
                .map(move |x| -q.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
        })
        .collect();
    let neg: Vec<f32> = gpu_d.iter().map(|d| -d).collect();
    let swaps = check_ranking(&gpu_idx, &neg, &cpu_idx, &scores, n, k, 1e-3);
    assert_eq!(swaps, 0, "Mahalanobis ranks differ");
    // The whitening is right: its covariance is the identity.
    let white = w.apply(&database);
    for i in 0..dim {
        for j in 0..dim {
            let mean_i: f64 = white.chunks(dim).map(|r| r[i]).sum::<f64>() / n as f64;
            let mean_j: f64 = white.chunks(dim).map(|r| r[j]).sum::<f64>() / n as f64;
            let c: f64 = white
                .chunks(dim)
                .map(|r| (r[i] - mean_i) * (r[j] - mean_j))
                .sum::<f64>()
                / (n - 1) as f64;
            assert!(
                (c - f64::from(u8::from(i == j))).abs() < 1e-9,
                "cov[{i}][{j}] = {c}"
            );
        }
    }
    let err = MahalanobisIndex::from_slice(&ctx, &database[..dim], dim, 0.0, options).unwrap_err();
    assert!(err.to_string().contains("at least 2 rows"), "{err}");
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"). 70,001 points of
/// dim 2 in 3 clusters: the old kernel looped over every point in one invocation per
/// (cluster, dim), so the tail was dropped. The last points are far from the rest so that a
/// dropped tail moves the means visibly.
#[test]
fn centroid_update_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let (n, dim, clusters) = (70_001usize, 2usize, 3usize);
    let mut rng = SeededRng::new(80);
    let mut points = rng.vec(n * dim, -1.0, 1.0);
    for v in &mut points[(n - 3_000) * dim..] {
        *v += 50.0;
    }
    // Cluster 2 stays empty (keeps its centroid); 0 and 1 alternate.
    let assign: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let centroids = rng.vec(clusters * dim, -1.0, 1.0);
    let words: Vec<f32> = assign.iter().map(|&a| f32::from_bits(a)).collect();
    let pt = Tensor::from_slice(&ctx, &[n, dim], &points).unwrap();
    let at = Tensor::from_slice(&ctx, &[n, 1], &words).unwrap();
    let ct = Tensor::from_slice(&ctx, &[clusters, dim], &centroids).unwrap();
    let out = Tensor::zeros(&ctx, &[clusters, dim], DType::F32).unwrap();
    let mut rec = Recorder::new(&ctx);
    knn::centroid_update(&mut rec, &pt, &at, &ct, &out).unwrap();
    rec.submit().unwrap();
    let expected = cpu::knn::centroid_update(&points, &assign, &centroids, dim);
    // Means of 35,000 values of size <= 51 summed in f32 (4,096 per partial, then in order).
    assert_close(&out.to_vec(&ctx).unwrap(), &expected, 1e-4, 1e-4);
}

/// One query against 400,000 rows with scores rising along the database: every 256-column
/// step of the selection finds new top-k members and sorts, so a single select over the whole
/// database ran ~1,500 sorts in one invocation, far past lavapipe's loop budget. The search
/// must split the database into tiles that each stay within it.
#[test]
fn knn_topk_single_query_over_a_long_database_crosses_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let (rows, k) = (400_000usize, 256usize);
    // Scores i * 1.0: exact in f32, all distinct.
    let database: Vec<f32> = (0..rows).map(|i| i as f32).collect();
    check_one_dim_topk(&ctx, &database, k, "rising");
}

/// The top-k of the query [1] against a one-column database (its scores are the database
/// itself, by dot product) is the CPU's exactly, indices and scores.
fn check_one_dim_topk(ctx: &Context, database: &[f32], k: usize, what: &str) {
    let rows = database.len();
    let query = [1.0f32];
    let q = Tensor::from_slice(ctx, &[1, 1], &query).unwrap();
    let x = Tensor::from_slice(ctx, &[rows, 1], database).unwrap();
    let best = Tensor::zeros(ctx, &[1, k], DType::F32).unwrap();
    let best_idx = Tensor::zeros(ctx, &[1, k], DType::F32).unwrap();
    let mut rec = Recorder::new(ctx);
    let opts = knn::TopkOptions::default();
    knn::knn_topk(&mut rec, &q, &[&x], k, Metric::Dot, &best, &best_idx, &opts).unwrap();
    rec.submit().unwrap();
    let scores = cpu::knn::similarity(&query, database, 1, Metric::Dot);
    let (cpu_idx, cpu_scores) = cpu::knn::topk_select(&scores, rows, k);
    assert_eq!(
        download_indices(ctx, &best_idx).unwrap(),
        cpu_idx,
        "{what}, k {k}"
    );
    assert_eq!(best.to_vec(ctx).unwrap(), cpu_scores, "{what}, k {k}");
}

/// The selection's worst and best orders: scores rising along the database (every column beats
/// the running k-th best, so the candidate buffer fills and merges again and again, with a
/// column retried after each full buffer), falling (nothing after the first k enters) and
/// shuffled, for k = 1, a k that is not a power of two, and the largest k of 32 KiB devices.
#[test]
fn knn_topk_selects_exactly_in_rising_falling_and_shuffled_orders() {
    let Some(ctx) = test_context() else { return };
    let rows = 20_011usize;
    let mut rng = SeededRng::new(75);
    let mut shuffled: Vec<f32> = (0..rows).map(|i| i as f32).collect();
    for i in (1..rows).rev() {
        shuffled.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let orders = [
        ("rising", (0..rows).map(|i| i as f32).collect::<Vec<_>>()),
        ("falling", (0..rows).map(|i| (rows - i) as f32).collect()),
        ("shuffled", shuffled),
    ];
    for (name, database) in &orders {
        for k in [1usize, 300, max_k(ctx.limits()).min(1024)] {
            check_one_dim_topk(&ctx, database, k, name);
        }
    }
}

/// Lavapipe (llvmpipe) ends every loop of an invocation once it has run ~65,535 loop
/// iterations in total (README, "Portability: loop budget per invocation"): a score over dim
/// 40,000 was cut at dim 37,445 there (measured). The direct score kernel (distances, f16
/// databases) refuses dims past the budget (9,344); dot products of an f32 database run on the
/// matmul, which splits K past the budget and so computes them exactly.
#[test]
fn similarity_refuses_dims_past_the_loop_budget() {
    let Some(ctx) = test_context() else { return };
    let dim = 40_000usize;
    let q = Tensor::zeros(&ctx, &[1, dim], DType::F32).unwrap();
    let out = Tensor::zeros(&ctx, &[1, 1], DType::F32).unwrap();
    let tile = ScoreTile {
        q0: 0,
        rows: 1,
        j0: 0,
        cols: 1,
    };
    let mut rec = Recorder::new(&ctx);
    let err = knn::similarity(&mut rec, &q, &q, &out, tile, Metric::NegSquaredL2).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
    let ok = Tensor::zeros(&ctx, &[1, 9_344], DType::F32).unwrap();
    knn::similarity(&mut rec, &ok, &ok, &out, tile, Metric::NegSquaredL2).unwrap();
    let ones = Tensor::from_slice(&ctx, &[1, dim], &vec![1.0; dim]).unwrap();
    knn::similarity(&mut rec, &ones, &ones, &out, tile, Metric::Dot).unwrap();
    rec.submit().unwrap();
    assert_eq!(out.to_vec(&ctx).unwrap(), vec![dim as f32]);
}
