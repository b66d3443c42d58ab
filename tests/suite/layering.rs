//! The crate's dependency rules, checked on its sources: production code (everything under
//! `src/` outside `src/testing.rs` and outside `#[cfg(test)]` modules) never uses `testing`;
//! seeded randomness comes from `rng`; the CPU references (`cpu/`) and the parameter types they
//! share with the kernels (`params/`) depend on nothing else in hark, so a reference cannot reuse
//! the GPU code it checks.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part of a source file before its first `#[cfg(test)]` item.
fn production_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

#[test]
fn production_code_never_uses_the_testing_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("testing.rs")) {
        let text = std::fs::read_to_string(file).expect("source file is readable");
        for (n, line) in production_part(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("testing::") {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "production code uses `testing`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_rule_check_sees_test_modules_apart() {
    let text =
        "use crate::rng::SeededRng;\n#[cfg(test)]\nmod tests { use crate::testing::compare; }";
    assert!(!production_part(text).contains("testing::"));
    assert!(production_part("use crate::testing::SeededRng;").contains("testing::"));
}

/// The hark modules `cpu/` and `params/` may name: each other, `error` and `rng`.
const REFERENCE_SIDE_MAY_USE: [&str; 4] = ["cpu", "params", "error", "rng"];

/// `crate::<module>` paths in the code (not the comments) of `text` that name a module outside
/// `allowed`, as `line: text`.
fn foreign_crate_paths(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in production_part(text).lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let module: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                .collect();
            if module.starts_with('{') || !allowed.contains(&module.as_str()) {
                found.push(format!("{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn cpu_references_and_params_depend_on_nothing_else_in_hark() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("cpu"), &mut files);
    rust_files(&src.join("params"), &mut files);
    assert!(files.len() > 40, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source file is readable");
        for hit in foreign_crate_paths(&text, &REFERENCE_SIDE_MAY_USE) {
            offenders.push(format!("{}:{hit}", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "cpu/ or params/ reaches into the rest of hark (move the shared type into params/):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_reference_side_check_catches_a_foreign_path() {
    let allowed = REFERENCE_SIDE_MAY_USE;
    assert!(foreign_crate_paths("use crate::params::fft::twiddle_table;", &allowed).is_empty());
    assert!(foreign_crate_paths("//! see [`crate::kernels::fft`]", &allowed).is_empty());
    assert_eq!(
        foreign_crate_paths("use crate::kernels::matmul::Activation;", &allowed).len(),
        1
    );
    assert_eq!(
        foreign_crate_paths("use crate::{cpu, knn};", &allowed).len(),
        1
    );
    assert_eq!(
        foreign_crate_paths("let w: &crate::knn::Whitening = x;", &allowed).len(),
        1
    );
}
