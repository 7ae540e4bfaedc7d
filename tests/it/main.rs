//! The integration tests: one test binary (so kube, sqlx, axum and octocrab are linked once),
//! one module per capability, and the shared fixtures of `tests/support` as a module.
//!
//! Run one module with `cargo test --test it render::`, one test with its full name
//! (`cargo test --test it render::every_environment_matches_its_golden_file -- --exact`). A new test file goes in
//! `tests/it/<name>.rs` and is declared below; `layout` checks that none is forgotten.

#[path = "../support/mod.rs"]
mod support;

mod api_warnings;
mod apply;
mod ci_files;
mod cleanup;
mod cleanup_now;
mod cli_help;
mod cluster_scripts;
mod control_plane;
mod cutover;
mod db_tls;
mod deploy;
mod diff;
mod docs;
mod drift;
mod github_issues;
mod github_token;
mod history;
mod image_recipe;
mod kubectl_habits;
mod layout;
mod manifest_hardening;
mod migrate;
mod preflight_values;
mod preview;
mod quiet_libraries;
mod realnode;
mod release_binary;
mod releases;
mod render;
mod render_errors;
mod render_out;
mod render_props;
mod scripts;
mod sealing;
mod secrets_check;
mod secrets_sync;
mod serve;
mod serve_db;
mod serve_limits;
mod validate;
