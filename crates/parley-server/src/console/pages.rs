//! The console's pages and their static files. Pages are shells rendered with minijinja (HTML
//! auto-escaping on, templates embedded so the binary is self-contained); what they show comes
//! from the JSON API and the SSE stream through our own small scripts under `/assets/`.
//!
//! Every page is served with a strict Content-Security-Policy: scripts and styles only from this
//! origin, no inline code, so that a customer's text that slipped through as markup still could
//! not run.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::AppState;
use crate::console::session::ConsoleSession;
use crate::error::{ApiError, ApiPath};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use minijinja::{Environment, context};
use parley_core::access::{Permission, PermissionSet};
use sha2::{Digest, Sha256};

/// The policy of every page. `connect-src 'self'` covers fetch and EventSource; images may be
/// `data:` only for the tiny inline icons CSS might use; nothing may frame the console.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// A file under `/assets/`, embedded at build time.
struct Asset {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        name: "permissions.js",
        body: include_str!("../../assets/permissions.js"),
        content_type: JS,
    },
    Asset {
        name: "common.js",
        body: include_str!("../../assets/common.js"),
        content_type: JS,
    },
    Asset {
        name: "console.js",
        body: include_str!("../../assets/console.js"),
        content_type: JS,
    },
    Asset {
        name: "console-notes.js",
        body: include_str!("../../assets/console-notes.js"),
        content_type: JS,
    },
    Asset {
        name: "console-search.js",
        body: include_str!("../../assets/console-search.js"),
        content_type: JS,
    },
    Asset {
        name: "console-composer.js",
        body: include_str!("../../assets/console-composer.js"),
        content_type: JS,
    },
    Asset {
        name: "console-queue.js",
        body: include_str!("../../assets/console-queue.js"),
        content_type: JS,
    },
    Asset {
        name: "supervisor.js",
        body: include_str!("../../assets/supervisor.js"),
        content_type: JS,
    },
    Asset {
        name: "admin.js",
        body: include_str!("../../assets/admin.js"),
        content_type: JS,
    },
    Asset {
        name: "templates.js",
        body: include_str!("../../assets/templates.js"),
        content_type: JS,
    },
    Asset {
        name: "sender-limits.js",
        body: include_str!("../../assets/sender-limits.js"),
        content_type: JS,
    },
    Asset {
        name: "campaigns.js",
        body: include_str!("../../assets/campaigns.js"),
        content_type: JS,
    },
    Asset {
        name: "flows.js",
        body: include_str!("../../assets/flows.js"),
        content_type: JS,
    },
    Asset {
        name: "webhooks.js",
        body: include_str!("../../assets/webhooks.js"),
        content_type: JS,
    },
    Asset {
        name: "notification-errors.js",
        body: include_str!("../../assets/notification-errors.js"),
        content_type: JS,
    },
    Asset {
        name: "twilio.js",
        body: include_str!("../../assets/twilio.js"),
        content_type: JS,
    },
    Asset {
        name: "api-tokens.js",
        body: include_str!("../../assets/api-tokens.js"),
        content_type: JS,
    },
    Asset {
        name: "web-deployments.js",
        body: include_str!("../../assets/web-deployments.js"),
        content_type: JS,
    },
    Asset {
        name: "keysets.js",
        body: include_str!("../../assets/keysets.js"),
        content_type: JS,
    },
    Asset {
        name: "simulator.js",
        body: include_str!("../../assets/simulator.js"),
        content_type: JS,
    },
    Asset {
        name: "translations.js",
        body: include_str!("../../assets/translations.js"),
        content_type: JS,
    },
    Asset {
        name: "privacy.js",
        body: include_str!("../../assets/privacy.js"),
        content_type: JS,
    },
    Asset {
        name: "privacy-requests.js",
        body: include_str!("../../assets/privacy-requests.js"),
        content_type: JS,
    },
    Asset {
        name: "sensitive-data.js",
        body: include_str!("../../assets/sensitive-data.js"),
        content_type: JS,
    },
    Asset {
        name: "retention.js",
        body: include_str!("../../assets/retention.js"),
        content_type: JS,
    },
    Asset {
        name: "audit.js",
        body: include_str!("../../assets/audit.js"),
        content_type: JS,
    },
    Asset {
        name: "reports.js",
        body: include_str!("../../assets/reports.js"),
        content_type: JS,
    },
    Asset {
        name: "templates.css",
        body: include_str!("../../assets/templates.css"),
        content_type: CSS,
    },
    Asset {
        name: "reports.css",
        body: include_str!("../../assets/reports.css"),
        content_type: CSS,
    },
    Asset {
        name: "console.css",
        body: include_str!("../../assets/console.css"),
        content_type: CSS,
    },
    Asset {
        name: "favicon.svg",
        body: include_str!("../../assets/favicon.svg"),
        content_type: "image/svg+xml",
    },
];

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("console.html", include_str!("../../templates/console.html")),
    (
        "permissions.html",
        include_str!("../../templates/permissions.html"),
    ),
    (
        "supervisor.html",
        include_str!("../../templates/supervisor.html"),
    ),
    ("admin.html", include_str!("../../templates/admin.html")),
    ("privacy.html", include_str!("../../templates/privacy.html")),
    ("reports.html", include_str!("../../templates/reports.html")),
    (
        "campaigns.html",
        include_str!("../../templates/campaigns.html"),
    ),
    ("flows.html", include_str!("../../templates/flows.html")),
    (
        "webhooks.html",
        include_str!("../../templates/webhooks.html"),
    ),
    ("twilio.html", include_str!("../../templates/twilio.html")),
    (
        "notification-errors.html",
        include_str!("../../templates/notification-errors.html"),
    ),
    (
        "simulator.html",
        include_str!("../../templates/simulator.html"),
    ),
    (
        "api-tokens.html",
        include_str!("../../templates/api-tokens.html"),
    ),
    (
        "web-deployments.html",
        include_str!("../../templates/web-deployments.html"),
    ),
    ("keysets.html", include_str!("../../templates/keysets.html")),
    ("denied.html", include_str!("../../templates/denied.html")),
    (
        "translations.html",
        include_str!("../../templates/translations.html"),
    ),
];

/// Content hashes of the assets, so pages can link `/assets/x.js?v=<hash>` and browsers may keep
/// a versioned file forever: a new build changes the link, never the meaning of an old one.
fn asset_versions() -> &'static HashMap<&'static str, String> {
    static VERSIONS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body.as_bytes());
                (a.name, hex::encode(digest.get(..8).unwrap_or_default()))
            })
            .collect()
    })
}

/// The template environment, built once. Auto-escaping follows the template name: every page is
/// `.html`, so every `{{ }}` is HTML-escaped unless a template says otherwise (none does).
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // Templates are part of the build; a broken one is caught by the page tests.
                tracing::error!(template = name, error = %e, "console template does not compile");
            }
        }
        // Marked safe so the link reads as written: it is built from our own asset names and a hex
        // digest only, and an unknown name (a template typo) is left out rather than echoed.
        env.add_function("asset", |name: &str| -> minijinja::Value {
            match ASSETS.iter().find(|a| a.name == name) {
                Some(a) => {
                    let v = asset_versions()
                        .get(a.name)
                        .map(String::as_str)
                        .unwrap_or_default();
                    minijinja::Value::from_safe_string(format!("/assets/{}?v={v}", a.name))
                }
                None => minijinja::Value::from(""),
            }
        });
        // `{{ t("area.key") }}`: catalogue text in the page's `locale` (English when the context
        // has none); auto-escaped like any other value.
        env.add_function("t", |state: &minijinja::State, key: &str| -> String {
            let locale = state
                .lookup("locale")
                .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(parley_core::i18n::Locale::En);
            parley_core::i18n::text(locale, key).to_owned()
        });
        // `{% if can("end_sessions") %}`: whether the page's agent holds a permission, from the
        // context's `permissions` (space-separated names, as `<body data-permissions>` carries).
        env.add_function("can", |state: &minijinja::State, name: &str| -> bool {
            state
                .lookup("permissions")
                .and_then(|v| v.as_str().map(|s| s.split(' ').any(|p| p == name)))
                .unwrap_or(false)
        });
        // `{{ catalogue() }}`: the page language's catalogue as JSON for `Parley.t`, safe inside
        // `<script type="application/json">`: `<`, `>` and `&` are escaped so no text can end the
        // element.
        env.add_function(
            "catalogue",
            |state: &minijinja::State| -> minijinja::Value {
                let locale = state
                    .lookup("locale")
                    .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(parley_core::i18n::Locale::En);
                minijinja::Value::from_safe_string(catalogue_json(locale).to_owned())
            },
        );
        env
    })
}

/// One language's catalogue as script-safe JSON, built once per language.
fn catalogue_json(locale: parley_core::i18n::Locale) -> &'static str {
    use parley_core::i18n::Locale;
    static EN: OnceLock<String> = OnceLock::new();
    static FR: OnceLock<String> = OnceLock::new();
    let cell = match locale {
        Locale::En => &EN,
        Locale::Fr => &FR,
    };
    cell.get_or_init(|| script_json(parley_core::i18n::catalogue(locale)))
}

/// `value` as JSON that cannot end the `<script>` element it sits in, nor open a comment.
fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn html_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    // Pages carry the CSRF token: never stored by a cache, never shown from history after logout.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Renders one page with its headers; a rendering failure is logged and answered with a plain 500
/// rather than half a page.
fn render(status: StatusCode, template: &str, ctx: minijinja::Value) -> Response {
    let rendered = environment()
        .get_template(template)
        .and_then(|t| t.render(ctx));
    let mut response = match rendered {
        Ok(body) => (status, body).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>This page could not be shown; the error has been logged.</p>",
            )
                .into_response()
        }
    };
    html_headers(&mut response);
    response
}

/// What every signed-in page knows about its agent. `permissions` (names separated by spaces)
/// is what the agent holds, read at this request, so the page shows only what the API will do.
fn signed_in_context(
    session: &ConsoleSession,
    permissions: PermissionSet,
    page: &str,
    default_time_zone: Option<&str>,
) -> minijinja::Value {
    context! {
        page => page,
        locale => session.agent.locale.as_str(),
        // The zone every date on the page is shown in: the agent's, else the deployment's
        // default, else (empty) the browser's, which common.js then stores as the agent's.
        time_zone => session.agent.time_zone.as_deref().or(default_time_zone).unwrap_or(""),
        time_zone_chosen => session.agent.time_zone.is_some(),
        locales => parley_core::i18n::Locale::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        csrf_token => session.csrf_token.clone(),
        agent_id => session.agent.id.to_string(),
        agent_name => session.agent.name.clone(),
        agent_email => session.agent.email.clone(),
        agent_role => session.agent.role.as_str(),
        agent_presence => session.agent.presence.as_str(),
        permissions => permissions.to_names(),
    }
}

/// A signed-in page for agents holding any of `needs` (none: every signed-in agent), or the
/// "denied" page (403). The API refuses the same people anyway; this spares them an empty page.
async fn guarded_page(
    state: &AppState,
    session: &ConsoleSession,
    page: &str,
    template: &str,
    needs: &[Permission],
) -> Response {
    let permissions = match state
        .store
        .agent_permissions(session.agent.id, session.agent.role)
        .await
    {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let ctx = signed_in_context(
        session,
        permissions,
        page,
        state.config.default_time_zone.as_deref(),
    );
    if needs.is_empty() || needs.iter().any(|p| permissions.contains(*p)) {
        render(StatusCode::OK, template, ctx)
    } else {
        render(StatusCode::FORBIDDEN, "denied.html", ctx)
    }
}

/// The login form. The backend's login handler calls this for `GET /console/login` and to show a
/// failed attempt again (`error` is the catalogue key of one generic sentence; `email` is what was
/// typed). The answer is `200`; the caller sets another status (401, 429) when it needs one.
pub fn render_login(
    locale: parley_core::i18n::Locale,
    error: Option<&str>,
    email: &str,
) -> Response {
    render(
        StatusCode::OK,
        "login.html",
        context! { page => "login", locale => locale.as_str(), error => error, email => email },
    )
}

/// One signed-in page: where it is, its name (and template `<page>.html`), and the permissions of
/// which the agent needs one (none: every signed-in agent). docs/permissions.md lists the same.
struct ConsolePage {
    path: &'static str,
    page: &'static str,
    needs: &'static [Permission],
}

const PAGES: &[ConsolePage] = &[
    // Privacy requests, sensitive-data rules, retention and the audit log (issue 16).
    ConsolePage {
        path: "/console/privacy",
        page: "privacy",
        needs: &[Permission::PrivacyRequests, Permission::ConfigureMessaging],
    },
    ConsolePage {
        path: "/console/reports",
        page: "reports",
        needs: &[Permission::Supervise, Permission::ManageCampaigns],
    },
    ConsolePage {
        path: "/console",
        page: "console",
        needs: &[],
    },
    ConsolePage {
        path: "/console/supervisor",
        page: "supervisor",
        needs: &[Permission::Supervise],
    },
    // Channels, queues and skills, and the agents.
    ConsolePage {
        path: "/console/admin",
        page: "admin",
        needs: &[Permission::ConfigureMessaging, Permission::ManageUsers],
    },
    ConsolePage {
        path: "/console/campaigns",
        page: "campaigns",
        needs: &[Permission::ManageCampaigns],
    },
    ConsolePage {
        path: "/console/flows",
        page: "flows",
        needs: &[Permission::ManageFlows],
    },
    ConsolePage {
        path: "/console/webhooks",
        page: "webhooks",
        needs: &[Permission::ConfigureMessaging],
    },
    // The notification error log (TM-08): configuration's view of what was not sent.
    ConsolePage {
        path: "/console/notification-errors",
        page: "notification-errors",
        needs: &[Permission::ConfigureMessaging],
    },
    ConsolePage {
        path: "/console/twilio",
        page: "twilio",
        needs: &[Permission::ConfigureMessaging],
    },
    ConsolePage {
        path: "/console/api-tokens",
        page: "api-tokens",
        needs: &[Permission::ManageUsers],
    },
    ConsolePage {
        path: "/console/admin/web-deployments",
        page: "web-deployments",
        needs: &[Permission::ConfigureMessaging],
    },
    ConsolePage {
        path: "/console/admin/keysets",
        page: "keysets",
        needs: &[Permission::ConfigureMessaging],
    },
    // Translators write per-language texts without configuration rights.
    ConsolePage {
        path: "/console/translations",
        page: "translations",
        needs: &[Permission::Translate],
    },
    ConsolePage {
        path: "/console/admin/permissions",
        page: "permissions",
        needs: &[Permission::ManageUsers],
    },
];

async fn simulator_page(headers: HeaderMap) -> Response {
    let locale = crate::console::auth::browser_locale(&headers);
    render(
        StatusCode::OK,
        "simulator.html",
        context! { page => "simulator", locale => locale.as_str() },
    )
}

/// `GET /assets/{name}`: embedded files with their content type. A link carrying the current
/// content hash (`?v=`) may be cached for a year; anything else is revalidated through its ETag.
async fn asset(
    ApiPath(name): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(file) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::not_found("asset").into_response();
    };
    let version = asset_versions()
        .get(file.name)
        .map(String::as_str)
        .unwrap_or_default();
    let etag = format!("\"{version}\"");
    let versioned = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p.strip_prefix("v=") == Some(version)));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            )],
            file.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /console`, `/console/supervisor`, `/console/admin`, `/console/campaigns`, `/console/flows`. Mount behind the console's auth
/// middleware, which inserts the [`ConsoleSession`] these handlers need.
pub fn signed_in_routes() -> Router<AppState> {
    PAGES.iter().fold(Router::new(), |router, p| {
        router.route(
            p.path,
            get(
                move |State(state): State<AppState>,
                      Extension(session): Extension<ConsoleSession>| async move {
                    let template = format!("{}.html", p.page);
                    guarded_page(&state, &session, p.page, &template, p.needs).await
                },
            ),
        )
    })
}

/// `GET /assets/{name}`: needs no session (the login page uses the stylesheet).
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}

/// `GET /simulator`: the phone page (its data comes from `/simulator/channels`, `/simulator/inbound`
/// and `/simulator/messages` in [`crate::simulator`]). Mount only when the simulator is on.
pub fn simulator_routes() -> Router<AppState> {
    Router::new().route("/simulator", get(simulator_page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
    }

    #[test]
    fn catalogue_json_cannot_end_its_script() {
        let map: HashMap<&str, &str> =
            [("x.y", "a </script><script>alert(1)</script> & <!-- b")].into();
        let json = script_json(&map);
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: HashMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["x.y"], map["x.y"]);
        for locale in parley_core::i18n::Locale::ALL {
            let json = catalogue_json(*locale);
            assert!(!json.contains("</"), "{json}");
        }
    }

    #[test]
    fn login_escapes_what_was_typed() {
        let r = render_login(
            parley_core::i18n::Locale::Fr,
            Some("login.mismatch"),
            "\"><script>x()</script>",
        );
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers().get(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.to_str().unwrap().contains("default-src 'self'"));
    }
}
