//! hark's GMM EM against scikit-learn's `GaussianMixture` from the same initialisation
//! (tests/fixtures/gmm/make_gmm_fixture.py writes the reference).

use std::path::PathBuf;

use hark::detect::gmm::{GaussianMixture, GmmInit, GmmOptions};
use hark::io::npy::read_npy;

fn fixture(name: &str) -> Vec<f64> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/gmm", name]
        .iter()
        .collect();
    read_npy(&path.with_extension("npy"))
        .unwrap()
        .data
        .into_iter()
        .map(f64::from)
        .collect()
}

/// `|a - b| <= rel * max(|a|, |b|) + abs` elementwise, naming the first failure.
fn assert_close_f64(what: &str, actual: &[f64], expected: &[f64], rel: f64, abs: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tol = rel * a.abs().max(e.abs()) + abs;
        assert!(
            (a - e).abs() <= tol,
            "{what}[{i}]: {a} vs {e} (tol {tol:e})"
        );
    }
}

#[test]
fn em_from_the_same_start_matches_scikit_learn() {
    let dim = 5;
    let data = fixture("data");
    let init = GmmInit {
        weights: fixture("weights_init"),
        means: fixture("means_init"),
        precisions: fixture("precisions_init"),
    };
    let options = GmmOptions {
        components: 3,
        reg_covar: 1e-4,
        tol: 1e-3,
        max_iter: 100,
        ..Default::default()
    };
    let gmm = GaussianMixture::fit_from(&data, dim, &init, &options).unwrap();
    assert!(gmm.converged);
    assert_eq!(gmm.n_iter as f64, fixture("n_iter")[0], "EM iterations");
    // The reference parameters were stored as f64 but read back through hark's f32 .npy
    // reader, so agreement is to f32 rounding (~6e-8 relative) plus EM's own f64 noise.
    assert_close_f64("weights", &gmm.weights, &fixture("weights"), 1e-6, 1e-9);
    assert_close_f64("means", &gmm.means, &fixture("means"), 1e-6, 1e-6);
    assert_close_f64(
        "covariances",
        &gmm.covariances,
        &fixture("covariances"),
        1e-6,
        1e-6,
    );
    let on_data = gmm.score_samples(&data).unwrap();
    assert_close_f64(
        "score_samples(data)",
        &on_data,
        &fixture("score_samples_data"),
        1e-6,
        1e-6,
    );
    let on_queries = gmm.score_samples(&fixture("queries")).unwrap();
    assert_close_f64(
        "score_samples(queries)",
        &on_queries,
        &fixture("score_samples_queries"),
        1e-6,
        1e-6,
    );
    // The anomaly score is the negative log-likelihood.
    let nll = gmm.negative_log_likelihood(&data).unwrap();
    assert!(nll.iter().zip(&on_data).all(|(n, l)| *n == -*l));
}

#[test]
fn a_wrong_start_is_refused() {
    let data = fixture("data");
    let init = GmmInit {
        weights: vec![1.0],
        means: vec![0.0; 4],
        precisions: vec![0.0; 25],
    };
    assert!(GaussianMixture::fit_from(&data, 5, &init, &GmmOptions::default()).is_err());
}
