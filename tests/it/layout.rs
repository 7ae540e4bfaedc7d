//! Every integration test is compiled: Cargo.toml sets `autotests = false`, so a test file
//! outside `tests/it/`, or one `main.rs` does not declare, would silently never run.

use std::path::Path;

fn rust_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            path.file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn no_test_file_lives_outside_the_it_crate() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let stray = rust_files(&tests);
    assert!(
        stray.is_empty(),
        "tests/{{{}}}.rs would never be compiled: move each to tests/it/<name>.rs (git mv), \
         declare it with `mod <name>;` in tests/it/main.rs, replace its `mod support;` \
         with `use crate::support;`, and run it with `cargo test --test it <name>::`",
        stray.join(",")
    );
}

#[test]
fn main_declares_every_module_of_the_it_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).expect("read tests/it/main.rs");
    let missing: Vec<String> = rust_files(&dir)
        .into_iter()
        .filter(|name| name != "main" && !main.lines().any(|l| l.trim() == format!("mod {name};")))
        .collect();
    assert!(
        missing.is_empty(),
        "tests/it/{{{}}}.rs would never be compiled: declare each with `mod <name>;` in tests/it/main.rs",
        missing.join(",")
    );
}
