//! `gpt-deploy serve` without a database: verification, status codes, start-up
//! rules (listen addresses, errors naming `LISTEN_ADDR`), probes, metrics and log hygiene, all against the real binary and real
//! svix signatures.

use crate::support;

use gpt_deploy::runtime::webhook::{Rejection, Verifier};
use gpt_deploy::secret::SecretString;
use http::HeaderMap;
use support::bin::{Running, gpt_deploy};
use support::serve::{NO_DATABASE, OTHER_SECRET, SECRET, Server, now, sign, start_fails};

const VECTOR_1: (&str, &str, i64, &[u8], &str) = (
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    1_614_265_330,
    br#"{"test": 2432232314}"#,
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
);
const VECTOR_2: (&str, &str, i64, &[u8], &str) = (
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    1_649_367_553,
    br#"{"email":"test@example.com","username":"test_user"}"#,
    "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
);

fn headers(names: [&'static str; 3], id: &str, ts: i64, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(names[0], id.parse().unwrap());
    h.insert(names[1], ts.to_string().parse().unwrap());
    h.insert(names[2], sig.parse().unwrap());
    h
}

const SVIX: [&str; 3] = ["svix-id", "svix-timestamp", "svix-signature"];
const STANDARD: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

fn unknown_event(tag: &str) -> Vec<u8> {
    format!(r#"{{"type":"email.created","data":{{"id":"{tag}"}},"object":"event"}}"#).into_bytes()
}

fn server() -> Server {
    Server::start(&[
        ("CLERK_WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", NO_DATABASE),
    ])
}

#[test]
fn fixed_vectors_are_signed_byte_for_byte_and_verify_at_their_time() {
    for (secret, id, ts, body, expected) in [VECTOR_1, VECTOR_2] {
        assert_eq!(sign(secret, id, ts, body), expected);
        let verifier = Verifier::new(&SecretString::new(secret), None).unwrap();
        for names in [SVIX, STANDARD] {
            let verified = verifier
                .verify(&headers(names, id, ts, expected), body, ts)
                .unwrap();
            assert_eq!(verified.message_id, id);
            assert_eq!(verified.timestamp, ts);
            // A bare version prefix carries no signature at all.
            assert_eq!(
                verifier.verify(&headers(names, id, ts, "v1,"), body, ts),
                Err(Rejection::BadSignature)
            );
            // One changed byte of the body, or another id, breaks it.
            let mut tampered = body.to_vec();
            tampered[2] ^= 1;
            assert_eq!(
                verifier.verify(&headers(names, id, ts, expected), &tampered, ts),
                Err(Rejection::BadSignature)
            );
            assert_eq!(
                verifier.verify(&headers(names, "msg_other", ts, expected), body, ts),
                Err(Rejection::BadSignature)
            );
        }
    }
    // Each vector's signature is wrong under the other vector's secret.
    let v2 = Verifier::new(&SecretString::new(VECTOR_2.0), None).unwrap();
    let (_, id, ts, body, sig) = VECTOR_1;
    assert_eq!(
        v2.verify(&headers(SVIX, id, ts, sig), body, ts),
        Err(Rejection::BadSignature)
    );
}

#[tokio::test]
async fn valid_deliveries_pass_under_both_header_names() {
    let server = server();
    let body = unknown_event("a");
    let ts = now();
    let sig = sign(SECRET, "msg_svix", ts, &body);
    let (status, json) = server
        .post(
            &[
                ("svix-id", "msg_svix"),
                ("svix-timestamp", &ts.to_string()),
                ("svix-signature", &sig),
            ],
            body.clone(),
        )
        .await;
    assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));
    let sig = sign(SECRET, "msg_std", ts, &body);
    let (status, _) = server
        .post(
            &[
                ("webhook-id", "msg_std"),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &sig),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_signatures_get_401_with_a_reason() {
    let server = server();
    let body = unknown_event("b");
    let ts = now();
    let tss = ts.to_string();
    let good = sign(SECRET, "msg_1", ts, &body);
    let wrong = sign(OTHER_SECRET, "msg_1", ts, &body);
    let other_version = good.replacen("v1,", "v2,", 1);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("svix-timestamp", &tss), ("svix-signature", &good)],
            "missing svix-id header",
        ),
        (
            vec![("svix-id", "msg_1"), ("svix-signature", &good)],
            "missing svix-timestamp header",
        ),
        (
            vec![("svix-id", "msg_1"), ("svix-timestamp", &tss)],
            "missing svix-signature header",
        ),
        (
            vec![
                ("svix-id", "msg_1"),
                ("svix-timestamp", "yesterday"),
                ("svix-signature", &good),
            ],
            "svix-timestamp is not a unix timestamp",
        ),
        (
            vec![
                ("svix-id", "msg_1"),
                ("svix-timestamp", &tss),
                ("svix-signature", &wrong),
            ],
            "no matching signature",
        ),
        (
            vec![
                ("svix-id", "msg_1"),
                ("svix-timestamp", &tss),
                ("svix-signature", "v1,"),
            ],
            "no matching signature",
        ),
        (
            vec![
                ("svix-id", "msg_1"),
                ("svix-timestamp", &tss),
                ("svix-signature", "garbage"),
            ],
            "no matching signature",
        ),
        (
            // The right signature under another version tag is not a match.
            vec![
                ("svix-id", "msg_1"),
                ("svix-timestamp", &tss),
                ("svix-signature", &other_version),
            ],
            "no matching signature",
        ),
        (
            // Signed for another message id.
            vec![
                ("svix-id", "msg_2"),
                ("svix-timestamp", &tss),
                ("svix-signature", &good),
            ],
            "no matching signature",
        ),
    ];
    for (headers, reason) in cases {
        let (status, json) = server.post(&headers, body.clone()).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (401, Some(reason)),
            "{headers:?}"
        );
    }
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"gpt_webhook_signature_failures_total{reason="bad_signature"} 5"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"gpt_webhook_signature_failures_total{reason="missing_header"} 3"#));
    assert!(
        metrics.contains(r#"gpt_webhook_signature_failures_total{reason="invalid_timestamp"} 1"#)
    );
    assert!(metrics.contains(
        r#"gpt_http_requests_total{route="/v2/oauth/webhooks/clerk",method="POST",status="401"} 9"#
    ));
}

#[tokio::test]
async fn any_one_of_several_signatures_is_enough() {
    let server = server();
    let body = unknown_event("c");
    let ts = now();
    let good = sign(SECRET, "msg_multi", ts, &body);
    let wrong = sign(OTHER_SECRET, "msg_multi", ts, &body);
    let tss = ts.to_string();
    for signatures in [
        format!("{wrong} {good}"),
        format!("{good} {wrong}"),
        format!("v1,AAAA {wrong} {good}"),
    ] {
        let (status, _) = server
            .post(
                &[
                    ("svix-id", "msg_multi"),
                    ("svix-timestamp", &tss),
                    ("svix-signature", &signatures),
                ],
                body.clone(),
            )
            .await;
        assert_eq!(status, 200, "{signatures}");
    }
    let (status, _) = server
        .post(
            &[
                ("svix-id", "msg_multi"),
                ("svix-timestamp", &tss),
                ("svix-signature", &format!("{wrong} v1,")),
            ],
            body,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn previous_secret_is_accepted_only_while_configured() {
    let rotating = Server::start(&[
        ("CLERK_WEBHOOK_SECRET", SECRET),
        ("CLERK_WEBHOOK_SECRET_PREVIOUS", OTHER_SECRET),
        ("DATABASE_URL", NO_DATABASE),
    ]);
    let plain = server();
    let body = unknown_event("d");
    let third = "whsec_dGhpcmQgc2VjcmV0IGZvciB0ZXN0cw==";
    for (srv, secret, expected) in [
        (&rotating, SECRET, 200),
        (&rotating, OTHER_SECRET, 200),
        (&rotating, third, 401),
        (&plain, SECRET, 200),
        (&plain, OTHER_SECRET, 401),
    ] {
        let (status, _) = srv.deliver(secret, "msg_rot", now(), &body).await;
        assert_eq!(status, expected, "secret {secret}");
    }
}

#[tokio::test]
async fn replay_window_is_five_minutes_each_way() {
    let server = server();
    let body = unknown_event("e");
    let t = now();
    // The server's clock is at or just after ours; the rejected cases keep a margin for that.
    for (ts, expected, reason) in [
        (t - 299, 200, None),
        (t - 301, 401, Some("svix-timestamp is older than 5 minutes")),
        (
            t - 86_400,
            401,
            Some("svix-timestamp is older than 5 minutes"),
        ),
        (t + 300, 200, None),
        (
            t + 303,
            401,
            Some("svix-timestamp is more than 5 minutes in the future"),
        ),
        (-5, 401, Some("svix-timestamp is older than 5 minutes")),
    ] {
        let (status, json) = server.deliver(SECRET, "msg_window", ts, &body).await;
        assert_eq!(status, expected, "offset {}", ts - t);
        assert_eq!(json["error"].as_str(), reason);
    }
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"gpt_webhook_signature_failures_total{reason="stale_timestamp"} 3"#)
    );
    assert!(
        metrics.contains(r#"gpt_webhook_signature_failures_total{reason="future_timestamp"} 1"#)
    );
}

#[tokio::test]
async fn body_size_limit_is_one_mebibyte() {
    let server = server();
    let make = |len: usize| {
        let head = br#"{"type":"email.created","pad":""#;
        let tail = br#""}"#;
        let mut body = head.to_vec();
        body.resize(len - tail.len(), b'x');
        body.extend_from_slice(tail);
        assert_eq!(body.len(), len);
        body
    };
    let exact = make(1024 * 1024);
    let (status, _) = server.deliver(SECRET, "msg_big", now(), &exact).await;
    assert_eq!(status, 200);
    let over = make(1024 * 1024 + 1);
    let (status, json) = server.deliver(SECRET, "msg_big", now(), &over).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (413, Some("body larger than 1 MiB"))
    );
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_400() {
    let server = server();
    for body in [
        &b"{\"type\": \"user.deleted\", "[..],
        b"not json",
        b"[1,2]",
        b"{\"type\": 7}",
        b"{}",
        b"",
    ] {
        let (status, json) = server.deliver(SECRET, "msg_bad", now(), body).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert!(
            json["error"].as_str().unwrap().starts_with("body is not"),
            "{json}"
        );
    }
    // svix signs UTF-8 text only, so a non-UTF-8 body can never carry a valid signature.
    let (status, json) = server
        .post(
            &[
                ("svix-id", "msg_bad"),
                ("svix-timestamp", &now().to_string()),
                ("svix-signature", "v1,AAAA"),
            ],
            b"\xff\xfe".to_vec(),
        )
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("body is not UTF-8"))
    );
}

#[tokio::test]
async fn database_down_gives_503_and_not_ready() {
    let server = Server::start_with(
        &[
            ("CLERK_WEBHOOK_SECRET", SECRET),
            ("DATABASE_URL", NO_DATABASE),
        ],
        &["--database-timeout", "500ms"],
    );
    assert_eq!(server.get("/healthz").await.0, 200);
    let (status, text) = server.get("/readyz").await;
    assert_eq!(
        (status, text.as_str()),
        (503, r#"{"error":"database unreachable"}"#)
    );
    let body = br#"{"type":"user.deleted","data":{"id":"user_2x","deleted":true,"object":"user"}}"#;
    let (status, json) = server.deliver(SECRET, "msg_down", now(), body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("database unavailable"))
    );
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"gpt_webhook_events_total{type="user.deleted",outcome="unavailable"} 1"#)
    );
    assert!(
        metrics.contains(r#"gpt_http_requests_total{route="/readyz",method="GET",status="503"} 1"#)
    );
    assert!(metrics.contains("gpt_webhook_processing_seconds_count 1"));
    assert_eq!(server.get("/nowhere").await.0, 404);
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"gpt_http_requests_total{route="unmatched",method="GET",status="404"} 1"#)
    );
}

/// `gpt-deploy serve` with only these variables (no `--listen`): the child, and its address
/// once it logs `listening` (None when it exited instead), with everything it wrote.
fn serve_from_env(vars: &[(&str, &str)]) -> (Running, Option<String>, Vec<String>) {
    use std::io::BufRead as _;
    let mut child = gpt_deploy(["serve"])
        .env("LOG_FORMAT", "json")
        .env("CLERK_WEBHOOK_SECRET", SECRET)
        .env("DATABASE_URL", NO_DATABASE)
        .envs(vars.iter().copied())
        .discard_stdout()
        .spawn();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.take_stderr()).lines() {
        let line = line.unwrap();
        let listening = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .filter(|v| v["message"] == "listening")
            .and_then(|v| v["addr"].as_str().map(str::to_owned));
        lines.push(line);
        if listening.is_some() {
            return (child, listening, lines);
        }
    }
    while child.try_wait().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (child, None, lines)
}

#[tokio::test]
async fn listen_takes_a_port_alone_or_localhost_and_errors_name_listen_addr() {
    for (given, host) in [(":0", "0.0.0.0"), ("localhost:0", "127.0.0.1")] {
        let (mut child, addr, lines) = serve_from_env(&[("LISTEN_ADDR", given)]);
        let addr = addr.unwrap_or_else(|| panic!("LISTEN_ADDR={given} refused:\n{lines:?}"));
        let (ip, port) = addr.rsplit_once(':').unwrap();
        assert_eq!(ip, host, "LISTEN_ADDR={given}");
        let answer = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "LISTEN_ADDR={given}");
        child.kill();
    }
    // A bad value is reported under the variable it came from, not the flag.
    let (child, addr, lines) = serve_from_env(&[("LISTEN_ADDR", "localhost")]);
    assert_eq!(addr, None);
    assert_eq!(child.wait().code, 2);
    let text = lines.join("\n");
    assert!(
        text.contains("invalid value 'localhost' in the environment variable LISTEN_ADDR"),
        "{text}"
    );
    assert!(!text.contains("<LISTEN>"), "{text}");
    // So is an address in use; given as a flag, the flag is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let (child, addr, lines) = serve_from_env(&[("LISTEN_ADDR", &at)]);
    assert_eq!(addr, None);
    assert_eq!(child.wait().code, 2);
    assert!(
        lines
            .join("\n")
            .contains(&format!("cannot listen on {at} (LISTEN_ADDR)")),
        "{lines:?}"
    );
    let refused = start_fails_with_listen(&at);
    assert!(
        refused.contains(&format!("cannot listen on {at} (--listen)")),
        "{refused}"
    );
}

/// `serve --listen ADDR` that must refuse to start: its stderr.
fn start_fails_with_listen(addr: &str) -> String {
    let out = gpt_deploy(["serve", "--listen", addr])
        .env("LOG_FORMAT", "json")
        .env("CLERK_WEBHOOK_SECRET", SECRET)
        .env("DATABASE_URL", NO_DATABASE)
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    out.stderr
}

#[test]
fn no_secret_refuses_to_start_outside_development() {
    for env in [None, Some("production"), Some("staging")] {
        let mut vars = vec![("DATABASE_URL", NO_DATABASE)];
        if let Some(e) = env {
            vars.push(("GPT_ENV", e));
        }
        let exit = start_fails(&vars);
        assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
        assert!(
            exit.stderr
                .contains("error: CLERK_WEBHOOK_SECRET is not set"),
            "{}",
            exit.stderr
        );
        assert!(exit.stderr.contains("GPT_ENV=development"));
    }
}

#[test]
fn invalid_secret_is_a_startup_error_that_does_not_quote_it() {
    for secret in ["sentinel-plain-7c1e", "whsec_sentinel*not*base64*7c1e"] {
        let exit = start_fails(&[
            ("CLERK_WEBHOOK_SECRET", secret),
            ("DATABASE_URL", NO_DATABASE),
        ]);
        assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
        assert!(
            exit.stderr
                .contains("CLERK_WEBHOOK_SECRET is not a valid svix signing secret")
        );
        assert!(!exit.stderr.contains("7c1e"), "{}", exit.stderr);
    }
    let exit = start_fails(&[
        ("CLERK_WEBHOOK_SECRET", SECRET),
        ("CLERK_WEBHOOK_SECRET_PREVIOUS", "whsec_"),
        ("DATABASE_URL", NO_DATABASE),
    ]);
    assert_eq!(exit.status.code(), Some(2));
    assert!(
        exit.stderr
            .contains("CLERK_WEBHOOK_SECRET_PREVIOUS is not a valid")
    );
    let exit = start_fails(&[("CLERK_WEBHOOK_SECRET", SECRET)]);
    assert_eq!(exit.status.code(), Some(2));
    assert!(
        exit.stderr.contains("DATABASE_URL is not set"),
        "{}",
        exit.stderr
    );
}

#[tokio::test]
async fn development_escape_hatch_accepts_unsigned_deliveries_with_warnings() {
    let server = Server::start(&[("GPT_ENV", "development"), ("DATABASE_URL", NO_DATABASE)]);
    let startup = server.logs();
    assert!(
        startup
            .iter()
            .any(|l| l.contains(r#""level":"WARN""#) && l.contains("NOT verified")),
        "{startup:#?}"
    );
    for _ in 0..2 {
        let (status, json) = server.post(&[], unknown_event("dev")).await;
        assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));
    }
    let (status, _) = server.post(&[], b"{oops".to_vec()).await;
    assert_eq!(status, 400);
    let logs = server.stop();
    let per_request = logs
        .iter()
        .filter(|l| {
            l.contains(r#""level":"WARN""#) && l.contains("accepting an unverified delivery")
        })
        .count();
    assert_eq!(per_request, 3, "{logs:#?}");
}

#[tokio::test]
async fn logs_never_contain_secrets_bodies_or_signatures() {
    let secret = "whsec_c2VudGluZWwta2V5LTNmOWEtZG8tbm90LWxvZw=="; // base64("sentinel-key-3f9a-do-not-log")
    let previous = "whsec_c2VudGluZWwtb2xkLTNmOWEtZG8tbm90LWxvZw=="; // base64("sentinel-old-3f9a-do-not-log")
    let db_url = "postgres://gpt:sentinel-dbpw-3f9a@127.0.0.1:1/gpt";
    let server = Server::start_with(
        &[
            ("CLERK_WEBHOOK_SECRET", secret),
            ("CLERK_WEBHOOK_SECRET_PREVIOUS", previous),
            ("DATABASE_URL", db_url),
        ],
        &["--database-timeout", "300ms"],
    );
    let mut signatures = Vec::new();
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"type":"email.created","data":{"body":"sentinel-body-3f9a"}}"#.to_vec(),
        br#"{"type":"user.deleted","data":{"id":"user_1","email":"sentinel-body-3f9a"}}"#.to_vec(),
        br#"{"type":"user.deleted","data":{"deleted":true,"note":"sentinel-body-3f9a"}}"#.to_vec(),
        br#"{"sentinel-body-3f9a": "#.to_vec(),
        br#"{"type":["sentinel-body-3f9a"]}"#.to_vec(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let id = format!("msg_log_{i}");
        for key in [secret, previous, OTHER_SECRET] {
            let sig = sign(key, &id, now(), body);
            signatures.push(sig[3..].to_owned());
            server.deliver(key, &id, now(), body).await;
        }
    }
    server.get("/readyz").await;
    let logs = server.stop();
    assert!(
        logs.len() > 15,
        "expected a log line per delivery: {logs:#?}"
    );
    let all = logs.join("\n");
    for needle in [
        "sentinel",
        "c2VudGluZWwta2V5LTNmOWEtZG8tbm90LWxvZw",
        "c2VudGluZWwtb2xkLTNmOWEtZG8tbm90LWxvZw",
        "3f9a",
    ] {
        assert!(!all.contains(needle), "log leaks {needle}:\n{all}");
    }
    for sig in &signatures {
        assert!(!all.contains(sig.as_str()), "log leaks a signature:\n{all}");
    }
}

/// Log lines leave the request path through a queue: still exactly one line per delivery, all
/// of them written out by the time the server has stopped, and the lines the queue had to
/// drop are a metric.
#[tokio::test]
async fn one_log_line_per_delivery_all_written_by_exit_and_drops_are_counted() {
    let server = server();
    let deliveries = 200;
    for i in 0..deliveries {
        let id = format!("msg_queue_{i}");
        let (status, _) = server
            .deliver(SECRET, &id, now(), &unknown_event(&format!("q{i}")))
            .await;
        assert_eq!(status, 200);
    }
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE gpt_log_lines_dropped counter")
            && metrics.contains("gpt_log_lines_dropped_total 0"),
        "{metrics}"
    );
    let logs = server.stop();
    for i in 0..deliveries {
        let id = format!(r#""message_id":"msg_queue_{i}""#);
        let lines: Vec<&String> = logs.iter().filter(|l| l.contains(&id)).collect();
        assert_eq!(lines.len(), 1, "delivery {i}: {lines:#?}");
        assert!(lines[0].contains("event type needs no action; acknowledged"));
    }
    assert!(
        logs.last()
            .is_some_and(|l| l.contains(r#""message":"stopped""#)),
        "the last line is written before exit: {:?}",
        logs.last()
    );
}
