//! svix signature verification and Clerk event parsing.
//!
//! The body is verified as the raw bytes Clerk sent, before anything parses it:
//! re-serialised JSON would not match the signature. The HMAC and its
//! constant-time comparison are the svix crate's; this module adds the
//! replay window with an injectable clock, our own secret rotation
//! (`CLERK_WEBHOOK_SECRET_PREVIOUS`), rejection reasons for responses and
//! metrics, and the typed Clerk events the server acts on.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use svix::webhooks::{Webhook, WebhookError};

use super::db::DbCause;
use super::metrics::Metrics;
use crate::secret::SecretString;

/// Largest accepted request body (1 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Replay window: timestamps further than this from our clock are rejected.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Where Clerk shows the signing secret, for start-up error messages.
const SECRET_HELP: &str = "copy the endpoint's Signing Secret (it starts with `whsec_`) from the Clerk dashboard, Configure → Webhooks → your endpoint";

/// Errors of this module (configuration only; rejected deliveries are [`Rejection`]s).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured signing secret is not a usable `whsec_` secret.
    ///
    /// The base64 decoder's own error is deliberately not kept as a source: its
    /// message quotes the offending byte of the secret.
    #[error(
        "{var} is not a valid svix signing secret: {problem}; {SECRET_HELP} and set {var} to it"
    )]
    InvalidSecret {
        /// The environment variable holding the secret.
        var: &'static str,
        /// What is wrong with it, without quoting it.
        problem: &'static str,
    },
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which of the three signature headers a rejection is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// `svix-id` / `webhook-id`.
    Id,
    /// `svix-timestamp` / `webhook-timestamp`.
    Timestamp,
    /// `svix-signature` / `webhook-signature`.
    Signature,
}

impl Header {
    /// The svix header name and its Standard Webhooks twin, in lookup order.
    #[must_use]
    pub fn names(self) -> [&'static str; 2] {
        match self {
            Header::Id => ["svix-id", "webhook-id"],
            Header::Timestamp => ["svix-timestamp", "webhook-timestamp"],
            Header::Signature => ["svix-signature", "webhook-signature"],
        }
    }

    /// The header's value, preferring the svix name like the svix crate does.
    fn get(self, headers: &HeaderMap) -> std::result::Result<&str, Rejection> {
        let [svix, standard] = self.names();
        let value = headers
            .get(svix)
            .or_else(|| headers.get(standard))
            .ok_or(Rejection::MissingHeader(self))?;
        match value.to_str() {
            Ok(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(Rejection::InvalidHeader(self)),
        }
    }
}

/// Why a delivery was rejected before its body was parsed (always 401, nothing written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A signature header is absent.
    MissingHeader(Header),
    /// A signature header is empty or not visible ASCII.
    InvalidHeader(Header),
    /// The timestamp header is not a whole number of seconds.
    InvalidTimestamp,
    /// The timestamp is older than the replay window.
    StaleTimestamp,
    /// The timestamp is further in the future than the replay window.
    FutureTimestamp,
    /// No signature in the header matches the body under any configured secret.
    BadSignature,
    /// The body is not UTF-8, so it cannot carry a valid svix signature.
    PayloadNotUtf8,
}

impl Rejection {
    /// Stable, low-cardinality label for metrics.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) => "missing_header",
            Rejection::InvalidHeader(_) => "invalid_header",
            Rejection::InvalidTimestamp => "invalid_timestamp",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::FutureTimestamp => "future_timestamp",
            Rejection::BadSignature => "bad_signature",
            Rejection::PayloadNotUtf8 => "payload_not_utf8",
        }
    }

    /// Short human reason, sent back in the 401 body and logged.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Rejection::MissingHeader(Header::Id) => "missing svix-id header",
            Rejection::MissingHeader(Header::Timestamp) => "missing svix-timestamp header",
            Rejection::MissingHeader(Header::Signature) => "missing svix-signature header",
            Rejection::InvalidHeader(Header::Id) => "invalid svix-id header",
            Rejection::InvalidHeader(Header::Timestamp) => "invalid svix-timestamp header",
            Rejection::InvalidHeader(Header::Signature) => "invalid svix-signature header",
            Rejection::InvalidTimestamp => "svix-timestamp is not a unix timestamp",
            Rejection::StaleTimestamp => "svix-timestamp is older than 5 minutes",
            Rejection::FutureTimestamp => "svix-timestamp is more than 5 minutes in the future",
            Rejection::BadSignature => "no matching signature",
            Rejection::PayloadNotUtf8 => "body is not UTF-8",
        }
    }
}

/// A delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The svix message id: the same for every redelivery of one message.
    pub message_id: String,
    /// The signed timestamp (unix seconds).
    pub timestamp: i64,
}

/// Checks deliveries against the current secret and, while rotating, the previous one.
pub struct Verifier {
    current: Webhook,
    previous: Option<Webhook>,
}

impl Verifier {
    /// True while a previous secret is accepted too (a rotation in progress).
    #[must_use]
    pub fn rotating(&self) -> bool {
        self.previous.is_some()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("rotating", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Parses one `whsec_` secret; `var` names its environment variable in errors.
///
/// # Errors
/// [`Error::InvalidSecret`] when the prefix is missing, the rest is not base64, or it is empty.
pub fn parse_secret(var: &'static str, secret: &SecretString) -> Result<Webhook> {
    let invalid = |problem| Error::InvalidSecret { var, problem };
    // A trailing newline is what `kubectl create secret --from-file` and `echo` leave behind.
    let value = secret.expose().trim();
    let key = value
        .strip_prefix("whsec_")
        .ok_or_else(|| invalid("it does not start with `whsec_`"))?;
    if key.is_empty() {
        return Err(invalid("nothing follows `whsec_`"));
    }
    Webhook::new(key).map_err(|e| match e {
        WebhookError::EmptySecret => invalid("the key after `whsec_` decodes to nothing"),
        _ => invalid("the part after `whsec_` is not valid base64"),
    })
}

impl Verifier {
    /// A verifier for `current`, also accepting `previous` while it is set.
    ///
    /// # Errors
    /// [`Error::InvalidSecret`] naming `CLERK_WEBHOOK_SECRET` or `CLERK_WEBHOOK_SECRET_PREVIOUS`.
    pub fn new(current: &SecretString, previous: Option<&SecretString>) -> Result<Self> {
        Ok(Self {
            current: parse_secret("CLERK_WEBHOOK_SECRET", current)?,
            previous: previous
                .map(|p| parse_secret("CLERK_WEBHOOK_SECRET_PREVIOUS", p))
                .transpose()?,
        })
    }

    /// Verifies `body` against the signature headers at the unix time `now`.
    ///
    /// # Errors
    /// The [`Rejection`] explaining why the delivery is not authentic or not fresh.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> std::result::Result<Verified, Rejection> {
        let message_id = Header::Id.get(headers)?;
        let timestamp = Header::Timestamp
            .get(headers)?
            .trim()
            .parse::<i64>()
            .map_err(|_| Rejection::InvalidTimestamp)?;
        Header::Signature.get(headers)?;
        // Same window as svix (inclusive at ±5 min), checked here so tests can move the clock.
        if timestamp < now.saturating_sub(TOLERANCE_SECONDS) {
            return Err(Rejection::StaleTimestamp);
        }
        if timestamp > now.saturating_add(TOLERANCE_SECONDS) {
            return Err(Rejection::FutureTimestamp);
        }
        let mut result = check(&self.current, headers, body);
        if let (Err(Rejection::BadSignature), Some(previous)) = (result, &self.previous) {
            result = check(previous, headers, body);
        }
        result.map(|()| Verified {
            message_id: message_id.to_owned(),
            timestamp,
        })
    }
}

/// One secret's verdict; the timestamp window was already checked by the caller.
fn check(
    webhook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
) -> std::result::Result<(), Rejection> {
    webhook
        .verify_ignoring_timestamp(body, headers)
        .map_err(|e| match e {
            WebhookError::InvalidPayload => Rejection::PayloadNotUtf8,
            WebhookError::InvalidTimestamp => Rejection::InvalidTimestamp,
            WebhookError::MissingHeader(_) | WebhookError::InvalidHeader(_) => {
                Rejection::InvalidHeader(Header::Signature)
            }
            _ => Rejection::BadSignature,
        })
}

/// The Clerk events this server tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClerkEvent {
    /// `user.deleted` naming the user whose OAuth artifacts must go.
    UserDeleted {
        /// Clerk's user id (`user_…`).
        user_id: String,
    },
    /// `user.deleted` without a usable `data.id` (Clerk's schema makes it optional).
    UserDeletedWithoutId,
    /// Any other event type: acknowledged and logged, nothing to do.
    Other {
        /// The event's `type`.
        kind: String,
    },
}

impl ClerkEvent {
    /// The event's `type` field.
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            ClerkEvent::UserDeleted { .. } | ClerkEvent::UserDeletedWithoutId => "user.deleted",
            ClerkEvent::Other { kind } => kind,
        }
    }
}

/// Why a verified body is not a Clerk event (400).
///
/// Only positions and categories are kept: serde's own messages can quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedEvent {
    /// Not JSON at all, or truncated.
    #[error("body is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// JSON, but not an object with a string `type`.
    #[error("body is not a Clerk event: expected an object with a string \"type\"")]
    Shape,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<DataId>,
}

/// `data.id` of an event: the string `id` of `data` when `data` is an object. Every other part
/// of the body is skipped by the parser without being built (Clerk's `user.*` payloads carry the
/// whole user object, and most deliveries are events that need nothing from it).
struct DataId(Option<String>);

impl<'de> serde::Deserialize<'de> for DataId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(AnyValue { want_map: true })
            .map(|found| DataId(found.id))
    }
}

/// What [`AnyValue`] found: a string (for `id` itself) or an object's string `id`.
struct Found {
    id: Option<String>,
}

/// Accepts any JSON value; keeps a string, or with `want_map` an object's string `id`.
struct AnyValue {
    want_map: bool,
}

impl<'de> serde::Deserialize<'de> for Found {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(AnyValue { want_map: false })
    }
}

/// An object key, compared without being kept.
struct IsId(bool);

impl<'de> serde::Deserialize<'de> for IsId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = IsId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<IsId, E> {
                Ok(IsId(v == "id"))
            }
        }
        d.deserialize_str(Key)
    }
}

impl<'de> serde::de::Visitor<'de> for AnyValue {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Found, E> {
        Ok(Found {
            id: (!self.want_map).then(|| v.to_owned()),
        })
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Found, E> {
        Ok(Found { id: None })
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Found, E> {
        Ok(Found { id: None })
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Found, E> {
        Ok(Found { id: None })
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Found, E> {
        Ok(Found { id: None })
    }
    fn visit_unit<E>(self) -> std::result::Result<Found, E> {
        Ok(Found { id: None })
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Found, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Found { id: None })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Found, A::Error> {
        let mut id = None;
        while let Some(IsId(is_id)) = map.next_key()? {
            if is_id && self.want_map {
                // A repeated key counts as its last occurrence, as in a parsed JSON object.
                id = map.next_value::<Found>()?.id;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(Found { id })
    }
}

/// `Retry-After` (seconds) of a delivery shed because the server is at a limit.
const RETRY_AFTER_BUSY: HeaderValue = HeaderValue::from_static("1");

/// `Retry-After` (seconds) of a delivery that found the database locked, slow or away.
const RETRY_AFTER_DATABASE: HeaderValue = HeaderValue::from_static("5");

/// A short JSON answer: `{"status": ...}` for success, `{"error": ...}` otherwise.
pub(crate) fn reply(status: StatusCode, text: &str) -> Response {
    let key: &[u8] = if status.is_success() {
        b"{\"status\":"
    } else {
        b"{\"error\":"
    };
    // Written straight into the body (no JSON map built per request); a string always
    // serialises.
    let mut body = Vec::with_capacity(key.len() + text.len() + 3);
    body.extend_from_slice(key);
    let _ = serde_json::to_writer(&mut body, text);
    body.push(b'}');
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// How a delivery that was handled is acknowledged (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// `user.deleted` acted on.
    Processed,
    /// An event that needs no action (or `user.deleted` without a user id).
    Ignored,
    /// A redelivery of a message already recorded.
    Duplicate,
}

impl IntoResponse for Ack {
    fn into_response(self) -> Response {
        reply(
            StatusCode::OK,
            match self {
                Ack::Processed => "processed",
                Ack::Ignored => "ignored",
                Ack::Duplicate => "duplicate",
            },
        )
    }
}

/// Why a delivery was not acknowledged. Each variant knows its status code, its
/// short JSON body, its log line and its metric: [`DeliveryError::count`] and the
/// [`IntoResponse`] impl are the only places a refused delivery is answered.
#[derive(Debug)]
pub enum DeliveryError {
    /// 503: too many deliveries in flight (`limit` of them).
    Busy {
        /// The concurrency limit.
        limit: u32,
    },
    /// 503: the memory reserved for request bodies is exhausted.
    BodyMemory {
        /// The limit in KiB.
        limit_kib: u32,
    },
    /// 413: the body is (or declares to be) larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// 400: the body could not be read.
    Unreadable,
    /// 408 and `Connection: close`: the body did not arrive within `timeout`.
    BodyTimeout {
        /// The body read deadline.
        timeout: Duration,
    },
    /// 503: handling took longer than `timeout`; nothing was committed.
    HandlerTimeout {
        /// The handler deadline.
        timeout: Duration,
    },
    /// 401: the signature check failed; nothing was parsed or written.
    Rejected(Rejection),
    /// 400: a verified body that is not a Clerk event.
    Malformed {
        /// The svix message id.
        message_id: String,
        /// What is wrong with the body.
        error: MalformedEvent,
    },
    /// 503: the database refused or failed the delivery's transaction; nothing committed.
    Database {
        /// The svix message id.
        message_id: String,
        /// The event type, for the metric.
        kind: String,
        /// The driver error, password scrubbed.
        cause: DbCause,
    },
}

impl DeliveryError {
    /// Counts the refusal in `metrics`.
    pub fn count(&self, metrics: &Metrics) {
        match self {
            DeliveryError::Busy { .. } => metrics.shed("concurrency"),
            DeliveryError::BodyMemory { .. } => metrics.shed("body_memory"),
            DeliveryError::BodyTimeout { .. } => metrics.shed("body_timeout"),
            DeliveryError::HandlerTimeout { .. } => metrics.shed("handler_timeout"),
            DeliveryError::TooLarge | DeliveryError::Unreadable => {}
            DeliveryError::Rejected(rejection) => metrics.signature_failure(rejection.reason()),
            DeliveryError::Malformed { .. } => metrics.event("malformed", "rejected"),
            DeliveryError::Database { kind, cause, .. } => {
                metrics.event(kind, "unavailable");
                metrics.shed(database_refusal(cause).0);
            }
        }
    }
}

/// The metric reason and the answer of a database failure.
fn database_refusal(cause: &DbCause) -> (&'static str, &'static str) {
    match cause.sqlstate() {
        Some("55P03") => ("database_lock", "the user's rows are locked; retry later"),
        Some("57014") => ("database_timeout", "database statement timed out"),
        _ => ("database", "database unavailable"),
    }
}

/// 503 with `Retry-After`.
fn shed(text: &str, retry_after: HeaderValue) -> Response {
    let mut response = reply(StatusCode::SERVICE_UNAVAILABLE, text);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after);
    response
}

impl IntoResponse for DeliveryError {
    /// Logs the refusal and answers it.
    fn into_response(self) -> Response {
        match self {
            DeliveryError::Busy { limit } => {
                tracing::warn!(
                    limit,
                    "webhook delivery shed: too many deliveries in flight"
                );
                shed("too many deliveries in flight", RETRY_AFTER_BUSY)
            }
            DeliveryError::BodyMemory { limit_kib } => {
                tracing::warn!(
                    limit_kib,
                    "webhook delivery shed: request body memory is exhausted"
                );
                shed("too many request bodies in flight", RETRY_AFTER_BUSY)
            }
            DeliveryError::TooLarge => {
                tracing::warn!(
                    limit = MAX_BODY_BYTES,
                    "webhook delivery rejected: body too large"
                );
                reply(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 1 MiB")
            }
            DeliveryError::Unreadable => {
                tracing::warn!("webhook body could not be read");
                reply(StatusCode::BAD_REQUEST, "body could not be read")
            }
            DeliveryError::BodyTimeout { timeout } => {
                tracing::warn!(timeout = ?timeout, "webhook delivery rejected: body not received in time");
                let mut response = reply(StatusCode::REQUEST_TIMEOUT, "body not received in time");
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
            DeliveryError::HandlerTimeout { timeout } => {
                tracing::error!(timeout = ?timeout, "webhook delivery not handled in time; nothing committed, Clerk will retry");
                shed("delivery not handled in time", RETRY_AFTER_DATABASE)
            }
            DeliveryError::Rejected(rejection) => {
                tracing::warn!(
                    reason = rejection.message(),
                    "webhook delivery rejected; nothing written"
                );
                reply(StatusCode::UNAUTHORIZED, rejection.message())
            }
            DeliveryError::Malformed { message_id, error } => {
                tracing::warn!(message_id = %message_id, error = %error, "delivery body is not a Clerk event");
                reply(StatusCode::BAD_REQUEST, &error.to_string())
            }
            DeliveryError::Database {
                message_id, cause, ..
            } => {
                tracing::error!(message_id = %message_id, error = %cause, sqlstate = cause.sqlstate(), "delivery not processed, nothing committed; Clerk will retry");
                shed(database_refusal(&cause).1, RETRY_AFTER_DATABASE)
            }
        }
    }
}

/// Parses a verified body into the event the server acts on.
///
/// # Errors
/// [`MalformedEvent`] when the body is not JSON or not shaped like a Clerk event.
pub fn parse_event(body: &[u8]) -> std::result::Result<ClerkEvent, MalformedEvent> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            MalformedEvent::Shape
        } else {
            MalformedEvent::Syntax {
                line: e.line(),
                column: e.column(),
            }
        }
    })?;
    if envelope.kind != "user.deleted" {
        return Ok(ClerkEvent::Other {
            kind: envelope.kind,
        });
    }
    let user_id = envelope
        .data
        .as_ref()
        .and_then(|d| d.0.as_deref())
        .map(str::trim)
        .filter(|id| !id.is_empty());
    Ok(match user_id {
        Some(id) => ClerkEvent::UserDeleted {
            user_id: id.to_owned(),
        },
        None => ClerkEvent::UserDeletedWithoutId,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("svix-id", id.parse().unwrap());
        h.insert("svix-timestamp", ts.to_string().parse().unwrap());
        h.insert("svix-signature", sig.parse().unwrap());
        h
    }

    fn verifier() -> Verifier {
        Verifier::new(&SecretString::new(SECRET), None).unwrap()
    }

    #[test]
    fn secrets_without_prefix_or_with_bad_base64_are_refused_without_quoting_them() {
        for (value, problem) in [
            (
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "does not start with `whsec_`",
            ),
            ("whsec_", "nothing follows"),
            ("whsec_not*base64!", "not valid base64"),
            ("", "does not start with `whsec_`"),
        ] {
            let err = Verifier::new(&SecretString::new(value), None).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(problem), "{text}");
            assert!(text.starts_with("CLERK_WEBHOOK_SECRET is not"), "{text}");
            if value.len() > 6 {
                assert!(!text.contains(&value[6..]), "secret leaked: {text}");
            }
        }
        let err = Verifier::new(&SecretString::new(SECRET), Some(&SecretString::new("nope")))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CLERK_WEBHOOK_SECRET_PREVIOUS is not")
        );
    }

    #[test]
    fn a_trailing_newline_on_the_secret_is_tolerated() {
        assert!(Verifier::new(&SecretString::new(format!("{SECRET}\n")), None).is_ok());
    }

    #[test]
    fn fixed_vector_verifies_at_its_own_time_and_not_later() {
        let body = br#"{"test": 2432232314}"#;
        let h = headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let v = verifier().verify(&h, body, 1_614_265_330).unwrap();
        assert_eq!(v.message_id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(
            verifier().verify(&h, body, 1_614_265_330 + 301),
            Err(Rejection::StaleTimestamp)
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let full = headers("msg_1", 100, "v1,abc");
        for (name, header) in [
            ("svix-id", Header::Id),
            ("svix-timestamp", Header::Timestamp),
            ("svix-signature", Header::Signature),
        ] {
            let mut h = full.clone();
            h.remove(name);
            assert_eq!(
                verifier().verify(&h, b"{}", 100),
                Err(Rejection::MissingHeader(header))
            );
        }
    }

    #[test]
    fn parse_tells_the_three_event_kinds_apart() {
        assert_eq!(
            parse_event(br#"{"type":"user.deleted","data":{"id":"user_1","deleted":true}}"#),
            Ok(ClerkEvent::UserDeleted {
                user_id: "user_1".into()
            })
        );
        for body in [
            &br#"{"type":"user.deleted","data":{"deleted":true}}"#[..],
            br#"{"type":"user.deleted"}"#,
            br#"{"type":"user.deleted","data":{"id":""}}"#,
            br#"{"type":"user.deleted","data":{"id":42}}"#,
            br#"{"type":"user.deleted","data":null}"#,
            br#"{"type":"user.deleted","data":"user_1"}"#,
            br#"{"type":"user.deleted","data":["user_1"]}"#,
            br#"{"type":"user.deleted","data":{"user":{"id":"user_1"}}}"#,
            br#"{"type":"user.deleted","data":{"id":"user_1","id":null}}"#,
        ] {
            assert_eq!(parse_event(body), Ok(ClerkEvent::UserDeletedWithoutId));
        }
        assert_eq!(
            parse_event(
                br#"{"data":{"object":"user","id":"user_\u0032","emails":[{"id":"e_1"}]},"type":"user.deleted"}"#
            ),
            Ok(ClerkEvent::UserDeleted {
                user_id: "user_2".into()
            })
        );
        assert_eq!(
            parse_event(br#"{"type":"session.created","data":{}}"#),
            Ok(ClerkEvent::Other {
                kind: "session.created".into()
            })
        );
    }

    #[test]
    fn malformed_bodies_do_not_quote_their_content() {
        let err = parse_event(br#"{"type": "sentinel-body-42"#).unwrap_err();
        assert!(matches!(err, MalformedEvent::Syntax { .. }));
        let err = parse_event(br#"{"type": ["sentinel-body-42"]}"#).unwrap_err();
        assert_eq!(err, MalformedEvent::Shape);
        assert!(!err.to_string().contains("sentinel"));
        assert_eq!(parse_event(b"[]"), Err(MalformedEvent::Shape));
    }
}
