//! Parley's HTTP surface: the REST API under `/api/v1` (bearer tokens, OpenAPI at
//! `/api/openapi.json`), the simulator's endpoints, and `/healthz`, `/readyz`, `/metrics`. Handlers
//! validate and translate; the rules they apply live in `parley-core` and the work in
//! `parley-engine`.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod listen;
pub mod ops;
pub mod simulator;
pub mod twilio_api;
pub mod webhooks;
pub mod widget;

mod schema;
mod security_headers;
pub mod widget_assets;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::{Router, middleware};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parley_core::Clock;
use parley_engine::Engine;
use parley_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::schema::Access;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted anywhere, in bytes.
    pub max_body_bytes: usize,
    /// Serve the simulator's endpoints. On for the demo and tests; off by default in production,
    /// where injecting customer messages must not be possible.
    pub simulator: bool,
    /// When set, `/metrics` needs `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// When set, `/metrics` is served only on this address ([`ops::metrics_app`]), not on the
    /// main one.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Connection caps and timeouts (see [`listen`]).
    pub connections: listen::ConnectionLimits,
    /// The address people reach this server at (config `public_url`), for what is pasted
    /// elsewhere (the web chat snippet). `None`: the address a request came to.
    pub public_url: Option<String>,
    /// The IANA time zone (config `time_zone`) pages show times in for an agent who has none
    /// stored. `None`: the browser's.
    pub default_time_zone: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            simulator: false,
            metrics_token: None,
            metrics_listen: None,
            connections: listen::ConnectionLimits::default(),
            public_url: None,
            default_time_zone: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub engine: Engine,
    pub metrics: Option<PrometheusHandle>,
    pub config: Arc<ServerConfig>,
    pub login_limiter: Arc<console::auth::LoginLimiter>,
    /// Turns true when the server starts shutting down: long-lived responses (the console's
    /// event streams) end then, so a graceful shutdown does not wait on them forever.
    pub stopping: Option<tokio::sync::watch::Receiver<bool>>,
    /// The web chat widget's rate limits.
    pub widget: Arc<widget::WidgetLimits>,
}

impl AppState {
    pub fn new(engine: Engine, metrics: Option<PrometheusHandle>, config: ServerConfig) -> Self {
        Self {
            store: engine.store.clone(),
            clock: engine.clock.clone(),
            engine,
            metrics,
            config: Arc::new(config),
            login_limiter: Arc::default(),
            stopping: None,
            widget: Arc::default(),
        }
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed");
                    None
                }
            }
        })
        .clone()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley", description = "Conversational messaging: channels, consent, sessions, agents."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "channels"), (name = "queues"), (name = "skills"), (name = "agents"),
        (name = "contacts"), (name = "conversations"), (name = "sms-processes"), (name = "keyword-sets"), (name = "quick-texts"), (name = "flows"), (name = "routing-rules"), (name = "templates"), (name = "dead-letters"), (name = "campaigns"), (name = "simulator"), (name = "operations"), (name = "twilio"), (name = "widget"), (name = "web-deployments")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The Twilio-compatible API authenticates as Twilio does: account SID and auth token.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// The whole application, with its OpenAPI document served at `/api/openapi.json`.
pub fn app(state: AppState) -> Router {
    use api::{channels, contacts, conversations, people, processes};

    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(channels::create_channel, channels::list_channels))
        .routes(routes!(
            channels::get_channel,
            channels::update_channel,
            channels::delete_channel
        ))
        .routes(routes!(api::queues::create_queue, api::queues::list_queues))
        .routes(routes!(
            api::queues::get_queue,
            api::queues::update_queue,
            api::queues::delete_queue
        ))
        .routes(routes!(people::create_skill, people::list_skills))
        .routes(routes!(
            people::get_skill,
            people::update_skill,
            people::delete_skill
        ))
        .routes(routes!(people::create_agent, people::list_agents))
        .routes(routes!(
            people::get_agent,
            people::update_agent,
            people::delete_agent
        ))
        .routes(routes!(contacts::create_contact, contacts::list_contacts))
        .routes(routes!(
            contacts::get_contact,
            contacts::update_contact,
            contacts::delete_contact
        ))
        .routes(routes!(conversations::list_messaging_users))
        .routes(routes!(conversations::get_messaging_user))
        .routes(routes!(conversations::list_sessions))
        .routes(routes!(conversations::get_session))
        .routes(routes!(conversations::list_entries))
        .routes(routes!(
            processes::create_sms_process,
            processes::list_sms_processes
        ))
        .routes(routes!(
            processes::get_sms_process,
            processes::update_sms_process,
            processes::delete_sms_process
        ))
        .routes(routes!(processes::start_sms_process))
        .routes(routes!(processes::pause_sms_process))
        .routes(routes!(
            api::quick_texts::list_quick_texts,
            api::quick_texts::create_quick_text
        ))
        .routes(routes!(
            api::quick_texts::get_quick_text,
            api::quick_texts::update_quick_text,
            api::quick_texts::delete_quick_text
        ))
        .routes(routes!(api::quick_texts::render_quick_text))
        .routes(routes!(api::flows::list_flows, api::flows::save_flow))
        .routes(routes!(
            api::flows::get_flow,
            api::flows::put_flow,
            api::flows::delete_flow
        ))
        .routes(routes!(api::flows::export_flow))
        .routes(routes!(api::flows::test_flow))
        .routes(routes!(api::flows::session_flow_runs))
        .routes(routes!(
            api::routing_rules::list_routing_rules,
            api::routing_rules::create_routing_rule
        ))
        .routes(routes!(
            api::routing_rules::get_routing_rule,
            api::routing_rules::update_routing_rule,
            api::routing_rules::delete_routing_rule
        ))
        .routes(routes!(
            api::keyword_sets::list_keyword_sets,
            api::keyword_sets::create_keyword_set
        ))
        .routes(routes!(
            api::keyword_sets::get_keyword_set,
            api::keyword_sets::update_keyword_set,
            api::keyword_sets::delete_keyword_set
        ))
        .routes(routes!(api::keyword_sets::replace_channel_keyword_sets))
        .routes(routes!(api::compose::analyze_draft))
        .routes(routes!(api::messages::send_message))
        .routes(routes!(api::dead_letters::list_dead_letters))
        .routes(routes!(api::dead_letters::replay_dead_letters))
        .routes(routes!(
            api::dead_letters::get_dead_letter,
            api::dead_letters::discard_dead_letter
        ))
        .routes(routes!(api::dead_letters::replay_dead_letter))
        .routes(routes!(api::messages::get_media))
        .routes(routes!(api::messages::resend_message))
        .routes(routes!(api::messages::mark_message_failed))
        .routes(routes!(
            api::templates::list_templates,
            api::templates::create_template
        ))
        .routes(routes!(
            api::templates::get_template,
            api::templates::update_template,
            api::templates::delete_template
        ))
        .routes(routes!(console::api::me))
        .routes(routes!(console::api::set_presence))
        .routes(routes!(console::api::work))
        .routes(routes!(console::api::accept))
        .routes(routes!(console::api::decline))
        .routes(routes!(console::api::end))
        .routes(routes!(console::api::inactive))
        .routes(routes!(console::api::read))
        .routes(routes!(console::api::transfer))
        .routes(routes!(console::api::link))
        .routes(routes!(console::api::opt_out))
        .routes(routes!(console::api::start_conversation))
        .routes(routes!(console::api::timeline))
        .routes(routes!(console::api::overview))
        .routes(routes!(console::api::estimated_wait))
        .routes(routes!(console::api::transfer_targets))
        .routes(routes!(console::api::set_password))
        .routes(routes!(console::sse::events))
        .merge(campaign_routes())
        .merge(api::reports::report_routes())
        .merge(api::subscriptions::subscription_routes())
        .merge(twilio_account_routes())
        .merge(notification_routes())
        .merge(api::cases::crm_routes())
        .merge(api::tokens::token_routes())
        .merge(api::web_deployments::web_routes())
        .merge(api::sender_limits::sender_limit_routes())
        .merge(api::sensitive_data::sensitive_data_routes())
        .merge(console::visitor::visitor_routes())
        .merge(api::translations::translation_routes())
        .merge(api::close_conversation::close_conversation_routes())
        .merge(api::permissions::permission_routes())
        .merge(api::privacy::privacy_routes())
        .merge(api::audit_log::audit_routes())
        .merge(api::retention::retention_routes())
        .merge(api::templates::template_routes())
        .merge(api::channel_providers::provider_routes())
        .merge(api::uploads::composer_routes())
        .merge(api::time_zones::time_zone_routes())
        .merge(api::board::board_routes())
        .merge(api::notes::notes_routes())
        .merge(api::search::search_routes())
        .split_for_parts();
    // Each route's permission, as its `#[utoipa::path]` declares it (`x-permission`), checked
    // after the caller is known and before the handler.
    let requirements = Arc::new(api::permissions::RouteRequirements::from_doc(&doc));
    let audit = api::audit_log::AuditLayer {
        requirements: requirements.clone(),
        store: state.store.clone(),
        clock: state.clock.clone(),
    };
    let api = api
        // Innermost: runs once the caller is known and allowed, and sees the handler's answer.
        .route_layer(middleware::from_fn_with_state(
            audit,
            api::audit_log::record_admin_changes,
        ))
        .route_layer(middleware::from_fn_with_state(
            requirements,
            api::permissions::enforce,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));

    let (open, mut open_doc) = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    let (sim, mut sim_doc) = OpenApiRouter::new()
        .routes(routes!(simulator::inbound))
        .routes(routes!(simulator::messages))
        .routes(routes!(simulator::channels))
        .routes(routes!(simulator::demo_order))
        .split_for_parts();
    // The simulator routes are documented always but served only when enabled: a router of their
    // own, because a literal route would win over the `{*rest}` catch below.
    let open = if state.config.simulator {
        open.merge(sim).merge(console::pages::simulator_routes())
    } else {
        open.route(
            "/simulator/{*rest}",
            axum::routing::any(|| async {
                ApiError::not_found("simulator (it is disabled on this server)")
            }),
        )
    };
    // The error answers of each part, by rule (see `schema::document_errors`): every route
    // merged above is covered without annotations of its own.
    schema::document_errors::<error::ErrorBody>(&mut doc, Access::Authenticated);
    schema::open_to_anyone(&mut open_doc);
    schema::document_errors::<error::ErrorBody>(&mut sim_doc, Access::Public);
    doc.merge(open_doc);
    doc.merge(sim_doc);
    let (widget, widget_doc) = widget_routes(&state);
    doc.merge(widget_doc);
    let (twilio, mut twilio_doc) = twilio_routes().split_for_parts();
    schema::document_errors::<twilio_api::TwilioError>(&mut twilio_doc, Access::Authenticated);
    doc.merge(twilio_doc);
    // Provider webhooks answer in the provider's format and are not part of the REST API.
    let webhooks = Router::new()
        .route(
            "/webhooks/{provider}/{channel}",
            axum::routing::get(webhooks::channel_webhook).post(webhooks::channel_webhook),
        )
        .route(
            "/webhooks/{provider}/{channel}/{action}",
            axum::routing::get(webhooks::channel_webhook).post(webhooks::channel_webhook),
        );
    let doc = Arc::new(doc);

    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(api)
        .merge(open)
        .merge(webhooks)
        .merge(twilio)
        .merge(widget)
        .merge(console::pages::public_routes())
        .merge(widget_assets::widget_asset_routes())
        .route(
            "/media/o/{token}",
            axum::routing::get(api::uploads::public_media),
        )
        .route(
            "/l/{code}",
            axum::routing::get(api::campaigns::follow_short_link)
                .head(api::campaigns::follow_short_link),
        )
        .merge(
            console::pages::signed_in_routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                console::auth::require_console,
            )),
        )
        .merge(
            console::reports::chart_routes().route_layer(middleware::from_fn_with_state(
                state.clone(),
                console::auth::require_console,
            )),
        )
        .route(
            "/console/login",
            axum::routing::get(console::auth::login_page).post(console::auth::login),
        )
        .route(
            "/console/logout",
            axum::routing::post(console::auth::logout),
        )
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::map_response(security_headers::add))
        .layer(middleware::from_fn(ops::track))
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http().make_span_with(ops::request_span))
        .with_state(state)
}

/// The web chat widget's public API (issue 14): its own origin checks, limits and errors.
fn widget_routes(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = widget::widget_routes(state.clone()).split_for_parts();
    schema::document_errors::<error::ErrorBody>(&mut doc, Access::Origin);
    (router, doc)
}

/// The Twilio-compatible Messages API (issue 13): outside `/api/v1`, with its own HTTP Basic
/// authentication (an account Parley issued) and Twilio's error format.
fn twilio_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            twilio_api::create_message,
            twilio_api::list_messages
        ))
        .routes(routes!(twilio_api::get_message))
        .layer(DefaultBodyLimit::max(twilio_api::BODY_LIMIT))
}

/// The accounts of the Twilio-compatible API (issue 13), under /api/v1 with the API token.
fn twilio_account_routes() -> OpenApiRouter<AppState> {
    use api::twilio_accounts as t;
    OpenApiRouter::new()
        .routes(routes!(t::list_twilio_accounts, t::create_twilio_account))
        .routes(routes!(t::revoke_twilio_account))
        .routes(routes!(
            t::list_messaging_services,
            t::create_messaging_service
        ))
        .routes(routes!(
            t::update_messaging_service,
            t::delete_messaging_service
        ))
}

/// The campaigns API (issue 11): segments, lists, campaigns. A list import takes a CSV of up to
/// [`api::audiences::IMPORT_LIMIT`]; every other route keeps the server's JSON limit.
fn campaign_routes() -> OpenApiRouter<AppState> {
    use api::{audiences, campaigns};
    let import = OpenApiRouter::new()
        .routes(routes!(audiences::import_list))
        .layer(DefaultBodyLimit::max(audiences::IMPORT_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(audiences::list_segments, audiences::create_segment))
        .routes(routes!(audiences::count_segment))
        .routes(routes!(
            audiences::get_segment,
            audiences::update_segment,
            audiences::delete_segment
        ))
        .routes(routes!(audiences::list_lists, audiences::create_list))
        .routes(routes!(audiences::get_list, audiences::delete_list))
        .routes(routes!(audiences::list_members, audiences::add_members))
        .routes(routes!(
            campaigns::list_campaigns,
            campaigns::create_campaign
        ))
        .routes(routes!(campaigns::list_senders))
        .routes(routes!(campaigns::audience_count))
        .routes(routes!(campaigns::preview))
        .routes(routes!(
            campaigns::get_campaign,
            campaigns::update_campaign,
            campaigns::delete_campaign
        ))
        .routes(routes!(campaigns::act_on_campaign))
        .routes(routes!(campaigns::results))
        .routes(routes!(campaigns::results_csv))
        .routes(routes!(campaigns::funnel_svg))
        .merge(import)
}

/// Triggered notifications and their error log (issue 13).
fn notification_routes() -> OpenApiRouter<AppState> {
    use api::notifications;
    OpenApiRouter::new()
        .routes(routes!(notifications::send_notification))
        .routes(routes!(notifications::list_notification_errors))
        .routes(routes!(
            notifications::get_notification_error,
            notifications::delete_notification_error
        ))
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes requests in flight, within
/// the configured connection limits.
pub async fn serve(
    listener: TcpListener,
    mut state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    state.stopping = Some(stopping);
    let limits = state.config.connections;
    listen::serve(listener, app(state), limits, async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await
}
