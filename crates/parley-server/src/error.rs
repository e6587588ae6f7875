//! API errors: JSON `{ "code": ..., "message": ... }` with a stable machine-readable code, and the
//! extractors that turn malformed requests into such errors instead of plain-text rejections.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use parley_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// Every error code the API answers with. The wire names are stable: clients branch on them,
/// so a variant may be added but never renamed. Each has one HTTP status, given by
/// [`ApiErrorCode::status`]; the one exception is `invalid_request`, which is 400 when the form of a
/// request (its path, query or provider payload) is wrong and 422 when its content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// 401: no valid API token or console session.
    Unauthorized,
    /// 403: the caller's role may not do this, or a signature did not verify.
    Forbidden,
    /// 403: a console request without its CSRF token.
    Csrf,
    /// 404: the item or route does not exist.
    NotFound,
    /// 409: the item clashes with another (a name or address in use) or changed meanwhile.
    Conflict,
    /// 422 (400 for a malformed path, query or provider payload): a value is not allowed.
    InvalidRequest,
    /// 400: the body is not JSON.
    InvalidJson,
    /// 413: the body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// 415: the body is not sent as JSON.
    UnsupportedMediaType,
    /// 503: the work could not be stored now; retrying later may succeed.
    Unavailable,
    /// 500: a failure on the server's side, logged there.
    Internal,
    /// 403: the web chat request's Origin is not on the deployment's allowlist.
    OriginNotAllowed,
    /// 401: the web chat visitor token is unknown, expired or revoked.
    VisitorTokenInvalid,
    /// 401: the web chat identity token (the website's JWT) is missing or refused.
    IdentityTokenInvalid,
    /// 429: too many requests; `Retry-After` says when to try again.
    RateLimited,
}

impl ApiErrorCode {
    pub const ALL: &[Self] = &[
        Self::Unauthorized,
        Self::Forbidden,
        Self::Csrf,
        Self::NotFound,
        Self::Conflict,
        Self::InvalidRequest,
        Self::InvalidJson,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Unavailable,
        Self::Internal,
        Self::OriginNotAllowed,
        Self::VisitorTokenInvalid,
        Self::IdentityTokenInvalid,
        Self::RateLimited,
    ];

    /// The HTTP status each code is answered with, in one place.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::VisitorTokenInvalid | Self::IdentityTokenInvalid => StatusCode::UNAUTHORIZED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Csrf => "csrf",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidJson => "invalid_json",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::VisitorTokenInvalid => "visitor_token_invalid",
            Self::IdentityTokenInvalid => "identity_token_invalid",
            Self::RateLimited => "rate_limited",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable and machine-readable; see [`ApiErrorCode`].
    pub code: ApiErrorCode,
    /// For people. Never a database's or library's own text.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ApiErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error answered with its code's status.
    pub fn coded(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    /// The older form with an explicit status and a code by name, kept for callers that have not
    /// moved to [`ApiError::coded`]. A name outside [`ApiErrorCode`] is answered as `internal` (and
    /// logged), so the document's list of codes stays complete.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let code = ApiErrorCode::from_name(code).unwrap_or_else(|| {
            tracing::warn!(code, "an API error code outside ApiErrorCode");
            ApiErrorCode::Internal
        });
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 422: the content of the request is not allowed.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::coded(ApiErrorCode::InvalidRequest, message)
    }

    /// 400: the form of the request (path, query, provider payload) is wrong.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: ApiErrorCode::InvalidRequest,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::coded(ApiErrorCode::Conflict, message)
    }

    pub fn unauthorized() -> Self {
        Self::coded(
            ApiErrorCode::Unauthorized,
            "a valid API token is required: send 'Authorization: Bearer <token>'",
        )
    }

    pub fn forbidden(what: &str) -> Self {
        Self::coded(
            ApiErrorCode::Forbidden,
            format!("this token's role may not {what}"),
        )
    }

    /// 403 naming the permission the caller lacks, so an admin knows what to grant.
    pub fn forbidden_permission(permission: parley_core::access::Permission) -> Self {
        Self::coded(
            ApiErrorCode::Forbidden,
            format!("this needs the permission {permission}, which the caller does not hold"),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::coded(ApiErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::coded(ApiErrorCode::Internal, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => Self::not_found(entity),
            // The store words both as sentences for people, the same on every database.
            StoreError::Conflict(m) => Self::conflict(m),
            StoreError::Invalid(m) => Self::invalid(m),
            other => {
                tracing::error!(error = %other, "storage failure");
                Self::internal("the server could not complete the request; it has been logged")
            }
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s. A body whose text holds a NUL character is
/// refused too (422, naming the field): PostgreSQL cannot store one in text, SQLite can, so without
/// this the same request was a 500 on one database and accepted on the other.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read once (within the route's body limit, kept in the extensions) so the text can be
        // checked after `Json` has judged the request exactly as before.
        let (parts, body) = req.into_parts();
        let (headers, extensions) = (parts.headers.clone(), parts.extensions.clone());
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| json_rejection(e.into()))?;
        let mut again = Request::new(Body::from(bytes.clone()));
        *again.headers_mut() = headers;
        *again.extensions_mut() = extensions;
        match Json::<T>::from_request(again, state).await {
            // serde fills a struct from an array too, field by field (`[null, null]` was a valid
            // case update); the document says an object, so only an object is taken.
            Ok(Json(_)) if takes_object::<T>() && top_level_array(&bytes) => Err(
                ApiError::invalid("the body must be a JSON object, not an array"),
            ),
            Ok(Json(v)) => match nul_in_json(&bytes) {
                Some(at) => Err(ApiError::invalid(format!(
                    "{at}: holds a NUL (U+0000), which Parley does not store"
                ))),
                None => Ok(Self(v)),
            },
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn top_level_array(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// Whether `T` reads itself from a JSON object (a struct or a map), found by asking it to
/// deserialize from [`Probe`], which answers only with the kind of value it was asked for.
fn takes_object<T: DeserializeOwned>() -> bool {
    matches!(T::deserialize(Probe), Err(Asked::Object))
}

/// A deserializer that holds no value: it fails at once, saying which kind was asked for.
struct Probe;

#[derive(Debug)]
enum Asked {
    Object,
    Other,
}

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Object => "asked for an object",
            Self::Other => "asked for something other than an object",
        })
    }
}

impl std::error::Error for Asked {}

impl serde::de::Error for Asked {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Self::Other
    }
}

impl<'de> serde::Deserializer<'de> for Probe {
    type Error = Asked;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
        Err(Asked::Other)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Asked> {
        Err(Asked::Object)
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
        Err(Asked::Object)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

/// Where a JSON text holds a NUL character, as a path (`skills[0].name`), or `None`.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    // JSON can only write a NUL as `\u0000` (raw control characters are invalid), so a body
    // without that sequence needs no second parse; one with it may still be an escaped backslash.
    if !bytes.windows(6).any(|w| w == br"\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    nul_path(&value, "the body")
}

fn nul_path(v: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    let below = |key: &str| {
        if at == "the body" {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match v {
        Value::String(s) => s.contains('\0').then(|| at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_path(x, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                Some(format!("a key of {at}"))
            } else {
                nul_path(x, &below(k))
            }
        }),
        _ => None,
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::coded(
            ApiErrorCode::UnsupportedMediaType,
            "send the body as JSON with 'Content-Type: application/json'",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::coded(
            ApiErrorCode::InvalidJson,
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            payload_too_large()
        }
        other => ApiError {
            status: other.status(),
            code: ApiErrorCode::InvalidRequest,
            message: other.body_text(),
        },
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::coded(
        ApiErrorCode::PayloadTooLarge,
        "the request body is larger than this endpoint accepts",
    )
}

/// `Query<T>` whose rejections are [`ApiError`]s.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let q = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r: QueryRejection| ApiError::malformed(r.body_text()))?;
        // `%00` is unambiguous in a URL (a literal `%` is `%25`); see [`ApiJson`] for why NUL.
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::malformed(
                "the query string must not contain NUL characters (%00)",
            ));
        }
        Ok(Self(q.0))
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let p = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r: PathRejection| ApiError::malformed(r.body_text()))?;
        if parts.uri.path().contains("%00") {
            return Err(ApiError::malformed(
                "the path must not contain NUL characters (%00)",
            ));
        }
        Ok(Self(p.0))
    }
}

impl From<parley_engine::provision::ProvisionError> for ApiError {
    fn from(e: parley_engine::provision::ProvisionError) -> Self {
        match e {
            parley_engine::provision::ProvisionError::Invalid(m) => Self::invalid(m),
            parley_engine::provision::ProvisionError::Store(s) => s.into(),
        }
    }
}

impl From<parley_engine::ingest::IngestError> for ApiError {
    fn from(e: parley_engine::ingest::IngestError) -> Self {
        tracing::error!(error = %e, "inbound event not accepted");
        Self::coded(
            ApiErrorCode::Unavailable,
            "the message could not be stored; retry later",
        )
    }
}

impl From<parley_engine::service::simulator::SimulatorError> for ApiError {
    fn from(e: parley_engine::service::simulator::SimulatorError) -> Self {
        use parley_engine::service::simulator::SimulatorError;
        match e {
            SimulatorError::Store(s) => s.into(),
            SimulatorError::Ingest(i) => i.into(),
        }
    }
}
