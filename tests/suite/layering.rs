//! The crate's dependency rules, checked on its sources: production code (everything under
//! `src/` outside `src/testing.rs` and outside `#[cfg(test)]` modules) never uses `testing`;
//! seeded randomness comes from `rng`.

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
