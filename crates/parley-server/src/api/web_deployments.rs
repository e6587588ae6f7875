//! Web chat configuration (issue 14): deployments (WEB-03..12) and the keysets that verify
//! visitors (WEB-16..19). Configuration, so admins only. The rules are `parley_core::web`'s and
//! the references are checked by [`parley_engine::service::web`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use parley_core::web::{Branding, Keyset, Prechat, WebDeployment, WidgetSettings};
use parley_engine::service::web::{self as svc, KeysetInput, WebDeploymentInput};
use parley_store::StoredJwk;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

pub fn web_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_web_deployments, create_web_deployment))
        .routes(routes!(
            get_web_deployment,
            update_web_deployment,
            delete_web_deployment
        ))
        .routes(routes!(list_keysets, create_keyset))
        .routes(routes!(get_keyset, update_keyset, delete_keyset))
        .routes(routes!(upload_key))
        .routes(routes!(remove_key))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebDeploymentView {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    /// Normalised: lowercase host, default port left out.
    pub origins: Vec<String>,
    pub language: String,
    #[schema(value_type = parley_engine::service::web::BrandingDoc)]
    pub branding: Branding,
    #[schema(value_type = parley_engine::service::web::WidgetSettingsDoc)]
    pub settings: WidgetSettings,
    #[schema(value_type = parley_engine::service::web::PrechatDoc)]
    pub prechat: Prechat,
    pub keyset_id: Option<Uuid>,
    /// Visitors must present an identity token (a keyset is set).
    pub verification_required: bool,
    /// The code to paste into the website's pages, just before `</body>` (WEB-07).
    pub snippet: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebDeploymentList {
    /// By name.
    pub items: Vec<WebDeploymentView>,
}

/// Where the widget script is served from: the configured public URL, else the address this
/// request came to. Only characters of a host and port are taken from the request, so the
/// snippet cannot carry markup a forged `Host` put there.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = state.config.public_url.as_deref().filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The snippet of WEB-07; name and language are slugs, so nothing needs escaping.
pub fn snippet(base: &str, d: &WebDeployment) -> String {
    format!(
        "<script src=\"{base}/widget.js\" data-deployment=\"{}\" data-language=\"{}\" async></script>",
        d.name, d.language
    )
}

fn view(d: WebDeployment, base: &str) -> WebDeploymentView {
    WebDeploymentView {
        snippet: snippet(base, &d),
        verification_required: d.verification_required(),
        id: d.id,
        name: d.name,
        channel_id: d.channel_id,
        origins: d.origins.iter().map(ToString::to_string).collect(),
        language: d.language,
        branding: d.branding,
        settings: d.settings,
        prechat: d.prechat,
        keyset_id: d.keyset_id,
        created_at: time(d.created_at),
        updated_at: time(d.updated_at),
    }
}

#[utoipa::path(get, path = "/api/v1/web-deployments",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments",
    responses((status = 200, body = WebDeploymentList), (status = 403, body = ErrorBody)))]
pub async fn list_web_deployments(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<WebDeploymentList>, ApiError> {
    let base = public_base(&state, &headers);
    let items = state.store.web_deployments().await?;
    Ok(Json(WebDeploymentList {
        items: items.into_iter().map(|d| view(d, &base)).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/web-deployments",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments",
    request_body = WebDeploymentInput,
    responses((status = 201, body = WebDeploymentView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_web_deployment(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<WebDeploymentInput>,
) -> Result<(StatusCode, Json<WebDeploymentView>), ApiError> {
    let d = svc::create_deployment(&state.store, &input, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(d, &public_base(&state, &headers))),
    ))
}

#[utoipa::path(get, path = "/api/v1/web-deployments/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    responses((status = 200, body = WebDeploymentView), (status = 404, body = ErrorBody)))]
pub async fn get_web_deployment(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebDeploymentView>, ApiError> {
    let d = state.store.web_deployment(id).await?;
    Ok(Json(view(d, &public_base(&state, &headers))))
}

/// Replaces the deployment. `channel_id` must be the one it was created with (WEB-03), else 422.
#[utoipa::path(put, path = "/api/v1/web-deployments/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    request_body = WebDeploymentInput,
    responses((status = 200, body = WebDeploymentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_web_deployment(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<WebDeploymentInput>,
) -> Result<Json<WebDeploymentView>, ApiError> {
    let d = svc::update_deployment(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(view(d, &public_base(&state, &headers))))
}

#[utoipa::path(delete, path = "/api/v1/web-deployments/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_web_deployment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    svc::delete_deployment(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// The uploaded JWK (public parameters only).
    #[schema(value_type = Object)]
    pub jwk: Value,
    pub created_at: String,
}

impl From<StoredJwk> for KeyView {
    fn from(k: StoredJwk) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg.as_str().to_owned(),
            jwk: k.jwk,
            created_at: time(k.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeysetView {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub jwks_url: Option<String>,
    /// Uploaded keys, by kid (keys of the JWKS endpoint are not listed).
    pub keys: Vec<KeyView>,
    /// Names of the deployments that use it.
    pub deployments: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeysetList {
    pub items: Vec<KeysetView>,
}

async fn keyset_view(state: &AppState, k: Keyset) -> Result<KeysetView, ApiError> {
    let keys = state.store.keyset_keys(k.id).await?;
    let deployments = state
        .store
        .web_deployments()
        .await?
        .into_iter()
        .filter(|d| d.keyset_id == Some(k.id))
        .map(|d| d.name)
        .collect();
    Ok(KeysetView {
        id: k.id,
        name: k.name,
        issuer: k.issuer,
        jwks_url: k.jwks_url,
        keys: keys.into_iter().map(KeyView::from).collect(),
        deployments,
        created_at: time(k.created_at),
        updated_at: time(k.updated_at),
    })
}

#[utoipa::path(get, path = "/api/v1/keysets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments",
    responses((status = 200, body = KeysetList), (status = 403, body = ErrorBody)))]
pub async fn list_keysets(State(state): State<AppState>) -> Result<Json<KeysetList>, ApiError> {
    let mut items = Vec::new();
    for k in state.store.keysets().await? {
        items.push(keyset_view(&state, k).await?);
    }
    Ok(Json(KeysetList { items }))
}

#[utoipa::path(post, path = "/api/v1/keysets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", request_body = KeysetInput,
    responses((status = 201, body = KeysetView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_keyset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<KeysetInput>,
) -> Result<(StatusCode, Json<KeysetView>), ApiError> {
    let k = svc::create_keyset(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(keyset_view(&state, k).await?)))
}

#[utoipa::path(get, path = "/api/v1/keysets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    responses((status = 200, body = KeysetView), (status = 404, body = ErrorBody)))]
pub async fn get_keyset(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<KeysetView>, ApiError> {
    let k = state.store.keyset(id).await?;
    Ok(Json(keyset_view(&state, k).await?))
}

#[utoipa::path(put, path = "/api/v1/keysets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    request_body = KeysetInput,
    responses((status = 200, body = KeysetView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_keyset(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<KeysetInput>,
) -> Result<Json<KeysetView>, ApiError> {
    let k = svc::update_keyset(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(keyset_view(&state, k).await?))
}

/// Deletes a keyset and its keys; one that a deployment uses is refused (422).
#[utoipa::path(delete, path = "/api/v1/keysets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_keyset(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    svc::delete_keyset(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads ONE public key, a JWK object (WEB-17: not an array): `kty` RSA (at least 2048 bits,
/// `alg` RS256) or EC P-256 (`alg` ES256), with a `kid` not yet in the keyset.
#[utoipa::path(post, path = "/api/v1/keysets/{id}/keys",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments", params(("id" = Uuid, Path)),
    request_body(content = Object, description = "One JWK"),
    responses((status = 201, body = KeyView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(jwk): ApiJson<Value>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let k = svc::upload_key(&state.store, id, &jwk, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

#[utoipa::path(delete, path = "/api/v1/keysets/{id}/keys/{kid}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "web-deployments",
    params(("id" = Uuid, Path), ("kid" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_key(
    State(state): State<AppState>,
    ApiPath((id, kid)): ApiPath<(Uuid, String)>,
) -> Result<StatusCode, ApiError> {
    svc::remove_key(&state.store, id, &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}
