//! A tiny `#import` step for WGSL, in the spirit of vello's shader preprocessor: a line
//! `#import path/to/file.wgsl` (the path relative to `shaders/`) is replaced by that file's text,
//! itself expanded the same way. Each file enters one expanded shader at most once (a second
//! import of it is dropped), so two preludes may both import a third. A missing file or an
//! import cycle is an error that names the chain.

use std::collections::HashSet;
use std::fmt;

/// Why a shader could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// `file` line `line` imports `import`, which the lookup does not know.
    Missing {
        file: String,
        line: usize,
        import: String,
    },
    /// The imports lead back to a file being expanded: `chain` runs from the shader to the file
    /// imported again.
    Cycle { chain: Vec<String> },
    /// `file` line `line` starts with `#import` but names no path.
    Malformed { file: String, line: usize },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Missing { file, line, import } => {
                write!(f, "{file}:{line}: #import {import}: no such shader file")
            }
            ImportError::Cycle { chain } => {
                write!(f, "#import cycle: {}", chain.join(" -> "))
            }
            ImportError::Malformed { file, line } => {
                write!(f, "{file}:{line}: #import names no file")
            }
        }
    }
}

impl std::error::Error for ImportError {}

/// The path a line imports, if it is an `#import` line (`Some("")` when it names none).
pub fn import_path(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("#import")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(rest.trim())
}

/// `text` (the file `path`) with its imports expanded; `lookup` gives a file's text by its path.
pub fn expand<'a>(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, ImportError> {
    let mut out = String::with_capacity(text.len());
    let mut stack = vec![path.to_string()];
    let mut included = HashSet::new();
    included.insert(path.to_string());
    expand_into(text, &lookup, &mut stack, &mut included, &mut out)?;
    Ok(out)
}

fn expand_into<'a>(
    text: &str,
    lookup: &impl Fn(&str) -> Option<&'a str>,
    stack: &mut Vec<String>,
    included: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), ImportError> {
    for (index, line) in text.lines().enumerate() {
        let Some(import) = import_path(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let file = stack.last().cloned().unwrap_or_default();
        if import.is_empty() {
            return Err(ImportError::Malformed {
                file,
                line: index + 1,
            });
        }
        if stack.iter().any(|p| p == import) {
            let mut chain = stack.clone();
            chain.push(import.to_string());
            return Err(ImportError::Cycle { chain });
        }
        if !included.insert(import.to_string()) {
            continue;
        }
        let Some(imported) = lookup(import) else {
            return Err(ImportError::Missing {
                file,
                line: index + 1,
                import: import.to_string(),
            });
        };
        stack.push(import.to_string());
        expand_into(imported, lookup, stack, included, out)?;
        stack.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> Option<&'static str> {
        match name {
            "a.wgsl" => Some("// a\n#import b.wgsl\n#import c.wgsl\nfn a() {}\n"),
            "b.wgsl" => Some("#import c.wgsl\nfn b() {}\n"),
            "c.wgsl" => Some("fn c() {}\n"),
            "loop1.wgsl" => Some("#import loop2.wgsl\n"),
            "loop2.wgsl" => Some("  #import loop1.wgsl\n"),
            "missing.wgsl" => Some("fn m() {}\n#import nowhere.wgsl\n"),
            "bare.wgsl" => Some("#import\n"),
            _ => None,
        }
    }

    #[test]
    fn imports_expand_recursively_once_each() {
        let text = files("a.wgsl").unwrap();
        let out = expand("a.wgsl", text, files).unwrap();
        assert_eq!(out, "// a\nfn c() {}\nfn b() {}\nfn a() {}\n");
    }

    #[test]
    fn text_without_imports_is_unchanged() {
        let out = expand("c.wgsl", "fn c() {}\n// #import x\n", files).unwrap();
        assert_eq!(out, "fn c() {}\n// #import x\n");
        assert_eq!(import_path("#imports x"), None);
    }

    #[test]
    fn a_missing_import_is_an_error() {
        let err = expand("missing.wgsl", files("missing.wgsl").unwrap(), files).unwrap_err();
        assert_eq!(
            err,
            ImportError::Missing {
                file: "missing.wgsl".into(),
                line: 2,
                import: "nowhere.wgsl".into()
            }
        );
        assert!(err.to_string().contains("missing.wgsl:2"));
    }

    #[test]
    fn a_cycle_is_an_error() {
        let err = expand("loop1.wgsl", files("loop1.wgsl").unwrap(), files).unwrap_err();
        assert_eq!(
            err,
            ImportError::Cycle {
                chain: vec![
                    "loop1.wgsl".into(),
                    "loop2.wgsl".into(),
                    "loop1.wgsl".into()
                ]
            }
        );
        assert!(err
            .to_string()
            .contains("loop1.wgsl -> loop2.wgsl -> loop1.wgsl"));
    }

    #[test]
    fn an_import_without_a_path_is_an_error() {
        let err = expand("bare.wgsl", "#import\n", files).unwrap_err();
        assert!(matches!(err, ImportError::Malformed { line: 1, .. }));
    }
}
