//! `gpt-deploy serve` under hostile traffic: header and body read timeouts, the bound on
//! deliveries in flight and on body memory (503 with Retry-After), the connection bound,
//! and peak memory under a slow-body flood measured from `/proc`.

use crate::support;

use std::time::{Duration, Instant};

use support::serve::{NO_DATABASE, SECRET, Server, WEBHOOK, now, sign};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A verified delivery of an event type that needs no database.
fn ignored_event(tag: &str) -> Vec<u8> {
    format!(r#"{{"type":"email.created","data":{{"id":"{tag}"}},"object":"event"}}"#).into_bytes()
}

fn server(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("CLERK_WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", NO_DATABASE),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

/// The head of a webhook POST announcing `length` body bytes (signature headers included, so
/// nothing but the body is missing).
fn head(server: &Server, length: usize) -> String {
    let ts = now();
    format!(
        "POST {WEBHOOK} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\nsvix-id: msg_slow\r\nsvix-timestamp: {ts}\r\n\
         svix-signature: v1,AAAA\r\n\r\n",
        server.addr
    )
}

/// Reads until the peer closes (or `limit`); returns what arrived and how long it took.
async fn read_until_closed(conn: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), conn.read(&mut buf))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; got so far: {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// A peak (`VmHWM`) or current (`VmRSS`) resident size of `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_at_the_header_timeout() {
    let server = server(&[("HEADER_READ_TIMEOUT", "1s")]);
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    // One header byte every 200 ms: a complete head would take far longer than the timeout.
    let trickle = async {
        for byte in format!(
            "POST {WEBHOOK} HTTP/1.1\r\nhost: x\r\nx-pad: {}",
            "a".repeat(100)
        )
        .bytes()
        {
            if conn.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), trickle).await;
    let (_, _) = read_until_closed(&mut conn, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(8),
        "the connection stayed open {elapsed:?} with a 1 s header timeout"
    );
    // An idle keep-alive connection is closed the same way.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let (text, _) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert_eq!(text, "", "an idle connection got an answer");
    assert_eq!(server.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn a_trickled_body_gets_408_at_the_body_timeout() {
    let server = server(&[("BODY_READ_TIMEOUT", "1s")]);
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(head(&server, 1000).as_bytes())
        .await
        .unwrap();
    conn.write_all(&[b'{'; 10]).await.unwrap();
    let (text, elapsed) = read_until_closed(&mut conn, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body not received in time"), "{text}");
    assert!(
        elapsed < Duration::from_secs(8),
        "408 came after {elapsed:?} with a 1 s body timeout"
    );
    let (_, metrics) = server.get("/metrics").await;
    assert_eq!(
        metric(&metrics, r#"gpt_webhook_shed_total{reason="body_timeout"}"#),
        1,
        "{metrics}"
    );
}

#[tokio::test]
async fn deliveries_beyond_the_concurrency_bound_get_503_with_retry_after() {
    let server = server(&[
        ("MAX_CONCURRENT_REQUESTS", "2"),
        ("BODY_READ_TIMEOUT", "30s"),
    ]);
    // Two deliveries in flight, each waiting for the rest of its body.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(head(&server, 1000).as_bytes())
            .await
            .unwrap();
        conn.write_all(b"{").await.unwrap();
        held.push(conn);
    }
    // Let the server take both in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = ignored_event("third");
    let ts = now();
    let sig = sign(SECRET, "msg_third", ts, &body);
    let res = server
        .client()
        .post(server.url(WEBHOOK))
        .header("svix-id", "msg_third")
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"error":"too many deliveries in flight"}"#
    );
    // Probes are not deliveries: they still answer.
    assert_eq!(server.get("/healthz").await.0, 200);
    // Once the held deliveries go away, the same delivery is accepted.
    drop(held);
    let mut status = 0;
    for _ in 0..50 {
        status = server.deliver(SECRET, "msg_third", now(), &body).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metric(&metrics, r#"gpt_webhook_shed_total{reason="concurrency"}"#) >= 1,
        "{metrics}"
    );
}

#[tokio::test]
async fn bodies_beyond_the_memory_budget_get_503_before_being_read() {
    let server = server(&[("BODY_MEMORY_MIB", "1"), ("BODY_READ_TIMEOUT", "30s")]);
    // One announced 1 MiB body takes the whole budget.
    let mut big = TcpStream::connect(server.addr).await.unwrap();
    big.write_all(head(&server, 1024 * 1024).as_bytes())
        .await
        .unwrap();
    big.write_all(b"{").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, json) = server
        .deliver(SECRET, "msg_small", now(), &ignored_event("small"))
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("too many request bodies in flight"))
    );
    drop(big);
    let mut status = 0;
    for _ in 0..50 {
        status = server
            .deliver(SECRET, "msg_small", now(), &ignored_event("small"))
            .await
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the budget was not given back");
}

#[tokio::test]
async fn connections_beyond_the_bound_are_closed_on_accept() {
    let server = server(&[("MAX_CONNECTIONS", "3")]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let (text, _) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert_eq!(text, "", "a connection over the bound was served");
    drop(open);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(res) = server.client().get(server.url("/metrics")).send().await
            && res.status() == 200
        {
            let text = res.text().await.unwrap();
            assert!(
                metric(&text, "gpt_http_connections_refused_total") >= 1,
                "{text}"
            );
            ok = true;
            break;
        }
    }
    assert!(ok, "the server did not accept connections again");
}

/// 300 connections each announce and send almost 1 MiB of body, then stall: the attack that
/// used to hold ~1 MiB per connection indefinitely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_flood_keeps_peak_memory_under_64_mb() {
    const CONNECTIONS: usize = 300;
    const LENGTH: usize = 1024 * 1024;
    let server = server(&[("BODY_READ_TIMEOUT", "3s")]);
    let pid = server.pid();
    let before = memory_kib(pid, "VmHWM:");
    let addr = server.addr;
    let head = head(&server, LENGTH);
    let body: &'static [u8] = Box::leak(vec![b'x'; LENGTH - 1].into_boxed_slice());
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let head = head.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = TcpStream::connect(addr).await else {
                return None;
            };
            let send = async {
                conn.write_all(head.as_bytes()).await?;
                conn.write_all(body).await
            };
            // Everything but the last byte, then stall (the server decides when to give up).
            let _ = tokio::time::timeout(Duration::from_secs(20), send).await;
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer)).await;
            Some(String::from_utf8_lossy(&answer).into_owned())
        }));
    }
    // While the flood is on, the server still answers probes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (health, _) = tokio::time::timeout(Duration::from_secs(10), server.get("/healthz"))
        .await
        .expect("/healthz did not answer during the flood");
    assert_eq!(health, 200);
    let mut shed = 0;
    let mut timed_out = 0;
    for task in tasks {
        if let Some(answer) = task.await.unwrap() {
            if answer.starts_with("HTTP/1.1 503") {
                assert!(answer.contains("retry-after: 1"), "{answer}");
                shed += 1;
            } else if answer.starts_with("HTTP/1.1 408") {
                timed_out += 1;
            }
        }
    }
    let peak = memory_kib(pid, "VmHWM:");
    eprintln!(
        "slow-body flood: {CONNECTIONS} connections, {shed} answered 503, {timed_out} answered \
         408; peak RSS {before} KiB before, {peak} KiB after"
    );
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB under the flood (limit 64 MiB)"
    );
    // The budget admitted some bodies (answered 408 once they stalled) and shed the rest.
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metric(&metrics, r#"gpt_webhook_shed_total{reason="body_timeout"}"#) >= 1,
        "no body was admitted: {metrics}"
    );
    assert!(
        metric(&metrics, r#"gpt_webhook_shed_total{reason="body_memory"}"#) >= 1,
        "nothing was shed: {metrics}"
    );
    // Afterwards the server is healthy and verifies deliveries again.
    let (status, _) = server
        .deliver(SECRET, "msg_after", now(), &ignored_event("after"))
        .await;
    assert_eq!(status, 200);
}
