//! Rebuilds when the embedded configuration changes, including files added or removed
//! (include_dir only tracks the files that existed at the last build).

fn main() {
    for path in ["deploy.toml", "environments", "templates"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
