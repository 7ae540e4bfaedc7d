//! The runtime face: what the image runs in the cluster (serve, cleanup, migrate).

pub mod cleanup;
mod command;
pub mod db;
pub mod log_writer;
pub(crate) mod metrics;
pub(crate) mod serve;
pub mod webhook;

pub use command::{cmd_cleanup, cmd_migrate, cmd_serve};

/// Every environment variable the runtime modules read themselves; the variables of
/// command-line flags (`LISTEN_ADDR`, `CLEANUP_*`, ...) are read by clap and listed in
/// [`crate::cli`]. Kept so the documentation can be checked against the code.
pub const ENV_VARS: &[&str] = &[
    "CLERK_WEBHOOK_SECRET",
    "CLERK_WEBHOOK_SECRET_PREVIOUS",
    "DATABASE_CA_FILE",
    "DATABASE_TLS",
    "DATABASE_URL",
    "GPT_ENV",
    "MIGRATE_RETRY_FOR",
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Upper-case string literals with an underscore (`"DATABASE_URL"`): in the runtime
    /// sources every such literal names an environment variable.
    fn env_like_literals(text: &str, found: &mut BTreeSet<String>) {
        let bytes = text.as_bytes();
        for (start, _) in text.match_indices('"') {
            let name: String = bytes[start + 1..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
                .map(|b| char::from(*b))
                .collect();
            let closed = bytes.get(start + 1 + name.len()) == Some(&b'"');
            let var_like = name.contains('_')
                && !name.ends_with('_')
                && name.starts_with(|c: char| c.is_ascii_uppercase());
            if closed && var_like {
                found.insert(name);
            }
        }
    }

    /// Every `.rs` file under `dir` except `skip` (this file, which holds the list itself).
    fn scan(dir: &Path, skip: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read src/runtime") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                scan(&path, skip, found);
            } else if path.extension().is_some_and(|e| e == "rs") && path != skip {
                let text = std::fs::read_to_string(&path).expect("read a runtime source file");
                env_like_literals(&text, found);
            }
        }
    }

    #[test]
    fn env_vars_lists_exactly_the_variables_the_runtime_sources_name() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
        let mut found = BTreeSet::new();
        scan(&dir, &dir.join("mod.rs"), &mut found);
        let listed: BTreeSet<String> = super::ENV_VARS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            found, listed,
            "runtime::ENV_VARS must list every environment variable named in src/runtime \
             (and document a new one in docs/guide.md)"
        );
    }
}
