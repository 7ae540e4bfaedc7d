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

/// The names code refers to a `[dependencies]`-style table's entries by: the key, or the
/// `package = "…"` rename's key, with `-` spelled `_`.
fn crate_names(manifest: &toml::Table, table: &str) -> Vec<String> {
    manifest
        .get(table)
        .and_then(toml::Value::as_table)
        .unwrap_or_else(|| panic!("Cargo.toml has no [{table}] table"))
        .keys()
        .map(|key| key.replace('-', "_"))
        .collect()
}

/// `text` without comments and, unless `keep_tests`, without the items under `#[cfg(test)]`
/// (an item runs from the attribute to the brace that closes its first `{`).
fn code_of(text: &str, keep_tests: bool) -> String {
    let text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    if keep_tests {
        return text;
    }
    let mut code = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        let item = &rest[at..];
        let Some(open) = item.find('{') else {
            return code;
        };
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    code.push_str(rest);
    code
}

/// Whether `code` names the crate `name` as a path root (`name::…`, `name!`), not as the
/// tail of another path or identifier.
fn names_crate(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = &code[at + name.len()..];
        let starts_path = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        starts_path && (after.starts_with("::") || after.starts_with('!'))
    })
}

/// The entries of `names` that no text of `code` names.
fn unused(names: &[String], code: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| !code.iter().any(|text| names_crate(text, name)))
        .cloned()
        .collect()
}

fn rust_sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(
                std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
            );
        }
    }
}

#[test]
fn the_dependency_check_finds_an_unused_or_test_only_crate() {
    let names = vec!["serde_json".to_owned(), "rand".to_owned(), "hex".to_owned()];
    let code = code_of(
        "use serde_json::Value;\n// rand::random() in a comment\nfn f() -> String { hex::encode([1]) }\n\
         #[cfg(test)]\nmod tests {\n    fn g() { let _: u8 = rand::random(); }\n}\n",
        false,
    );
    assert_eq!(unused(&names, &[code]), ["rand"]);
    assert!(!names_crate("my_hex::encode(x)", "hex"));
    assert!(!names_crate("crate::hex::encode(x)", "hex"));
    assert!(names_crate("tracing::info!(\"x\")", "tracing"));
}

/// The equivalent of rustc's `unused_crate_dependencies` for a crate with a library, a
/// binary, tests and benches (where that lint reports every crate one target does not use):
/// every `[dependencies]` entry is used by the non-test code of `src/` or `build.rs`, and
/// every `[dev-dependencies]` entry by a test or bench.
#[test]
fn every_dependency_is_used_where_it_is_declared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .expect("read Cargo.toml")
        .parse()
        .expect("Cargo.toml parses");

    let mut sources = Vec::new();
    rust_sources(&root.join("src"), &mut sources);
    let mut normal: Vec<String> = sources.iter().map(|t| code_of(t, false)).collect();
    normal.push(code_of(
        &std::fs::read_to_string(root.join("build.rs")).expect("read build.rs"),
        false,
    ));
    let unused_normal = unused(&crate_names(&manifest, "dependencies"), &normal);
    assert!(
        unused_normal.is_empty(),
        "Cargo.toml [dependencies] that no non-test code in src/ or build.rs uses: {unused_normal:?}; \
         remove each, or move it to [dev-dependencies] if only tests use it"
    );

    let mut tests = sources;
    rust_sources(&root.join("tests"), &mut tests);
    rust_sources(&root.join("benches"), &mut tests);
    let tests: Vec<String> = tests.iter().map(|t| code_of(t, true)).collect();
    let unused_dev = unused(&crate_names(&manifest, "dev-dependencies"), &tests);
    assert!(
        unused_dev.is_empty(),
        "Cargo.toml [dev-dependencies] that no test or bench uses: {unused_dev:?}; remove each"
    );
}
