//! Console sign-in. Passwords are argon2id hashes (PHC strings); a signed-in console holds a random
//! cookie whose SHA-256 is the key of its `console_sessions` row, so a leaked database does not
//! leak sessions. The cookie is HttpOnly and SameSite=Lax; every state-changing request made with it
//! must also carry the session's CSRF token in `X-CSRF-Token` (forms: a `csrf` field), which a page
//! of another origin cannot read. Sign-in attempts are rate limited per address and per address and
//! e-mail, and at most a few passwords are hashed at once (see [`crate::console::limiter`]): each
//! argon2id hash holds 19 MiB, and 100 unbounded parallel attempts took the server to 2 GB.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;

use crate::AppState;
use crate::auth::hash_token;
use crate::console::pages::render_login;
use crate::console::session::ConsoleSession;
use crate::error::ApiError;
use parley_core::i18n::Locale;

pub const COOKIE_NAME: &str = "parley_console";
/// How long a console stays signed in without signing in again.
const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Hashes a password for storage (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches a stored hash. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the e-mail is unknown, so both cases take as long.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("parley-decoy-password").unwrap_or_default())
}

pub use crate::console::limiter::LoginLimiter;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login_page(headers: HeaderMap) -> Response {
    render_login(browser_locale(&headers), None, "")
}

/// The sign-in page has no agent yet: it speaks the browser's language when the catalogue has it.
pub fn browser_locale(headers: &HeaderMap) -> Locale {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(parley_core::i18n::from_accept_language)
        .unwrap_or(Locale::En)
}

/// Whether a form post comes from our own pages: browsers send `Origin` on POST; when present it
/// must name this host (login CSRF).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

pub async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return ApiError::coded(
            crate::error::ApiErrorCode::Csrf,
            "sign in from Parley's own page",
        )
        .into_response();
    }
    let email = form.email.trim().to_owned();
    let locale = browser_locale(&headers);
    let addr = extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if state.login_limiter.allow(&email, addr).is_err() {
        return refused(locale, "login.too_many_attempts", &email, 60);
    }
    if email.is_empty() || form.password.is_empty() || form.password.len() > 1024 {
        return failed(locale, &email);
    }
    // Known and unknown e-mails alike hash through the same gate, so both cost and take the same.
    let Some(slot) = state.login_limiter.hash_slot().await else {
        return refused(locale, "login.busy", &email, 1);
    };
    let agent = match state.store.agent_by_email(&email).await {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let hash = agent.as_ref().and_then(|a| a.password_hash.clone());
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || {
        let ok = match hash {
            Some(hash) => verify_password(&password, &hash),
            None => verify_password(&password, decoy_hash()),
        };
        drop(slot);
        ok
    })
    .await
    .unwrap_or(false);
    let Some(agent) = agent.filter(|a| ok && a.password_hash.is_some()) else {
        return failed(locale, &email);
    };
    state.login_limiter.signed_in(&email, addr);
    let token = random_token();
    let csrf = random_token();
    let now = state.clock.now();
    let expires = now.plus(SESSION_TTL);
    if let Err(e) = parley_engine::service::tokens::open_console_login(
        &state.store,
        &hash_token(&token),
        agent.id,
        &csrf,
        now,
        expires,
    )
    .await
    {
        return ApiError::from(e).into_response();
    }
    tracing::info!(agent = %agent.id, "console sign-in");
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    redirect_with_cookie("/console", &cookie)
}

/// The sign-in page again with the catalogue's `message`, as 429 with `Retry-After`.
fn refused(locale: Locale, message: &str, email: &str, retry_after_secs: u32) -> Response {
    let mut r = render_login(locale, Some(message), email);
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

fn failed(locale: Locale, email: &str) -> Response {
    let mut r = render_login(locale, Some("login.mismatch"), email);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(token) = cookie_token(&headers) {
        let hash = hash_token(&token);
        let now = state.clock.now();
        if let Ok(Some(login)) = state.store.console_login(&hash, now).await {
            if !constant_time_eq(login.csrf_token.as_bytes(), form.csrf.as_bytes()) {
                return ApiError::coded(
                    crate::error::ApiErrorCode::Csrf,
                    "missing or wrong CSRF token",
                )
                .into_response();
            }
            if let Err(e) =
                parley_engine::service::tokens::close_console_login(&state.store, &hash).await
            {
                return ApiError::from(e).into_response();
            }
        }
    }
    redirect_with_cookie(
        "/console/login",
        &format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    )
}

fn redirect_with_cookie(to: &str, cookie: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The console cookie's value, if the request has one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The console session of a request, if its cookie names a live one.
pub async fn console_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<ConsoleSession>, ApiError> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    let login = state
        .store
        .console_login(&hash_token(&token), state.clock.now())
        .await?;
    Ok(login.map(|l| ConsoleSession {
        agent: l.agent,
        csrf_token: l.csrf_token,
    }))
}

/// Whether a cookie-authenticated request that changes state carries the right CSRF token.
pub fn csrf_ok(method: &Method, headers: &HeaderMap, session: &ConsoleSession) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf_token.as_bytes()))
}

/// For the console's pages: a signed-in agent, or a redirect to the sign-in page.
pub async fn require_console(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match console_session(&state, req.headers()).await {
        Ok(Some(session)) => {
            req.extensions_mut().insert(session);
            next.run(req).await
        }
        Ok(None) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/console/login"));
            r
        }
        Err(e) => e.into_response(),
    }
}
