//! The API server's warnings, shown to the operator.
//!
//! The server answers a request that it accepted but finds questionable (a deprecated
//! API or field, a value it will treat differently than written, an unknown field under
//! `fieldValidation=Warn`, a Pod Security `warn` level) with `Warning` response headers
//! (`299 - "text"`, the shape of RFC 7234 section 5.5). kube's client stack passes response
//! headers through untouched but nothing in it reads them, so this layer sits in that
//! stack, reads them from every response, and prints each one once as a warning (an
//! `::warning` annotation under GitHub Actions), naming the object the request was about.
//! A dry run and the real write that follows it give the same warning: printed once.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};

/// The warn-code the API server uses for every warning (client-go shows only this one).
const MISCELLANEOUS_PERSISTENT_WARNING: &str = "299";

/// A tower layer that reports the API server's warnings (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct WarningLayer {
    seen: Arc<Mutex<HashSet<String>>>,
}

impl<S> tower_layer::Layer<S> for WarningLayer {
    type Service = WarningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WarningService {
            inner,
            seen: self.seen.clone(),
        }
    }
}

/// The service made by [`WarningLayer`].
#[derive(Clone)]
pub(crate) struct WarningService<S> {
    inner: S,
    seen: Arc<Mutex<HashSet<String>>>,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for WarningService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let subject = subject(request.uri().path());
        let seen = self.seen.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            for text in warnings(response.headers()) {
                let message = match &subject {
                    Some(subject) => format!("the API server warns about {subject}: {text}"),
                    None => format!("the API server warns: {text}"),
                };
                let new = seen
                    .lock()
                    .map(|mut seen| seen.insert(message.clone()))
                    .unwrap_or(true);
                if new {
                    crate::report::warning(&message);
                }
            }
            Ok(response)
        })
    }
}

/// What a request path is about, kubectl style: `deployments.apps/web`, `secrets/db`,
/// `cronjobs.batch` (a collection). `None` for paths that name no resource.
#[must_use]
pub(crate) fn subject(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... (core group) or /apis/GROUP/VERSION/...
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    let resource = |r: &str| {
        if group.is_empty() {
            r.to_string()
        } else {
            format!("{r}.{group}")
        }
    };
    match rest {
        [] => None,
        [r] => Some(resource(r)),
        [r, name, ..] => Some(format!("{}/{name}", resource(r))),
    }
}

/// The texts of the `299` warnings among `headers` (several per header value allowed,
/// separated by commas, as client-go parses them); malformed values are skipped.
#[must_use]
pub(crate) fn warnings(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::WARNING)
        .iter()
        .flat_map(|value| parse(&String::from_utf8_lossy(value.as_bytes())))
        .collect()
}

/// Parses one header value: `code SP agent SP "text" [SP "date"] *( "," ... )`.
fn parse(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let Some((code, after)) = rest.split_once(' ') else {
            break;
        };
        let Some((_agent, after)) = after.trim_start().split_once(' ') else {
            break;
        };
        let Some((text, after)) = quoted(after.trim_start()) else {
            break;
        };
        let mut after = after.trim_start();
        // An optional warn-date, also a quoted string.
        if after.starts_with('"')
            && let Some((_, tail)) = quoted(after)
        {
            after = tail.trim_start();
        }
        if code == MISCELLANEOUS_PERSISTENT_WARNING && !text.trim().is_empty() {
            out.push(text);
        }
        match after.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None => break,
        }
    }
    out
}

/// A quoted-string at the start of `s` (backslash escapes), and what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut text = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => text.push(chars.next()?.1),
            '"' => return Some((text, &s[i + 2..])),
            c => text.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(http::header::WARNING, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn warning_headers_give_their_texts() {
        let map = headers(&[
            r#"299 - "spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use \"kubernetes.io/os\" instead""#,
            r#"299 - "one", 299 - "two" "Wed, 02 Dec 2026 13:00:00 GMT""#,
            r#"199 - "not shown""#,
            r#"299 - "unterminated"#,
            "garbage",
        ]);
        assert_eq!(
            warnings(&map),
            vec![
                r#"spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead"#,
                "one",
                "two",
            ]
        );
        assert!(warnings(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn request_paths_name_the_object() {
        let cases = [
            (
                "/apis/apps/v1/namespaces/ns/deployments/web",
                Some("deployments.apps/web"),
            ),
            ("/api/v1/namespaces/ns/secrets/db", Some("secrets/db")),
            (
                "/apis/batch/v1/namespaces/ns/cronjobs",
                Some("cronjobs.batch"),
            ),
            ("/api/v1/namespaces/ns", Some("namespaces/ns")),
            ("/api/v1/namespaces/ns/pods/p/log", Some("pods/p")),
            ("/apis/policy/v1", None),
            ("/version", None),
        ];
        for (path, want) in cases {
            assert_eq!(subject(path).as_deref(), want, "{path}");
        }
    }
}
