//! House rules checked as a test: every Rust file starts with a `//!` line saying what it is, and no
//! test is ignored or expected to panic.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_says_what_it_is_and_no_test_is_skipped() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    assert!(files.len() > 20);
    let mut problems = Vec::new();
    let ignore = ["#[", "ignore"].concat();
    let should_panic = ["#[", "should_panic"].concat();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        if !text.starts_with("//!") && !text.starts_with("/*") {
            problems.push(format!("{shown}: does not start with a `//!` line"));
        }
        if text.contains(&ignore) || text.contains(&should_panic) {
            problems.push(format!("{shown}: ignores a test or expects a panic"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
