//! Standard Webhooks (svix) signature verification and Clerk event parsing.
//!
//! The body is verified as the raw bytes Clerk sent, before anything parses it:
//! re-serialised JSON would not match the signature. The check follows the
//! Standard Webhooks scheme that svix signs with: HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` with the base64 key after `whsec_`, sent as one or
//! more space-separated `v1,<base64>` signatures, compared in constant time.
//! The key is decoded and the HMAC keyed once at start-up, and the signed
//! content is fed to the HMAC in place (no copy of the body per delivery); the
//! tests sign with svix's own library, so any drift from svix fails them. This
//! module also owns the replay window with an injectable clock, our own secret
//! rotation (`CLERK_WEBHOOK_SECRET_PREVIOUS`), rejection reasons for responses
//! and metrics, and the typed Clerk events the server acts on.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::db::DbCause;
use super::metrics::Metrics;
use crate::secret::SecretString;

/// Largest accepted request body (1 MiB); larger bodies get 413.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

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
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

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
    pub(crate) fn names(self) -> [&'static str; 2] {
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
    pub(crate) fn reason(self) -> &'static str {
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
    pub(crate) fn message(self) -> &'static str {
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

/// One signing secret, decoded and keyed into an HMAC once; its state is copied per delivery
/// (cheap: the key's inner and outer pads are already hashed). Boxed, so a [`Verifier`] stays
/// small wherever it is moved.
pub(crate) struct SigningKey(Box<Hmac<Sha256>>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Length of a base64-encoded HMAC-SHA256 tag (32 bytes, padded).
const TAG_BASE64_LEN: usize = 44;

/// The signature version this server accepts (Standard Webhooks' symmetric scheme).
const SIGNATURE_VERSION: &str = "v1";

impl SigningKey {
    /// True when one of the space-separated `v1,<base64>` entries of `signatures` is the
    /// signature of `{id}.{timestamp}.{body}` under this key. Entries of other versions and
    /// malformed entries are skipped, as svix does.
    fn signs(&self, id: &str, timestamp: i64, body: &[u8], signatures: &str) -> bool {
        // A copy of the keyed state on the stack, not a new box.
        let mut mac = Hmac::clone(&self.0);
        mac.update(id.as_bytes());
        mac.update(b".");
        // The decimal form of the parsed number is signed, as svix does (`+12` signs as `12`).
        let mut digits = [0u8; 20];
        mac.update(decimal(timestamp, &mut digits));
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let mut expected = [0u8; TAG_BASE64_LEN];
        // 32 bytes always encode to 44 base64 characters.
        let written = BASE64.encode_slice(tag, &mut expected).unwrap_or(0);
        let expected = &expected[..written];
        // Every entry is compared, whether or not an earlier one matched.
        signatures
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == SIGNATURE_VERSION)
            .fold(false, |found, (_, signature)| {
                constant_time_eq(signature.as_bytes(), expected) | found
            })
    }
}

/// `n` in decimal, written into `buffer` (an i64 has at most 20 characters with its sign).
fn decimal(n: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        // `rest % 10` is a single digit.
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buffer[at] = b'-';
    }
    &buffer[at..]
}

/// Equality of two byte strings whose time depends only on their lengths (which are public:
/// a signature's length says nothing about the key), never on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the compiler from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

/// Checks deliveries against the current secret and, while rotating, the previous one.
pub struct Verifier {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl Verifier {
    /// True while a previous secret is accepted too (a rotation in progress).
    #[must_use]
    pub(crate) fn rotating(&self) -> bool {
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
pub(crate) fn parse_secret(var: &'static str, secret: &SecretString) -> Result<SigningKey> {
    let invalid = |problem| Error::InvalidSecret { var, problem };
    // A trailing newline is what `kubectl create secret --from-file` and `echo` leave behind.
    let value = secret.expose().trim();
    let key = value
        .strip_prefix("whsec_")
        .ok_or_else(|| invalid("it does not start with `whsec_`"))?;
    if key.is_empty() {
        return Err(invalid("nothing follows `whsec_`"));
    }
    let key = BASE64
        .decode(key)
        .map_err(|_| invalid("the part after `whsec_` is not valid base64"))?;
    if key.is_empty() {
        return Err(invalid("the key after `whsec_` decodes to nothing"));
    }
    // HMAC takes keys of any length; the error arm cannot happen.
    Hmac::<Sha256>::new_from_slice(&key)
        .map(|mac| SigningKey(Box::new(mac)))
        .map_err(|_| invalid("the key after `whsec_` decodes to nothing"))
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
            .parse::<i64>()
            .map_err(|_| Rejection::InvalidTimestamp)?;
        let signatures = Header::Signature.get(headers)?;
        // Same window as svix (inclusive at ±5 min), checked here so tests can move the clock.
        if timestamp < now.saturating_sub(TOLERANCE_SECONDS) {
            return Err(Rejection::StaleTimestamp);
        }
        if timestamp > now.saturating_add(TOLERANCE_SECONDS) {
            return Err(Rejection::FutureTimestamp);
        }
        // svix refuses to sign or verify a body that is not UTF-8, whatever the signature.
        if std::str::from_utf8(body).is_err() {
            return Err(Rejection::PayloadNotUtf8);
        }
        let signed_by = |key: &SigningKey| key.signs(message_id, timestamp, body, signatures);
        if signed_by(&self.current) || self.previous.as_ref().is_some_and(signed_by) {
            Ok(Verified {
                message_id: message_id.to_owned(),
                timestamp,
            })
        } else {
            Err(Rejection::BadSignature)
        }
    }
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
    pub(crate) fn kind(&self) -> &str {
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
pub(crate) enum Ack {
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
pub(crate) enum DeliveryError {
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
    pub(crate) fn count(&self, metrics: &Metrics) {
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

    const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    /// The svix library's own signature (`v1,<base64>`), the reference this verifier must match.
    fn svix_sign(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
        svix::webhooks::Webhook::new(secret)
            .unwrap()
            .sign(id, ts, body)
            .unwrap()
    }

    const NOW: i64 = 1_764_000_000;
    const BODY: &[u8] = br#"{"type":"session.created","data":{"id":"sess_1"}}"#;

    #[test]
    fn svix_signatures_verify_and_anything_else_does_not() {
        let good = svix_sign(SECRET, "msg_a", NOW, BODY);
        let wrong = svix_sign(OTHER, "msg_a", NOW, BODY);
        let v = verifier();
        assert_eq!(
            v.verify(&headers("msg_a", NOW, &good), BODY, NOW),
            Ok(Verified {
                message_id: "msg_a".into(),
                timestamp: NOW
            })
        );
        for (id, ts, sig, body) in [
            ("msg_a", NOW, wrong.as_str(), BODY),
            // Signed for another id, another second, or another body.
            ("msg_b", NOW, good.as_str(), BODY),
            ("msg_a", NOW + 1, good.as_str(), BODY),
            ("msg_a", NOW, good.as_str(), &BODY[..BODY.len() - 1]),
            // The right bytes under another version tag, without a tag, or cut short.
            ("msg_a", NOW, &good.replacen("v1,", "v2,", 1), BODY),
            ("msg_a", NOW, &good["v1,".len()..], BODY),
            ("msg_a", NOW, &good[..good.len() - 1], BODY),
            ("msg_a", NOW, "v1,", BODY),
            ("msg_a", NOW, "v1", BODY),
        ] {
            assert_eq!(
                v.verify(&headers(id, ts, sig), body, NOW),
                Err(Rejection::BadSignature),
                "{id} {ts} {sig}"
            );
        }
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let good = svix_sign(SECRET, "msg_m", NOW, BODY);
        let wrong = svix_sign(OTHER, "msg_m", NOW, BODY);
        let v = verifier();
        for list in [
            format!("{wrong} {good}"),
            format!("{good} {wrong}"),
            format!("v1,AAAA v2,xyz garbage {good}"),
        ] {
            assert!(
                v.verify(&headers("msg_m", NOW, &list), BODY, NOW).is_ok(),
                "{list}"
            );
        }
        for list in [format!("{wrong} v1,"), format!("{wrong} {wrong}")] {
            assert_eq!(
                v.verify(&headers("msg_m", NOW, &list), BODY, NOW),
                Err(Rejection::BadSignature),
                "{list}"
            );
        }
    }

    #[test]
    fn the_window_is_five_minutes_each_way_inclusive() {
        let v = verifier();
        for (ts, expected) in [
            (NOW - TOLERANCE_SECONDS, None),
            (NOW + TOLERANCE_SECONDS, None),
            (NOW - TOLERANCE_SECONDS - 1, Some(Rejection::StaleTimestamp)),
            (
                NOW + TOLERANCE_SECONDS + 1,
                Some(Rejection::FutureTimestamp),
            ),
            (-1, Some(Rejection::StaleTimestamp)),
            (i64::MAX, Some(Rejection::FutureTimestamp)),
        ] {
            let sig = svix_sign(SECRET, "msg_t", ts, BODY);
            assert_eq!(
                v.verify(&headers("msg_t", ts, &sig), BODY, NOW).err(),
                expected,
                "{ts}"
            );
        }
    }

    #[test]
    fn the_timestamp_is_signed_in_the_decimal_form_svix_signs() {
        // svix parses the header and signs the number it read, so `+1764000000` and
        // `01764000000` verify with the signature of `1764000000`.
        let sig = svix_sign(SECRET, "msg_d", NOW, BODY);
        for written in [format!("+{NOW}"), format!("0{NOW}")] {
            let mut h = headers("msg_d", NOW, &sig);
            h.insert("svix-timestamp", written.parse().unwrap());
            assert!(verifier().verify(&h, BODY, NOW).is_ok(), "{written}");
        }
        let mut digits = [0u8; 20];
        for n in [0, 7, -7, 10, NOW, -NOW, i64::MAX, i64::MIN] {
            assert_eq!(decimal(n, &mut digits), n.to_string().as_bytes());
        }
    }

    #[test]
    fn headers_under_standard_webhooks_names_verify_and_svix_names_win() {
        let good = svix_sign(SECRET, "msg_s", NOW, BODY);
        let mut h = HeaderMap::new();
        h.insert("webhook-id", "msg_s".parse().unwrap());
        h.insert("webhook-timestamp", NOW.to_string().parse().unwrap());
        h.insert("webhook-signature", good.parse().unwrap());
        assert!(verifier().verify(&h, BODY, NOW).is_ok());
        h.insert("svix-id", "msg_other".parse().unwrap());
        assert_eq!(
            verifier().verify(&h, BODY, NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn bad_headers_and_bodies_are_named() {
        let good = svix_sign(SECRET, "msg_h", NOW, BODY);
        let mut h = headers("msg_h", NOW, &good);
        h.insert("svix-timestamp", "soon".parse().unwrap());
        assert_eq!(
            verifier().verify(&h, BODY, NOW),
            Err(Rejection::InvalidTimestamp)
        );
        let mut h = headers("msg_h", NOW, &good);
        h.insert("svix-signature", " ".parse().unwrap());
        assert_eq!(
            verifier().verify(&h, BODY, NOW),
            Err(Rejection::InvalidHeader(Header::Signature))
        );
        assert_eq!(
            verifier().verify(&headers("msg_h", NOW, &good), b"\xff{}", NOW),
            Err(Rejection::PayloadNotUtf8)
        );
    }

    #[test]
    fn the_previous_secret_counts_only_while_configured() {
        let by_other = svix_sign(OTHER, "msg_r", NOW, BODY);
        let by_current = svix_sign(SECRET, "msg_r", NOW, BODY);
        let rotating =
            Verifier::new(&SecretString::new(SECRET), Some(&SecretString::new(OTHER))).unwrap();
        assert!(rotating.rotating());
        for sig in [&by_other, &by_current] {
            assert!(
                rotating
                    .verify(&headers("msg_r", NOW, sig), BODY, NOW)
                    .is_ok()
            );
        }
        assert_eq!(
            verifier().verify(&headers("msg_r", NOW, &by_other), BODY, NOW),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn keys_are_what_svix_decodes() {
        // A key svix accepts without the prefix is refused here (the prefix is required), and
        // padding-free or non-canonical base64 is refused like svix refuses it.
        for value in ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "whsec_AB=="] {
            let ours = Verifier::new(&SecretString::new(value), None).is_ok();
            let theirs = svix::webhooks::Webhook::new(value).is_ok();
            assert_eq!(ours, theirs, "{value}");
        }
        assert!(svix::webhooks::Webhook::new(&SECRET["whsec_".len()..]).is_ok());
        assert!(Verifier::new(&SecretString::new(&SECRET["whsec_".len()..]), None).is_err());
        let debug = format!("{:?} {:?}", verifier(), verifier().current);
        assert!(!debug.contains(&SECRET["whsec_".len()..]), "{debug}");
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
