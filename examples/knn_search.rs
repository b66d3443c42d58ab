//! Cosine top-k over `.npy` embeddings through hark's API: `knn_search [db.npy queries.npy k]`.
//! Without arguments it writes a small synthetic database (three clusters of 64-dim rows) and
//! queries near them to a temporary folder, then searches those. Run:
//! `cargo run --release --example knn_search`.

use std::path::PathBuf;

use hark::io::npy::{read_npy, write_npy};
use hark::knn::{CosineIndex, IndexOptions};
use hark::testing::SeededRng;
use hark::Context;

/// A database of `rows` points around three random directions and `queries` more of them.
fn write_demo_files(dir: &std::path::Path) -> hark::Result<(PathBuf, PathBuf)> {
    let dim = 64;
    let mut rng = SeededRng::new(7);
    let centres: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(dim, -1.0, 1.0)).collect();
    let mut points = |n: usize| -> Vec<f32> {
        (0..n)
            .flat_map(|i| {
                let centre = centres[i % 3].clone();
                centre
                    .into_iter()
                    .map(|c| c + rng.uniform(-0.2, 0.2))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let db = dir.join("database.npy");
    let queries = dir.join("queries.npy");
    write_npy(&db, &[300, dim], &points(300))?;
    write_npy(&queries, &[4, dim], &points(4))?;
    Ok((db, queries))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let temp = tempfile::tempdir()?;
    let (db_path, query_path, k) = match args.as_slice() {
        [db, queries, k] => (PathBuf::from(db), PathBuf::from(queries), k.parse()?),
        [] => {
            let (db, queries) = write_demo_files(temp.path())?;
            (db, queries, 5)
        }
        _ => return Err("usage: knn_search [database.npy queries.npy k]".into()),
    };
    let ctx = Context::new()?;
    let db = read_npy(&db_path)?;
    let queries = read_npy(&query_path)?;
    let (&[rows, dim], &[nq, qdim]) = (db.shape.as_slice(), queries.shape.as_slice()) else {
        return Err("both files must hold 2-D float arrays".into());
    };
    if dim != qdim {
        return Err(format!("database rows have {dim} values, queries {qdim}").into());
    }
    // Rows are L2-normalised on the GPU when the index is built; queries at search time.
    let index = CosineIndex::from_slice(&ctx, &db.data, dim, IndexOptions::default())?;
    let (indices, sims) = index.search(&queries.data, k)?;
    println!(
        "{nq} queries against {rows} x {dim} ({}), top {k}:",
        db_path.display()
    );
    for q in 0..nq {
        let hits: Vec<String> = (0..k)
            .map(|j| format!("{} ({:.3})", indices[q * k + j], sims[q * k + j]))
            .collect();
        println!("  query {q}: {}", hits.join(", "));
    }
    Ok(())
}
