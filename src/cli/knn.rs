//! `hark knn`: anomaly scores of test vectors by cosine k-nearest neighbours among training
//! vectors, both `.npy` files, on the GPU.

use std::path::PathBuf;

use clap::Args;
use hark::io::npy::{read_npy, write_npy, NpyArray};
use hark::knn::{CosineIndex, IndexOptions};
use hark::paths::check_apart;
use hark::{Context, DType, HarkError};

#[derive(Debug, Args)]
pub struct KnnArgs {
    /// Training (normal) vectors: a float32/float64 `.npy` of shape [rows, dim] (higher ranks are
    /// read as [rows, product of the rest]).
    #[arg(long)]
    train: PathBuf,
    /// Test vectors, same dim as --train.
    #[arg(long)]
    test: PathBuf,
    /// Neighbours averaged per test vector.
    #[arg(long, default_value_t = 1, value_parser = super::values::positive_usize)]
    k: usize,
    /// Output `.npy` of shape [test rows]: score = 1 - mean cosine similarity of the k most
    /// similar training vectors (0 for a vector identical in direction to its neighbours, up to
    /// 2; higher = more anomalous).
    #[arg(long)]
    out: PathBuf,
    /// Store the training vectors as f16 on the GPU (needs SHADER_F16).
    #[arg(long)]
    f16: bool,
}

fn as_rows(what: &str, array: &NpyArray) -> hark::Result<(usize, usize)> {
    match array.shape[..] {
        [] => Err(HarkError::invalid(
            "knn",
            format!("{what} is a scalar, expected [rows, dim]"),
        )),
        [rows] => Ok((rows, 1)),
        [rows, ref rest @ ..] => Ok((rows, rest.iter().product())),
    }
}

pub fn run(args: &KnnArgs) -> hark::Result<()> {
    check_apart(
        "knn",
        ("--out", &args.out),
        &[("--train", &args.train), ("--test", &args.test)],
    )?;
    let train = read_npy(&args.train)?;
    let test = read_npy(&args.test)?;
    let (train_rows, dim) = as_rows("--train", &train)?;
    let (test_rows, test_dim) = as_rows("--test", &test)?;
    if dim != test_dim {
        return Err(HarkError::shape(
            "knn",
            format!(
                "--train {:?} and --test {:?} have different dims ({dim} vs {test_dim})",
                train.shape, test.shape
            ),
        ));
    }
    if train_rows == 0 || dim == 0 {
        return Err(HarkError::Dataset {
            path: args.train.display().to_string(),
            detail: format!(
                "--train holds no vectors (shape {:?}): the kNN database is empty",
                train.shape
            ),
        });
    }
    if args.k > train_rows {
        return Err(HarkError::invalid(
            "knn",
            format!(
                "--k {} exceeds the {train_rows} training vector(s) in {}",
                args.k,
                args.train.display()
            ),
        ));
    }
    let ctx = Context::new()?;
    let options = IndexOptions {
        storage: if args.f16 { DType::F16 } else { DType::F32 },
        ..Default::default()
    };
    let index = CosineIndex::from_slice(&ctx, &train.data, dim, options)?;
    let (_, sims) = index.search(&test.data, args.k)?;
    let scores: Vec<f32> = if test_rows == 0 {
        Vec::new()
    } else {
        sims.chunks(args.k)
            .map(|row| 1.0 - row.iter().map(|&s| f64::from(s)).sum::<f64>() as f32 / args.k as f32)
            .collect()
    };
    write_npy(&args.out, &[test_rows], &scores)?;
    println!(
        "{test_rows} test vectors scored against {train_rows} training vectors (dim {dim}, k {}) \
         -> {}",
        args.k,
        args.out.display()
    );
    Ok(())
}
