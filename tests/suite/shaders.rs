//! Every shader is valid WGSL as written (naga parses and validates it, no GPU needed), and the
//! one list of shaders in `src/shaders.rs` names exactly the files under `shaders/`.

use std::path::{Path, PathBuf};

use hark::shaders::Shader;

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

#[test]
fn the_shader_list_names_every_file_once() {
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
    let mut listed: Vec<String> = Shader::ALL.iter().map(|s| s.path().to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "src/shaders.rs and shaders/ disagree");
    for shader in Shader::ALL {
        let text = std::fs::read_to_string(root.join(shader.path())).unwrap();
        assert_eq!(
            text,
            shader.source(),
            "{} is stale in the binary",
            shader.path()
        );
    }
}

#[test]
fn every_shader_parses_and_validates_with_naga() {
    let mut failures = Vec::new();
    for shader in Shader::ALL {
        let module = match naga::front::wgsl::parse_str(shader.source()) {
            Ok(module) => module,
            Err(e) => {
                failures.push(e.emit_to_string_with_path(shader.source(), shader.path()));
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
            failures.push(e.emit_to_string_with_path(shader.source(), shader.path()));
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
