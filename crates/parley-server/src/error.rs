//! API errors: JSON `{ "code": ..., "message": ... }` with a stable machine-readable code, and the
//! extractors that turn malformed requests into such errors instead of plain-text rejections.

use axum::Json;
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

/// `Json<T>` whose rejections are [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
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
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|r: QueryRejection| ApiError::malformed(r.body_text()))
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|r: PathRejection| ApiError::malformed(r.body_text()))
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
