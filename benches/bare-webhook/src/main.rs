//! The ceiling for `serve` in `scripts/bench-serve.sh`: a bare axum server on the webhook's
//! route that reads the whole body and answers 200, with no verification, parsing, logging
//! or metrics. Same runtime (tokio, multi-threaded) and HTTP stack (hyper 1, HTTP/1.1).
//!
//! `LISTEN_ADDR=127.0.0.1:8081 cargo run --release --manifest-path benches/bare-webhook/Cargo.toml`

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

async fn receive(body: Bytes) -> &'static str {
    std::hint::black_box(body.len());
    "{\"status\":\"ok\"}"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let app = Router::new().route("/v2/oauth/webhooks/clerk", post(receive));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare-webhook listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
