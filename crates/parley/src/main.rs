//! `parley`: the one binary. Serves the product, runs the demo, migrates, provisions and
//! benchmarks. Configuration comes from defaults, an optional TOML file and `PARLEY_*` variables.

#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

/// See the dependency's comment in `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_campaign;
mod bench_console;
mod bench_flows;
mod bench_inbound;
mod bench_notifications;
mod bench_outbound;
mod bench_reports;
mod bench_scale;
mod bench_search;
mod bench_smsc;
mod bench_widget;
mod campaign;
mod config;
mod import;
mod keys;
mod privacy;
mod search;
mod tokens;
mod twilio;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use parley_core::model::TokenRole;
use parley_core::{Clock, SystemClock};
use parley_engine::provision::{self, WorkspaceFile};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::{Store, StoreOptions};
use tokio::sync::watch;

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "parley",
    version,
    about = "Conversational messaging: SMS, WhatsApp, Messenger and web chat in one place"
)]
struct Cli {
    /// A TOML configuration file; `PARLEY_*` environment variables override it.
    #[arg(long, short, global = true, env = "PARLEY_CONFIG")]
    config: Option<PathBuf>,
    /// A file holding the encryption keyring (`key` or `id:key,...`, active first); overrides
    /// `encryption_key_file`. `PARLEY_ENCRYPTION_KEY` wins over both.
    #[arg(long, global = true)]
    encryption_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: HTTP API, webhooks and workers.
    Serve,
    /// Run the server on a local SQLite file with a seeded workspace and the simulator, no
    /// credentials needed.
    Demo {
        /// The demo's database file.
        #[arg(long, default_value = "sqlite://parley-demo.db")]
        database_url: String,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// API tokens: create (shown once), list, revoke.
    #[command(name = "tokens", visible_alias = "token")]
    Token {
        #[command(subcommand)]
        command: tokens::TokenCommand,
    },
    /// Provision channels, queues, skills, agents, keyword sets and templates from a YAML or TOML
    /// file. Running it twice changes nothing.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Delete what the file no longer lists.
        #[arg(long)]
        prune: bool,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Load data from files: messaging users and their consent from CSV.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Campaigns and broadcasts, their segments and lists.
    Campaign {
        #[command(subcommand)]
        command: campaign::CampaignCommand,
    },
    /// The Twilio-compatible API: accounts and messaging services.
    Twilio {
        #[command(subcommand)]
        command: twilio::TwilioCommand,
    },
    /// Access, restriction and erasure requests: export, restrict, unrestrict, erase.
    Privacy {
        #[command(subcommand)]
        command: privacy::PrivacyCommand,
    },
    /// Encryption at rest: make a key, turn encryption on for existing data, rotate keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// The search index: `reindex` writes it for data stored before it existed.
    Search {
        #[command(subcommand)]
        command: search::SearchCommand,
    },
    /// Benchmarks that print throughput and latency.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration as TOML.
    PrintDefault,
}

/// One audit entry for an admin command run on the server (`AuditActor::Cli`), after it changed
/// what it changed; a failure to record fails the command, so nothing is done without its trail
/// going unnoticed.
async fn cli_audit(
    store: &parley_store::Store,
    action: &str,
    resource_kind: &str,
    resource_id: Option<String>,
    detail: serde_json::Value,
) -> Result<()> {
    parley_engine::audit::record(
        store,
        parley_core::audit::AuditEntry {
            actor: parley_core::audit::AuditActor::Cli,
            action: action.to_owned(),
            resource_kind: resource_kind.to_owned(),
            resource_id,
            detail,
        },
    )
    .await
    .context("recording the audit log entry")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // TLS for provider calls runs on rustls with the ring provider, installed once for the process.
    parley_engine::transport::install_crypto_provider();
    if let Command::Config {
        command: ConfigCommand::PrintDefault,
    } = cli.command
    {
        print!("{}", Config::default_toml());
        return Ok(());
    }
    if let Command::Keys {
        command: keys::KeysCommand::Generate { id },
    } = &cli.command
    {
        return keys::generate(id.as_deref());
    }
    let mut config = Config::load(cli.config.as_deref()).context("reading configuration")?;
    if let Some(file) = &cli.encryption_key_file {
        config.encryption_key_file = file.display().to_string();
    }
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Demo { database_url } => {
                config.database_url = database_url;
                config.simulator = true;
                // The demo's fakes and simulator live on loopback.
                config.media_fetch_allow_private = true;
                if config.public_url.is_empty() {
                    config.public_url = format!("http://{}", config.listen);
                }
                demo(config).await
            }
            Command::Migrate => {
                let store = open(&config).await?;
                store.close().await;
                println!("migrations applied to {}", redact(&config.database_url));
                Ok(())
            }
            Command::Token { command } => {
                let store = open(&config).await?;
                let outcome = tokens::run(command, &store).await;
                store.close().await;
                outcome
            }
            Command::Apply { file, prune } => {
                let store = open(&config).await?;
                let workspace = read_workspace(&file)?;
                let report = provision::apply(&store, &SystemClock, &workspace, prune).await?;
                cli_audit(
                    &store,
                    "workspace_applied",
                    "workspace",
                    None,
                    serde_json::json!({
                        "created": report.created.len(),
                        "updated": report.updated.len(),
                        "deleted": report.deleted.len(),
                        "unchanged": report.unchanged,
                        "prune": prune,
                    }),
                )
                .await?;
                for c in &report.created {
                    println!("created   {c}");
                }
                for u in &report.updated {
                    println!("updated   {u}");
                }
                for d in &report.deleted {
                    println!("deleted   {d}");
                }
                println!("unchanged {} item(s)", report.unchanged);
                store.close().await;
                Ok(())
            }
            Command::Import { command } => {
                let store = open(&config).await?;
                let outcome = import::run(command, &store).await;
                // Recorded whether or not every row went in: rows that did changed data.
                cli_audit(
                    &store,
                    "messaging_users_imported",
                    "messaging_user",
                    None,
                    serde_json::json!({ "complete": outcome.is_ok() }),
                )
                .await?;
                store.close().await;
                outcome
            }
            Command::Campaign { command } => {
                let store = open(&config).await?;
                let audit = campaign::audit_action(&command);
                let outcome = campaign::run(command, &store, config.link_base()).await;
                if let (Ok(()), Some((action, kind, id))) = (&outcome, audit) {
                    cli_audit(&store, action, kind, id, serde_json::json!({})).await?;
                }
                store.close().await;
                outcome
            }
            Command::Twilio { command } => {
                let store = open(&config).await?;
                let audit = twilio::audit_action(&command);
                let outcome = twilio::run(command, &store).await;
                if let (Ok(()), Some((action, kind, id))) = (&outcome, audit) {
                    cli_audit(&store, action, kind, id, serde_json::json!({})).await?;
                }
                store.close().await;
                outcome
            }
            Command::Privacy { command } => {
                let store = open(&config).await?;
                let outcome = privacy::run(command, &store, &config.media_dir).await;
                store.close().await;
                outcome
            }
            Command::Keys { command } => {
                let store = open(&config).await?;
                let outcome = keys::run(command, &store).await;
                store.close().await;
                outcome
            }
            Command::Search { command } => {
                let store = open(&config).await?;
                let outcome = search::run(command, &store).await;
                if outcome.is_ok() {
                    cli_audit(
                        &store,
                        "search_reindexed",
                        "search_index",
                        None,
                        serde_json::json!({}),
                    )
                    .await?;
                }
                store.close().await;
                outcome
            }
            Command::Bench { command } => bench::run(command, &config).await,
            Command::Config { .. } => Ok(()),
        }
    })
}

/// Reads a workspace file, YAML or TOML by its extension.
fn read_workspace(path: &Path) -> Result<WorkspaceFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_workspace(path, &text)
}

fn parse_workspace(path: &Path, text: &str) -> Result<WorkspaceFile> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(text).with_context(|| format!("parsing {}", path.display())),
        Some("yaml" | "yml") => {
            serde_norway::from_str(text).with_context(|| format!("parsing {}", path.display()))
        }
        _ => bail!("{}: use a .yaml, .yml or .toml file", path.display()),
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PARLEY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = url.get(scheme + 3..at).unwrap_or("");
            let user = creds.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***{}",
                url.get(..scheme + 3).unwrap_or(""),
                url.get(at..).unwrap_or("")
            )
        }
        _ => url.to_owned(),
    }
}

async fn open(config: &Config) -> Result<Store> {
    let options = StoreOptions {
        max_connections: config.max_connections,
        ..StoreOptions::default()
    };
    let store = Store::connect(&config.database_url, &options)
        .await
        .with_context(|| format!("opening {}", redact(&config.database_url)))?;
    store.migrate().await.context("applying migrations")?;
    // Every command that opens the store refuses a missing or wrong key before touching data.
    if let Err(e) = keys::install(&store, &config.encryption_key_file).await {
        store.close().await;
        return Err(e);
    }
    Ok(store)
}

async fn create_token(store: &Store, name: &str, role: TokenRole) -> Result<String> {
    let (token, hash) = parley_server::auth::generate_token();
    parley_engine::service::tokens::create_api_token(store, name, role, &hash, SystemClock.now())
        .await?;
    Ok(token)
}

async fn serve(config: Config) -> Result<()> {
    let store = open(&config).await?;
    run_server(config, store, None).await
}

async fn demo(config: Config) -> Result<()> {
    let store = open(&config).await?;
    let workspace: WorkspaceFile =
        serde_norway::from_str(&demo_workspace(&config.listen.to_string()))
            .context("the built-in demo workspace")?;
    provision::apply(&store, &SystemClock, &workspace, false).await?;
    seed_demo_campaign(&store).await?;
    // The seeded people come in through the CSV import, which does not index: the search finds
    // them from the first start.
    while !parley_engine::service::search::reindex_step(&store, 1000, SystemClock.now())
        .await?
        .done
    {}
    let token = create_token(&store, "demo", TokenRole::Admin).await?;
    // Fresh passwords at every start: the demo never ships a known credential.
    let mut logins = String::new();
    for agent in &workspace.agents {
        let Some(found) = store.agent_by_email(&agent.email).await? else {
            continue;
        };
        let password = demo_password();
        let hash = parley_server::console::auth::hash_password(&password)
            .map_err(|e| anyhow::anyhow!("hashing a demo password: {e}"))?;
        store
            .set_agent_password_hash(found.id, &hash, SystemClock.now())
            .await?;
        logins.push_str(&format!(
            "             {:<26} {password}   ({})\n",
            agent.email, found.role
        ));
    }
    let shop = serve_demo_shop(&config).await?;
    let banner = format!(
        "\nParley demo on http://{listen}\n  database:  {db}\n  console:   http://{listen}/console  (sign in as one of these, then go Available)\n{logins}  customer:  http://{listen}/simulator  (play the customer: send any question from Demo SMS)\n  shop:      {shop}/  (chat with Ada from the widget)\n  campaign:  Campaigns > Winter offer > Start, then reply HELP as its recipient: http://{listen}/simulator?from=%2B{subscriber}\n  API token: {token}\n  try:       curl -H 'Authorization: Bearer {token}' http://{listen}/api/v1/channels\n",
        listen = config.listen,
        db = config.database_url,
        subscriber = DEMO_SUBSCRIBER.trim_start_matches('+'),
    );
    run_server(config, store, Some(banner)).await
}

/// The demo's sample shop on a second origin (the demo's port + 1, same host) with the web chat
/// widget of the `shop` deployment; answers its URL.
async fn serve_demo_shop(config: &Config) -> Result<String> {
    let mut addr = config.listen;
    addr.set_port(
        addr.port()
            .checked_add(1)
            .context("the demo's port is the last one")?,
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} for the demo shop"))?;
    let app = parley_server::widget_assets::demo_shop_router(&config.public_url, "shop", "en");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the demo shop stopped");
        }
    });
    Ok(shop_origin(&config.listen.to_string()))
}

/// The demo shop's origin for a listen address: loopback for a wildcard, port + 1.
fn shop_origin(listen: &str) -> String {
    let port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let host = match listen.rsplit_once(':').map(|(h, _)| h) {
        Some("0.0.0.0" | "[::]" | "") | None => "127.0.0.1",
        Some(h) => h,
    };
    format!("http://{host}:{}", port.saturating_add(1))
}

/// The demo's workspace file, its order bot calling this server's demo order service.
fn demo_workspace(listen: &str) -> String {
    // A wildcard listen address is reached on loopback.
    let port = listen.rsplit(':').next().unwrap_or("8080");
    let host = match listen.rsplit_once(':').map(|(h, _)| h) {
        Some("0.0.0.0" | "[::]" | "") | None => "127.0.0.1",
        Some(h) => h,
    };
    let shop_port = port.parse::<u16>().map_or(8081, |p| p.saturating_add(1));
    include_str!("demo.yaml")
        .replace("{demo_base}", &format!("http://{host}:{port}"))
        .replace("{shop_origin}", &format!("http://{host}:{shop_port}"))
}

/// A readable random password for a demo agent.
/// The number the demo's campaign goes to, which a newcomer plays in the simulator.
const DEMO_SUBSCRIBER: &str = "+14155552671";

/// The demo's marketing half: a few subscribers of Demo SMS, a segment of them, and a draft
/// campaign with a HELP footer and a wa.me footer to Demo WhatsApp, ready to start from the
/// console. Seeded once: a restarted demo keeps what the newcomer did with it.
async fn seed_demo_campaign(store: &Store) -> Result<()> {
    use parley_core::campaign::audience::{Condition, ConsentFilter, SegmentFilter};
    use parley_core::campaign::{Audience, CampaignKind, CampaignSpec, Content, Footer};
    use parley_core::model::ConsentStatus;
    use parley_engine::service::campaigns::{self as campaigns, SegmentInput};

    const NAME: &str = "Winter offer";
    if store.campaigns().await?.iter().any(|c| c.spec.name == NAME) {
        return Ok(());
    }
    let (Some(sms), Some(whatsapp)) = (
        store.channel_by_name("Demo SMS").await?,
        store.channel_by_name("Demo WhatsApp").await?,
    ) else {
        return Ok(());
    };
    let people = [
        (DEMO_SUBSCRIBER, "Jordan", "Lee"),
        ("+14155552672", "Priya", "Shah"),
        ("+14155552673", "Marco", "Rossi"),
        ("+14155552674", "", ""),
    ];
    let file = parley_engine::import::ImportFile {
        name: "demo subscribers".to_owned(),
        header: [
            "channel",
            "platform_key",
            "consent_status",
            "first_name",
            "last_name",
        ]
        .map(str::to_owned)
        .to_vec(),
        records: people
            .iter()
            .enumerate()
            .map(
                |(i, (phone, first, last))| parley_engine::import::ImportRecord {
                    line: i as u64 + 2,
                    fields: [sms.name.as_str(), phone, "ExplicitlyOptedIn", first, last]
                        .map(str::to_owned)
                        .to_vec(),
                    unreadable: None,
                },
            )
            .collect(),
    };
    parley_engine::import::import_messaging_users(store, &SystemClock, &file, |_| {}).await?;
    let now = SystemClock.now();
    let segment = match store
        .segments()
        .await?
        .into_iter()
        .find(|s| s.name == "Demo SMS subscribers")
    {
        Some(s) => s,
        None => {
            let input = SegmentInput {
                name: "Demo SMS subscribers".to_owned(),
                description: "Everyone who opted in on Demo SMS".to_owned(),
                filter: SegmentFilter {
                    all: vec![
                        Condition::Channel {
                            channels: vec![sms.id],
                        },
                        Condition::Consent {
                            statuses: vec![
                                ConsentFilter::Status(ConsentStatus::ExplicitlyOptedIn),
                                ConsentFilter::Status(ConsentStatus::DoublyOptedIn),
                            ],
                        },
                    ],
                },
            };
            campaigns::create_segment(store, &input, now).await?
        }
    };
    let spec = CampaignSpec {
        name: NAME.to_owned(),
        kind: CampaignKind::Marketing,
        senders: vec![sms.id],
        audience: Audience::Segment {
            segment_id: segment.id,
        },
        content: Content {
            text: Some(
                "Hi {{ messaging_user.name }}! Winter sale: 20% off until Sunday at https://demo.parley.test/winter"
                    .to_owned(),
            ),
            template: None,
            missing: parley_core::campaign::MissingValues::Fallback,
            fallbacks: [("messaging_user.name".to_owned(), "there".to_owned())].into(),
        },
        footer: Footer {
            help: true,
            whatsapp_channel_id: Some(whatsapp.id),
            shorten_whatsapp: false,
            custom: None,
        },
        schedule: Default::default(),
        reply_flow: None,
    };
    campaigns::create_campaign(store, &spec, Some("demo"), now).await?;
    Ok(())
}

fn demo_password() -> String {
    use base64::Engine as _;
    let bytes: [u8; 9] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn run_server(config: Config, store: Store, banner: Option<String>) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let floor = parley_engine::outbound::rate::MAX_RATE_WAIT + parley_engine::outbound::CALL_MARGIN;
    if config.job_lease_secs < floor.as_secs() {
        // Not refused: tests shorten it to see crash recovery quickly. In production a batch
        // that waits for a slow sender's rate would give most of its sends back unsent.
        tracing::warn!(
            job_lease_secs = config.job_lease_secs,
            "job_lease_secs is below {} s (the longest rate wait plus the margin a send keeps before its job's lease ends); slow senders will retry sends instead of making them",
            floor.as_secs()
        );
    }
    let engine_config = EngineConfig {
        lease: std::time::Duration::from_secs(config.job_lease_secs.clamp(1, 3600)),
        media_dir: config.media_dir.clone().into(),
        media_fetch_allow_private: config.media_fetch_allow_private,
        outbound_concurrency: config.outbound_concurrency.max(1),
        sender_lease: std::time::Duration::from_secs(config.sender_lease_secs.clamp(1, 3600)),
        node_name: (!config.node_name.is_empty()).then(|| config.node_name.clone()),
        unknown_expiry: std::time::Duration::from_secs(
            config.unknown_expiry_hours.clamp(1, 24 * 365) * 3600,
        ),
        link_base: config.link_base(),
        campaign_lookahead: config.campaign_lookahead,
        flow_secret: (!config.flow_secret.is_empty()).then(|| config.flow_secret.clone()),
        notification_error_retention: std::time::Duration::from_secs(
            config.notification_error_retention_days.clamp(1, 3650) * 24 * 3600,
        ),
        ..EngineConfig::default()
    };
    let metrics_listen: Option<std::net::SocketAddr> = match config.metrics_listen.trim() {
        "" => None,
        a => Some(a.parse().with_context(|| {
            format!("metrics_listen: {a:?} is not an address like 127.0.0.1:9090")
        })?),
    };
    let metrics_listener = match metrics_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("listening on {a} for metrics"))?,
        ),
        None => None,
    };
    let engine = Engine::new(store.clone(), clock, EventBus::default(), engine_config);
    let state = AppState::new(
        engine.clone(),
        parley_server::metrics_handle(),
        ServerConfig {
            max_body_bytes: config.max_body_bytes,
            simulator: config.simulator,
            metrics_token: (!config.metrics_token.is_empty()).then(|| config.metrics_token.clone()),
            metrics_listen,
            connections: config.connection_limits(raise_descriptor_limit()),
            public_url: (!config.public_url.is_empty()).then(|| config.public_url.clone()),
            default_time_zone: match config.time_zone.trim() {
                "" => None,
                z => Some(parley_core::clock::iana_time_zone(z).with_context(|| {
                    format!(
                        "time_zone: {z:?} is not an IANA time zone name such as America/Toronto"
                    )
                })?),
            },
        },
    );
    if let Some(listener) = metrics_listener {
        let app = parley_server::ops::metrics_app(state.clone());
        // The same caps and timeouts as the main address: a scraper's port is still a port.
        let limits = state.config.connections;
        tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            if let Err(e) = parley_server::listen::serve(listener, app, limits, forever).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = engine.spawn_workers(stop_rx);
    tracing::info!(listen = %config.listen, database = %redact(&config.database_url), "parley serving");
    if let Some(b) = banner {
        println!("{b}");
    }
    parley_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    store.close().await;
    tracing::info!("parley stopped");
    Ok(())
}

/// Raises this process's open-file limit to the most it may have, so that a burst of connections
/// meets the connection caps rather than a failing `accept`; answers the limit then in force
/// (`None`: unlimited or unknown).
fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current.is_some() && limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::info!(from = ?limit.current, to = ?limit.maximum, "raised the open-file limit");
                }
                Err(e) => {
                    tracing::warn!(error = %e, limit = ?limit.current, "cannot raise the open-file limit");
                }
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo shop is the next port on the same host; a wildcard listen is reached on loopback.
    #[test]
    fn the_demo_shop_is_on_the_next_port() {
        assert_eq!(shop_origin("127.0.0.1:8080"), "http://127.0.0.1:8081");
        assert_eq!(shop_origin("0.0.0.0:9000"), "http://127.0.0.1:9001");
        assert_eq!(shop_origin("[::]:8080"), "http://127.0.0.1:8081");
    }

    #[test]
    fn demo_workspace_parses() {
        let w: WorkspaceFile = serde_norway::from_str(&demo_workspace("127.0.0.1:8080")).unwrap();
        assert_eq!(w.channels.len(), 3);
        assert_eq!(
            w.web_deployments[0].origins,
            vec!["http://127.0.0.1:8081".to_owned()]
        );
        // The order bot is a valid flow calling this server's demo order service.
        let bot = &w.flows[0];
        parley_engine::service::flows::check(bot).unwrap();
        assert!(
            serde_json::to_string(bot)
                .unwrap()
                .contains("http://127.0.0.1:8080/simulator/demo/orders/")
        );
    }

    /// The demo's help texts are what we tell admins to write: they pass the short code rules
    /// (CO-12, CO-16) even on the toll-free number, which is not held to them.
    #[test]
    fn demo_help_responses_meet_the_short_code_rules() {
        use parley_core::compliance::help_message_problems;
        use parley_core::keywords::Language;
        let w: WorkspaceFile = serde_norway::from_str(&demo_workspace("127.0.0.1:8080")).unwrap();
        let mut checked = 0;
        for channel in &w.channels {
            for (language, set) in &channel.keyword_sets {
                let Some(help) = set["responses"]["help"].as_str() else {
                    continue;
                };
                let problems = help_message_problems(
                    help,
                    Some(parley_core::model::NumberType::ShortCode),
                    &Language::new(language),
                );
                assert_eq!(problems, vec![], "{}: {help}", channel.name);
                checked += 1;
            }
        }
        assert!(checked > 0);
    }

    #[tokio::test]
    async fn demo_workspace_applies() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("demo.db").display());
        let store = Store::connect(&url, &parley_store::StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let w: WorkspaceFile = serde_norway::from_str(&demo_workspace("127.0.0.1:8080")).unwrap();
        provision::apply(&store, &SystemClock, &w, false)
            .await
            .unwrap();
        // The marketing half: a segment and a draft campaign with both footers, seeded once.
        seed_demo_campaign(&store).await.unwrap();
        seed_demo_campaign(&store).await.unwrap();
        let campaigns = store.campaigns().await.unwrap();
        assert_eq!(campaigns.len(), 1);
        assert!(
            campaigns[0].spec.footer.help && campaigns[0].spec.footer.whatsapp_channel_id.is_some()
        );
        assert!(
            store
                .agent_by_email("alex@demo.parley.test")
                .await
                .unwrap()
                .is_some()
        );
        store.close().await;
    }

    #[test]
    fn workspace_files_parse_as_yaml_and_toml() {
        let toml = "[[queues]]\nname = \"Support\"\n\n[[channels]]\nname = \"Main\"\nkind = \"sms\"\nprovider = \"simulator\"\naddress = \"+14155550100\"\nnumber_type = \"toll_free\"\nqueue = \"Support\"\n";
        let w = parse_workspace(Path::new("w.toml"), toml).unwrap();
        assert_eq!((w.queues.len(), w.channels.len()), (1, 1));
        let yaml = "queues:\n  - name: Support\n";
        assert_eq!(
            parse_workspace(Path::new("w.yml"), yaml)
                .unwrap()
                .queues
                .len(),
            1
        );
        assert!(parse_workspace(Path::new("w.json"), "{}").is_err());
        assert!(parse_workspace(Path::new("w.yaml"), "queues: [{name: A, colour: red}]").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://parley.db"), "sqlite://parley.db");
    }
}
