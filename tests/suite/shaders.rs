//! Every shader, its `#import`s expanded, is valid WGSL (naga parses and validates it, no GPU
//! needed); the one list of shaders and the list of preludes in `src/shaders/mod.rs` name exactly
//! the files under `shaders/`; every import resolves and every prelude is imported somewhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hark::shaders::preprocess::{self, import_path};
use hark::shaders::{prelude_source, Shader, PRELUDES};

fn wgsl_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            found.push(path);
        }
    }
}

fn shader_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

fn files_on_disk() -> Vec<String> {
    let root = shader_root();
    let mut files = Vec::new();
    wgsl_files(&root, &mut files);
    let mut on_disk: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    on_disk.sort();
    on_disk
}

#[test]
fn the_shader_and_prelude_lists_name_every_file_once() {
    let root = shader_root();
    let mut listed: Vec<String> = Shader::ALL.iter().map(|s| s.path().to_string()).collect();
    listed.extend(PRELUDES.iter().map(|p| p.path.to_string()));
    listed.sort();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice");
    assert_eq!(
        listed,
        files_on_disk(),
        "src/shaders/mod.rs and shaders/ disagree"
    );
    for shader in Shader::ALL {
        assert!(
            !shader.path().starts_with("common/"),
            "{}: shaders/common/ holds preludes only",
            shader.path()
        );
        let text = std::fs::read_to_string(root.join(shader.path())).unwrap();
        assert_eq!(
            text,
            shader.raw_source(),
            "{} is stale in the binary",
            shader.path()
        );
    }
    for prelude in PRELUDES {
        assert!(
            prelude.path.starts_with("common/"),
            "{}: preludes live in shaders/common/",
            prelude.path
        );
        let text = std::fs::read_to_string(root.join(prelude.path)).unwrap();
        assert_eq!(
            text, prelude.source,
            "{} is stale in the binary",
            prelude.path
        );
        assert!(
            text.starts_with("//"),
            "{}: a prelude opens with a comment saying what it holds and who includes it",
            prelude.path
        );
    }
}

/// The files `text` imports, directly or through preludes, added to `seen`.
fn imports_of(text: &str, seen: &mut BTreeSet<String>) {
    for line in text.lines() {
        if let Some(path) = import_path(line) {
            if seen.insert(path.to_string()) {
                if let Some(imported) = prelude_source(path) {
                    imports_of(imported, seen);
                }
            }
        }
    }
}

#[test]
fn every_import_resolves_and_every_prelude_is_used() {
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for shader in Shader::ALL {
        if let Err(e) = preprocess::expand(shader.path(), shader.raw_source(), prelude_source) {
            failures.push(e.to_string());
        }
        imports_of(shader.raw_source(), &mut used);
    }
    for prelude in PRELUDES {
        if let Err(e) = preprocess::expand(prelude.path, prelude.source, prelude_source) {
            failures.push(e.to_string());
        }
        if !used.contains(prelude.path) {
            failures.push(format!("{}: no shader imports it", prelude.path));
        }
    }
    assert!(failures.is_empty(), "bad imports:\n{}", failures.join("\n"));
}

#[test]
fn expansion_reports_a_missing_import_and_a_cycle() {
    let lookup = |path: &str| match path {
        "common/a.wgsl" => Some("#import common/b.wgsl\n"),
        "common/b.wgsl" => Some("#import common/a.wgsl\n"),
        _ => prelude_source(path),
    };
    let missing = preprocess::expand("x.wgsl", "#import common/none.wgsl\n", lookup).unwrap_err();
    assert!(
        matches!(missing, preprocess::ImportError::Missing { .. }),
        "{missing}"
    );
    let cycle = preprocess::expand("x.wgsl", "#import common/a.wgsl\n", lookup).unwrap_err();
    assert!(
        matches!(cycle, preprocess::ImportError::Cycle { .. }),
        "{cycle}"
    );
    assert!(cycle
        .to_string()
        .contains("common/a.wgsl -> common/b.wgsl -> common/a.wgsl"));
}

#[test]
fn every_shader_parses_and_validates_with_naga() {
    let mut failures = Vec::new();
    for shader in Shader::ALL {
        let source = shader.source();
        let module = match naga::front::wgsl::parse_str(source) {
            Ok(module) => module,
            Err(e) => {
                failures.push(e.emit_to_string_with_path(source, shader.path()));
                continue;
            }
        };
        // Default capabilities: what every WebGPU device accepts. A shader that needs more
        // (f16, subgroups) must say so here and keep a fallback.
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(e.emit_to_string_with_path(source, shader.path()));
        }
        if module.entry_points.is_empty() {
            failures.push(format!("{}: no entry point", shader.path()));
        }
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
}
