//! Time per render: config load, template rendering, YAML parsing, typed checks, YAML output.
//!
//! `cargo bench --bench render`; whole-process timing is `scripts/bench-render.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use gpt_deploy::config::{self, Source};
use gpt_deploy::render::{RenderOptions, SecretValues, render};
use gpt_deploy::secret::SecretString;

fn options(config: &config::Config) -> RenderOptions {
    let mut secrets = SecretValues::from_lookup(config, |_| None);
    secrets.insert("CLERK_WEBHOOK_SECRET", SecretString::new("whsec_bench"));
    secrets.insert(
        "DATABASE_URL",
        SecretString::new("postgres://bench@localhost/gpt"),
    );
    RenderOptions {
        image_tag: None,
        secrets,
    }
}

fn benches(c: &mut Criterion) {
    let config = config::load_from(Source::Embedded, "production").expect("shipped config loads");
    let options = options(&config);

    c.bench_function("load production config (embedded)", |b| {
        b.iter(|| config::load_from(Source::Embedded, "production").expect("loads"));
    });
    c.bench_function("render production (templates + checks)", |b| {
        b.iter(|| render(&config, &options).expect("renders"));
    });
    let rendered = render(&config, &options).expect("renders");
    c.bench_function("print production as YAML", |b| {
        b.iter(|| rendered.to_yaml(false));
    });
    c.bench_function("load + render + print production", |b| {
        b.iter(|| {
            let config = config::load_from(Source::Embedded, "production").expect("loads");
            render(&config, &options).expect("renders").to_yaml(false)
        });
    });
}

criterion_group!(render_benches, benches);
criterion_main!(render_benches);
