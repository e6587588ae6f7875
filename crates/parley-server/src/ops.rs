//! Operations endpoints: liveness, readiness, Prometheus metrics, and the request metrics
//! middleware that feeds them.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Prometheus text exposition. With `metrics_token` set it needs `Authorization: Bearer <token>`;
/// with `metrics_listen` set it is served only there ([`metrics_app`]) and not on the main port.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, body = String), (status = 401, body = String), (status = 404, body = String)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.config.metrics_listen.is_some() {
        return (
            StatusCode::NOT_FOUND,
            "metrics are served on their own address",
        )
            .into_response();
    }
    render_metrics(&state, &headers)
}

fn render_metrics(state: &AppState, headers: &HeaderMap) -> Response {
    if let Some(expected) = state.config.metrics_token.as_deref() {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // Compared as hashes: equal length, and no early exit that times the match.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                "metrics need the metrics token",
            )
                .into_response();
        }
    }
    match &state.metrics {
        Some(handle) => (
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

/// `/metrics` alone, for the separate `metrics_listen` address (a port kept inside the
/// operator's network). The metrics token, when set, is asked there too.
pub fn metrics_app(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |State(state): State<AppState>, headers: HeaderMap| async move {
                    render_metrics(&state, &headers)
                },
            ),
        )
        .with_state(state)
}

/// Query parameters whose values are secrets: Meta's subscription handshake carries the channel's
/// verify token in the URL, and some clients put tokens in the query.
const SECRET_PARAMS: &[&str] = &[
    "hub.verify_token",
    "verify_token",
    "token",
    "access_token",
    "auth_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "client_secret",
    "password",
    "signature",
    "code",
];

/// The request's path and query for logs, every secret query value replaced with `REDACTED`.
pub fn redacted_uri(uri: &Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = name
                .replace("%2E", ".")
                .replace("%2e", ".")
                .to_ascii_lowercase();
            if !value.is_empty() && SECRET_PARAMS.contains(&decoded.as_str()) {
                format!("{name}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// The request span of the trace layer: method, redacted URI and version, never headers (they
/// carry bearer tokens, Basic credentials and console cookies).
pub fn request_span(req: &Request) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %redacted_uri(req.uri()),
        version = ?req.version(),
    )
}

/// Counts requests and observes their latency by route template (never by raw path, which would
/// put customer ids into label values).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("parley_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("parley_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted() {
        let uri: Uri =
            "/webhooks/meta/x?hub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=42"
                .parse()
                .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/webhooks/meta/x?hub.mode=subscribe&hub.verify_token=REDACTED&hub.challenge=42"
        );
        let uri: Uri = "/a?Token=x&access_token=y&page=2&hub%2Everify_token=z"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/a?Token=REDACTED&access_token=REDACTED&page=2&hub%2Everify_token=REDACTED"
        );
        let uri: Uri = "/plain".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/plain");
    }
}
