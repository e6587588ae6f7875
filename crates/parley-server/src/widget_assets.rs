//! The web chat widget's script (`GET /widget.js`) and the demo's sample shop page.
//!
//! The script is loaded by other sites' pages, so it is served to any origin (`Access-Control-
//! Allow-Origin: *` on a public, credential-free file is harmless) and marked
//! `Cross-Origin-Resource-Policy: cross-origin` so a host page that isolates itself can still load
//! it. The snippet's URL carries no version, so the file is revalidated through its ETag after a
//! short freshness period; a link with the current `?v=` hash may be cached for a year.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::AppState;

const WIDGET_JS: &str = include_str!("../assets/widget.js");
const SHOP_HTML: &str = include_str!("../assets/shop.html");
const SHOP_JS: &str = include_str!("../assets/shop.js");
const SHOP_CSS: &str = include_str!("../assets/shop.css");
const PARCEL_PNG: &[u8] = include_bytes!("../assets/parcel.png");

/// How long a browser may use its copy of the unversioned script before asking again.
const FRESH_SECS: u32 = 300;

/// `GET /widget.js` (and HEAD).
pub fn widget_asset_routes() -> Router<AppState> {
    Router::new().route("/widget.js", get(widget_js))
}

/// The script's version: the start of its content hash.
pub fn widget_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let digest = Sha256::digest(WIDGET_JS.as_bytes());
        hex::encode(digest.get(..8).unwrap_or_default())
    })
}

async fn widget_js(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let version = widget_version();
    let etag = format!("\"w-{version}\"");
    let versioned = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p.strip_prefix("v=") == Some(version)));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/javascript; charset=utf-8"),
            )],
            WIDGET_JS,
        )
            .into_response()
    };
    let cache = if versioned {
        "public, max-age=31536000, immutable".to_owned()
    } else {
        format!("public, max-age={FRESH_SECS}, must-revalidate")
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    response
}

/// The sample shop page `parley demo` serves on a second origin (and the browser tests use as
/// their host page): a product list and the widget's snippet pointing at `parley_url`
/// (`http://127.0.0.1:8080`, no trailing slash) for `deployment` in `language`.
///
/// The page carries a strict policy of its own, as a careful shop would: scripts only from itself
/// and Parley, connections only to Parley, images from itself, Parley, blob URLs (attachments)
/// and https (branding avatars). The widget has to work under it.
pub fn demo_shop_router(parley_url: &str, deployment: &str, language: &str) -> Router {
    let parley = parley_url.trim_end_matches('/').to_owned();
    let page = SHOP_HTML
        .replace("{parley_url}", &escape(&parley))
        .replace("{deployment}", &escape(deployment))
        .replace("{language}", &escape(language));
    let csp = format!(
        "default-src 'self'; script-src 'self' {parley}; style-src 'self'; \
         img-src 'self' {parley} blob: data: https:; connect-src {parley}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let page = move || {
        let page = page.clone();
        let csp = csp.clone();
        async move {
            let mut r = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                page,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&csp) {
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            r
        }
    };
    Router::new()
        .route("/", get(page))
        .route(
            "/shop.js",
            get(|| file(SHOP_JS.as_bytes(), "text/javascript; charset=utf-8")),
        )
        .route(
            "/shop.css",
            get(|| file(SHOP_CSS.as_bytes(), "text/css; charset=utf-8")),
        )
        .route("/parcel.png", get(|| file(PARCEL_PNG, "image/png")))
        .layer(axum::middleware::map_response(nosniff))
}

async fn file(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn nosniff(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// HTML-escapes a value placed in the page's text or a quoted attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_page_escapes_what_it_is_given() {
        assert_eq!(escape("a\"<b>&'"), "a&quot;&lt;b&gt;&amp;&#39;");
    }

    #[test]
    fn the_script_stays_small_and_never_parses_markup_from_a_message() {
        // The README states the size; a widget that grows past it should say so there.
        assert!(
            WIDGET_JS.len() < 64 * 1024,
            "widget.js is {} bytes",
            WIDGET_JS.len()
        );
        // innerHTML is used once, for the constant skeleton; every text is set with textContent.
        assert_eq!(WIDGET_JS.matches(".innerHTML").count(), 1);
        assert!(!WIDGET_JS.contains("insertAdjacentHTML"));
        assert!(!WIDGET_JS.contains("document.write"));
        assert!(!WIDGET_JS.contains("eval("));
    }
}
