//! Prometheus metrics of the webhook receiver, exposed on `GET /metrics`.
//!
//! Label values come from closed sets (route templates, status codes, rejection
//! reasons) or from verified Clerk event types, so an attacker cannot grow the
//! series count by sending junk.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Content type of the text exposition (OpenMetrics, which Prometheus scrapes natively).
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `gpt_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// Labels of `gpt_webhook_signature_failures_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Labels of `gpt_webhook_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    r#type: String,
    outcome: &'static str,
}

/// The counters of `gpt_webhook_events_total` by event type, then by outcome.
type EventCounters = HashMap<Box<str>, Vec<(&'static str, Counter)>>;

/// Every metric of the server, cheap to clone (one shared registry).
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    signature_failures: Family<ReasonLabels, Counter>,
    processing: Histogram,
    events: Family<EventLabels, Counter>,
    /// The counters of `events` already resolved, by event type and then outcome, so that
    /// counting an event type seen before neither allocates its label nor hashes the label set.
    event_counters: RwLock<EventCounters>,
    shed: Family<ReasonLabels, Counter>,
    connections_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Longest event type kept as a label value; Clerk's are far shorter.
const MAX_TYPE_LABEL: usize = 64;

impl Metrics {
    /// Registers every metric in a fresh registry.
    #[must_use]
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("gpt");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by route template, method and status code",
            requests.clone(),
        );
        let signature_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "webhook_signature_failures",
            "Webhook deliveries rejected before parsing, by reason",
            signature_failures.clone(),
        );
        // 100 µs .. ~3.3 s: verification alone sits at the bottom, database work in the middle.
        let processing = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "webhook_processing",
            "Time from a complete request body to the response, per webhook delivery",
            prometheus_client::registry::Unit::Seconds,
            processing.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "webhook_events",
            "Verified Clerk events, by event type and outcome",
            events.clone(),
        );
        let shed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "webhook_shed",
            "Webhook deliveries answered 503 or 408 because a limit was reached (concurrency, \
             body memory, body timeout, handler timeout, database lock or timeout), by reason",
            shed.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "http_connections_refused",
            "Connections closed on accept because MAX_CONNECTIONS were open",
            connections_refused.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because the log queue was full (stderr slower than the requests)",
            super::log_writer::dropped_lines().clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                signature_failures,
                processing,
                events,
                event_counters: RwLock::default(),
                shed,
                connections_refused,
            }),
        }
    }

    /// Counts one served request.
    pub(crate) fn request(&self, route: &'static str, method: &'static str, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// Counts one delivery rejected before parsing.
    pub(crate) fn signature_failure(&self, reason: &'static str) {
        self.inner
            .signature_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Records how long one delivery took to process.
    pub(crate) fn processing(&self, elapsed: Duration) {
        self.inner.processing.observe(elapsed.as_secs_f64());
    }

    /// Counts one verified event by its type and what was done with it.
    pub(crate) fn event(&self, kind: &str, outcome: &'static str) {
        let kind = match kind.char_indices().nth(MAX_TYPE_LABEL) {
            Some((cut, _)) => &kind[..cut],
            None => kind,
        };
        let known = self.inner.event_counters.read().ok().and_then(|counters| {
            counters.get(kind).and_then(|outcomes| {
                outcomes
                    .iter()
                    .find(|(o, _)| *o == outcome)
                    .map(|(_, counter)| counter.inc())
            })
        });
        if known.is_none() {
            self.first_event(kind, outcome);
        }
    }

    /// Resolves (creating it if needed) and counts the series of an event type and outcome
    /// not counted through the cache before.
    #[cold]
    fn first_event(&self, kind: &str, outcome: &'static str) {
        let counter = self
            .inner
            .events
            .get_or_create(&EventLabels {
                r#type: kind.to_owned(),
                outcome,
            })
            .clone();
        counter.inc();
        // A poisoned cache is still a valid map: a panic cannot leave it half-updated.
        let mut counters = self
            .inner
            .event_counters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let outcomes = counters.entry(kind.into()).or_default();
        if !outcomes.iter().any(|(o, _)| *o == outcome) {
            outcomes.push((outcome, counter));
        }
    }

    /// Counts one delivery refused because a limit was reached.
    pub(crate) fn shed(&self, reason: &'static str) {
        self.inner
            .shed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts one connection closed on accept (too many open).
    pub(crate) fn connection_refused(&self) {
        self.inner.connections_refused.inc();
    }

    /// The text exposition of every metric.
    #[must_use]
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_contains_every_family_with_its_labels() {
        let m = Metrics::new();
        m.request("/v2/oauth/webhooks/clerk", "POST", 401);
        m.signature_failure("stale timestamp");
        m.processing(Duration::from_millis(2));
        m.event("user.deleted", "processed");
        let text = m.render();
        assert!(text.contains(
            r#"gpt_http_requests_total{route="/v2/oauth/webhooks/clerk",method="POST",status="401"} 1"#
        ));
        assert!(
            text.contains(r#"gpt_webhook_signature_failures_total{reason="stale timestamp"} 1"#)
        );
        assert!(text.contains("gpt_webhook_processing_seconds_count 1"));
        assert!(
            text.contains(r#"gpt_webhook_events_total{type="user.deleted",outcome="processed"} 1"#)
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn repeated_events_add_up_in_one_series_per_type_and_outcome() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.event("session.created", "ignored");
        }
        m.event("session.created", "rejected");
        m.event("user.deleted", "ignored");
        m.event("user.deleted", "processed");
        m.event("user.deleted", "processed");
        let text = m.render();
        for (series, count) in [
            (r#"type="session.created",outcome="ignored""#, 3),
            (r#"type="session.created",outcome="rejected""#, 1),
            (r#"type="user.deleted",outcome="ignored""#, 1),
            (r#"type="user.deleted",outcome="processed""#, 2),
        ] {
            let line = format!("gpt_webhook_events_total{{{series}}} {count}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert_eq!(text.matches("gpt_webhook_events_total{").count(), 4);
    }

    #[test]
    fn long_event_types_are_cut_on_a_char_boundary() {
        let m = Metrics::new();
        let long = "é".repeat(100);
        m.event(&long, "ignored");
        let text = m.render();
        assert!(text.contains(&format!("type=\"{}\"", "é".repeat(MAX_TYPE_LABEL))));
    }
}
