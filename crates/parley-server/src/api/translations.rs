//! Languages (issue 18): the signed-in agent's console language, and the translators' texts
//! (`translate` permission; no configuration rights needed, and none given: a translator changes
//! one language of one text and nothing else).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use parley_core::access::Permission;
use parley_core::i18n::Locale;
use parley_engine::service::translations::{self, TranslatableText};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn translation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_my_locale))
        .routes(routes!(list_translations))
        .routes(routes!(put_translation))
}

fn locale(value: &str, field: &str) -> Result<Locale, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::invalid(format!("{field}: one of en, fr")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocaleBody {
    /// `en` or `fr`.
    pub locale: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocaleView {
    pub locale: String,
}

/// The signed-in agent's console language (or, for an agent-bound token, its agent's).
#[utoipa::path(put, path = "/api/v1/me/locale", tag = "console", request_body = LocaleBody,
    responses((status = 200, body = LocaleView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_my_locale(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<LocaleBody>,
) -> Result<Json<LocaleView>, ApiError> {
    let agent_id = caller.agent_id.ok_or_else(|| {
        ApiError::coded(
            crate::error::ApiErrorCode::Forbidden,
            "only an agent has a console language: sign in to the console",
        )
    })?;
    let locale = locale(&body.locale, "locale")?;
    translations::set_agent_locale(&state.store, agent_id, locale, state.clock.now()).await?;
    Ok(Json(LocaleView {
        locale: locale.as_str().to_owned(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TranslationsQuery {
    /// The language translated into: `en` or `fr`.
    pub locale: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslationList {
    pub locale: String,
    pub items: Vec<TranslatableText>,
}

/// Every per-language text a translator may write, with its source beside it.
#[utoipa::path(get, path = "/api/v1/translations", tag = "translations",
    params(TranslationsQuery),
    responses((status = 200, body = TranslationList), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_translations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<TranslationsQuery>,
) -> Result<Json<TranslationList>, ApiError> {
    caller.require(Permission::Translate)?;
    let locale = locale(&q.locale, "locale")?;
    let items = translations::list(&state.store, locale).await?;
    Ok(Json(TranslationList {
        locale: locale.as_str().to_owned(),
        items,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslationBody {
    /// The text in that language; empty removes the translation (the configured text answers).
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslationView {
    pub kind: String,
    pub id: String,
    pub locale: String,
    pub text: String,
}

/// Writes one language of one text.
#[utoipa::path(put, path = "/api/v1/translations/{kind}/{id}/{locale}", tag = "translations",
    params(("kind" = String, Path, description = "keyword_response, auto_reply or widget_label"),
        ("id" = String, Path, description = "`<owner id>:<key>` as the list gives it"),
        ("locale" = String, Path, description = "en or fr")),
    request_body = TranslationBody,
    responses((status = 200, body = TranslationView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_translation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((kind, id, loc)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<TranslationBody>,
) -> Result<Json<TranslationView>, ApiError> {
    caller.require(Permission::Translate)?;
    let locale = locale(&loc, "locale")?;
    translations::write(
        &state.store,
        &kind,
        &id,
        locale,
        &body.text,
        caller.agent_id,
        state.clock.now(),
    )
    .await?;
    Ok(Json(TranslationView {
        kind,
        id,
        locale: locale.as_str().to_owned(),
        text: body.text.trim().to_owned(),
    }))
}
