//! The documentation keeps up with the code: every command, flag and environment variable
//! the binary accepts or reads is in docs/guide.md, and every relative link in README.md and
//! docs/*.md leads to a file (and heading) that exists.
//!
//! The commands and flags come from the clap definition itself and the variables from the
//! sources, so a new command, flag or variable without documentation fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use gpt_deploy::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn guide() -> String {
    read(&root().join("docs/guide.md"))
}

/// Markdown lines outside fenced code blocks, with their line numbers (1-based).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// Headings as (level, text).
fn headings(text: &str) -> Vec<(usize, String)> {
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let level = line.chars().take_while(|c| *c == '#').count();
            let rest = line.get(level..)?;
            (level > 0 && rest.starts_with(' ')).then(|| (level, rest.trim().to_owned()))
        })
        .collect()
}

/// The text of every section whose heading contains `needle`, each up to the next heading
/// of the same or a higher level.
fn sections_with_heading(text: &str, needle: &str) -> String {
    let mut out = String::new();
    let mut open_level: Option<usize> = None;
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if !fenced && level > 0 && line[level..].starts_with(' ') {
            if open_level.is_some_and(|open| level <= open) {
                open_level = None;
            }
            if open_level.is_none() && line.contains(needle) {
                open_level = Some(level);
            }
        }
        // Code blocks (synopses) belong to their section.
        if open_level.is_some() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `cmd` with its definition complete: subcommands define their flags only when built
/// (`defer`). Built on its own, without the parent's global flags.
fn defined(cmd: &clap::Command) -> clap::Command {
    let mut cmd = cmd.clone();
    cmd.build();
    cmd
}

/// Every leaf command as its words (`["secrets", "sync"]`), with its clap definition.
fn leaf_commands() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" || sub.is_hide_set() {
                continue;
            }
            let sub = defined(sub);
            let mut sub_path = path.to_vec();
            sub_path.push(sub.get_name().to_owned());
            if sub.has_subcommands() {
                walk(&sub, &sub_path, out);
            } else {
                out.push((sub_path, sub));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

fn documented_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
}

#[test]
fn the_commands_are_found_by_walking_the_clap_definition() {
    // Guards the walk itself: if it found nothing, the checks below would pass vacuously.
    let names: Vec<String> = leaf_commands().iter().map(|(p, _)| p.join(" ")).collect();
    for expected in ["render", "secrets sync", "serve", "migrate"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "secrets"),
        "a parent command is not a leaf"
    );
}

#[test]
fn every_command_has_a_heading_and_a_synopsis_in_the_guide() {
    let guide = guide();
    let titles = headings(&guide);
    let mut missing = Vec::new();
    for (path, _) in leaf_commands() {
        let name = path.join(" ");
        if !titles.iter().any(|(_, t)| t.contains(&format!("`{name}`"))) {
            missing.push(format!("a heading naming `{name}`"));
        }
        if !guide.contains(&format!("gpt-deploy {name}")) {
            missing.push(format!("a synopsis or example `gpt-deploy {name} …`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/guide.md lacks: {missing:#?}\nDocument every command in docs/guide.md."
    );
}

#[test]
fn every_long_flag_appears_in_its_commands_section_of_the_guide() {
    let guide = guide();
    let mut missing = Vec::new();
    for (path, cmd) in leaf_commands() {
        let name = path.join(" ");
        let section = sections_with_heading(&guide, &format!("`{name}`"));
        for arg in documented_args(&cmd) {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                let found = section.match_indices(&flag).any(|(i, _)| {
                    // `--dry-run` must not count as `--dry`: the next character ends the flag.
                    !section[i + flag.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
                });
                if !found {
                    missing.push(format!("{name}: {flag}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "flags missing from their command's section in docs/guide.md: {missing:#?}"
    );
}

/// Names in backticks in the guide's "Environment variables" section.
fn documented_env_vars() -> BTreeSet<String> {
    let section = sections_with_heading(&guide(), "Environment variables");
    assert!(
        section.contains("| variable |"),
        "docs/guide.md has no `## Environment variables` table"
    );
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn assert_documented(what: &str, vars: &BTreeSet<String>) {
    let documented = documented_env_vars();
    let missing: Vec<&String> = vars.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "{what} missing from the table under `## Environment variables` in docs/guide.md: {missing:?}"
    );
}

#[test]
fn every_flag_environment_variable_is_in_the_guides_table() {
    let mut vars = BTreeSet::new();
    let mut stack = vec![Cli::command()];
    while let Some(cmd) = stack.pop() {
        let cmd = defined(&cmd);
        for arg in documented_args(&cmd) {
            if let Some(env) = arg.get_env() {
                vars.insert(env.to_string_lossy().into_owned());
            }
        }
        stack.extend(cmd.get_subcommands().cloned());
    }
    for expected in ["GPT_DEPLOY_ENV", "LISTEN_ADDR", "CLEANUP_RETENTION"] {
        assert!(
            vars.contains(expected),
            "{expected} not found in the clap definition"
        );
    }
    assert_documented("variables of command-line flags", &vars);
}

#[test]
fn every_variable_the_runtime_reads_is_in_the_guides_table() {
    let vars: BTreeSet<String> = gpt_deploy::runtime::ENV_VARS
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    assert!(vars.contains("DATABASE_URL"));
    assert_documented("variables in gpt_deploy::runtime::ENV_VARS", &vars);
}

/// Environment-variable names in the non-test part of a source file: upper-case string
/// literals with an inner underscore (`"GITHUB_TOKEN"`), and any literal passed to `var(` or
/// `var_os(` (`"KUBECONFIG"`). Compile-time `env!("CARGO_…")` is not the environment.
fn env_var_literals(text: &str, found: &mut BTreeSet<String>) {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let bytes = code.as_bytes();
    for (start, _) in code.match_indices('"') {
        let name: String = bytes[start + 1..]
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
            .map(|b| char::from(*b))
            .collect();
        if name.is_empty() || bytes.get(start + 1 + name.len()) != Some(&b'"') {
            continue;
        }
        let before = &code[..start];
        if before.ends_with("env!(") {
            continue;
        }
        let passed_to_var = before.ends_with("var(") || before.ends_with("var_os(");
        // `"GITHUB_"` is a prefix, not a variable.
        let var_like = name.contains('_')
            && !name.ends_with('_')
            && name.starts_with(|c: char| c.is_ascii_uppercase());
        if passed_to_var || var_like {
            found.insert(name);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_variable_named_in_the_sources_is_in_the_guides_table() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut vars = BTreeSet::new();
    for file in &files {
        env_var_literals(&read(file), &mut vars);
    }
    for expected in ["GITHUB_TOKEN", "KUBECONFIG", "LOG_FORMAT"] {
        assert!(
            vars.contains(expected),
            "{expected} not found in src/: {vars:?}"
        );
    }
    assert_documented("variables named in src/", &vars);
}

#[test]
fn every_declared_secret_variable_is_in_the_guides_table() {
    let config =
        gpt_deploy::config::load(Some(&root()), "production").expect("load the shipped config");
    let vars: BTreeSet<String> = config.app.secrets.iter().map(|s| s.env.clone()).collect();
    assert!(!vars.is_empty());
    assert_documented("secret variables declared in deploy.toml", &vars);
}

/// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and
/// `-1`, `-2`, … for repeated headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, title) in headings(text) {
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        seen.insert(candidate);
    }
    seen
}

/// `(line, target)` of every inline link `[text](target)` outside code.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose_lines(text) {
        // Drop inline code spans: `[--flag](x)` inside backticks is not a link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((number, after[..end].trim().to_owned()));
            rest = &after[end..];
        }
    }
    out
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let docs = root().join("docs");
    for entry in std::fs::read_dir(&docs).expect("read docs/") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let files = markdown_files();
    for expected in [
        "guide.md",
        "operations.md",
        "architecture.md",
        "testing.md",
        "benchmarks.md",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "docs/{expected} is missing"
        );
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = read(file);
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path_part, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if path_part.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a parent directory").join(path_part)
            };
            let shown = format!(
                "{}:{line}: {target}",
                file.strip_prefix(root()).unwrap_or(file).display()
            );
            if !resolved.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_markdown = resolved.extension().is_some_and(|e| e == "md");
                if is_markdown && !anchors(&read(&resolved)).contains(anchor) {
                    broken.push(format!("{shown} (no heading with that anchor)"));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} relative links found; is the link parser broken?"
    );
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn readme_stays_a_front_door() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move detail into docs/ (at most 250)"
    );
}

#[test]
fn the_anchor_and_link_helpers_follow_github() {
    let text = "# A\n## `diff`, `apply` and more\n```\n# not a heading [x](nope.md)\n```\n## A\nsee [b](b.md#c) and `[d](e)`\n";
    let found = anchors(text);
    for expected in ["a", "diff-apply-and-more", "a-1"] {
        assert!(found.contains(expected), "{expected} not in {found:?}");
    }
    assert_eq!(links(text), vec![(7, "b.md#c".to_owned())]);
}

#[test]
fn every_test_module_is_described_in_testing_md() {
    let main = read(&root().join("tests/it/main.rs"));
    let modules: Vec<&str> = main
        .lines()
        .filter_map(|line| line.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .filter(|name| *name != "support")
        .collect();
    assert!(
        modules.contains(&"docs"),
        "no modules found in tests/it/main.rs"
    );
    let testing = read(&root().join("docs/testing.md"));
    let missing: Vec<&&str> = modules
        .iter()
        .filter(|name| !testing.contains(&format!("{name}.rs")))
        .collect();
    assert!(
        missing.is_empty(),
        "test modules not described in docs/testing.md (add a row to its table): {missing:?}"
    );
}

#[test]
fn every_source_file_is_in_the_architecture_source_map() {
    let map = sections_with_heading(&read(&root().join("docs/architecture.md")), "Source map");
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 10,
        "only {} files found under src/",
        files.len()
    );
    let missing: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(&src).ok()?;
            let name = relative.file_name()?.to_string_lossy().into_owned();
            // A module directory's mod.rs is named by its directory (`config/`).
            let wanted = if name == "mod.rs" {
                format!("{}/", relative.parent()?.file_name()?.to_string_lossy())
            } else {
                name
            };
            (!map.contains(&wanted)).then(|| relative.display().to_string())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "source files missing from `## Source map` in docs/architecture.md: {missing:?}"
    );
}
