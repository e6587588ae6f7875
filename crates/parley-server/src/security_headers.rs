//! Headers every answer of the server carries, whatever produced it (API JSON, errors, the
//! console's pages and assets, webhooks' replies, files). Pages and files add their own stricter
//! ones (CSP, frame options, disposition) where they are built; this layer only fills in what a
//! handler left out.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// `X-Content-Type-Options: nosniff` on every response: a browser must never guess that a JSON
/// answer echoing customer text is HTML or script.
pub async fn add(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    response
}
