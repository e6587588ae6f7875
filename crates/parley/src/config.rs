//! Configuration: defaults, then an optional TOML file, then `PARLEY_*` environment variables.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use parley_server::listen::ConnectionLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://user@host/db`.
    pub database_url: String,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve the simulator's endpoints (always on in `parley demo`).
    pub simulator: bool,
    /// Connections in the database pool.
    pub max_connections: u32,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Seconds a worker holds a claimed job; after a crash its jobs run again this much later.
    pub job_lease_secs: u64,
    /// Directory where customers' files (MMS, WhatsApp media) are stored, content-addressed.
    pub media_dir: String,
    /// Let inbound media downloads reach loopback and private networks (10/8, 172.16/12,
    /// 192.168/16, fc00::/7, 100.64/10). Off: a webhook's media URL could otherwise make the
    /// server fetch from its own network. For tests and a provider fake on this machine; the
    /// demo turns it on. Link-local addresses (cloud metadata) are refused whatever this says.
    pub media_fetch_allow_private: bool,
    /// Provider calls in flight at once per outbound runner. Also the most messages a crash may
    /// send twice, with the SMPP window (see `docs/delivery.md`).
    pub outbound_concurrency: usize,
    /// Seconds a node's hold on a sender lasts unless renewed: how long a dead node's senders
    /// wait for another node to drive them.
    pub sender_lease_secs: u64,
    /// This node's name in the `leases` table (which node drives which sender); empty: a fresh
    /// `node-<uuid>` at every start.
    pub node_name: String,
    /// Hours an `unknown` send outcome (the provider's answer never came) waits for a receipt
    /// or status callback before it is failed.
    pub unknown_expiry_hours: u64,
    /// The address people reach this server at (`https://messages.example.com`): campaign short
    /// links point here (`/l/<code>`) unless `short_link_base` is set. Empty: links in campaigns
    /// are left as written and their clicks are not counted (the demo uses its listen address).
    pub public_url: String,
    /// A short domain of the operator's own for campaign links (`https://exm.pl`), routed to
    /// this server's `/l/` path. Never a public shortener (SMS-08).
    pub short_link_base: String,
    /// The most of a campaign's messages queued ahead of the dispatcher: what a pause holds.
    pub campaign_lookahead: u64,
    /// The key flows sign their webhook calls with (`X-Parley-Signature: sha256=<hex>` of the
    /// body's HMAC-SHA256). Empty: calls go unsigned.
    pub flow_secret: String,
    /// Days a notification error-log entry is kept before the hourly sweep deletes it (TM-08:
    /// 30).
    pub notification_error_retention_days: u64,
    /// A bearer token `/metrics` asks for (`Authorization: Bearer <token>`). Empty: open.
    pub metrics_token: String,
    /// An address of its own for `/metrics` (`127.0.0.1:9090`), which the main address then no
    /// longer serves. Empty: `/metrics` is on the main address.
    pub metrics_listen: String,
    /// HTTP connections open at once, in all; beyond it a new connection is closed at once.
    /// Lowered at start to what the file-descriptor limit allows.
    pub http_max_connections: usize,
    /// HTTP connections open at once from one client address (one /64 for IPv6). Behind a
    /// reverse proxy every connection comes from the proxy: raise it to `http_max_connections`.
    pub http_max_connections_per_address: usize,
    /// Seconds a client has to send a request's head, on a new connection and between the
    /// requests of a kept-alive one.
    pub http_header_timeout_secs: u64,
    /// Seconds a connection may go without a byte read or written before it is closed.
    pub http_idle_timeout_secs: u64,
    /// A file holding the encryption keyring for data at rest (`key` or `id:key,...`, the
    /// active key first; `parley keys generate` makes a key). `PARLEY_ENCRYPTION_KEY` wins over
    /// it. Empty and no variable: nothing is encrypted (a database holding encrypted data then
    /// refuses to start).
    pub encryption_key_file: String,
    /// The IANA time zone (`America/Toronto`) the console shows times in for an agent who has
    /// not chosen one and whose browser did not say. Empty: the browser's.
    pub time_zone: String,
}

/// Every configuration key, as read from `PARLEY_<KEY>` variables.
const KEYS: [&str; 26] = [
    "database_url",
    "listen",
    "max_body_bytes",
    "simulator",
    "max_connections",
    "log_format",
    "job_lease_secs",
    "media_dir",
    "media_fetch_allow_private",
    "outbound_concurrency",
    "sender_lease_secs",
    "node_name",
    "unknown_expiry_hours",
    "public_url",
    "short_link_base",
    "campaign_lookahead",
    "flow_secret",
    "notification_error_retention_days",
    "metrics_token",
    "metrics_listen",
    "http_max_connections",
    "http_max_connections_per_address",
    "http_header_timeout_secs",
    "http_idle_timeout_secs",
    "encryption_key_file",
    "time_zone",
];

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://parley.db".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            simulator: false,
            max_connections: 8,
            log_format: "text".to_owned(),
            job_lease_secs: 60,
            media_dir: parley_engine::media::DEFAULT_DIR.to_owned(),
            media_fetch_allow_private: false,
            outbound_concurrency: parley_engine::outbound::dispatch::DEFAULT_CONCURRENCY,
            sender_lease_secs: parley_engine::outbound::dispatch::DEFAULT_SENDER_LEASE.as_secs(),
            node_name: String::new(),
            unknown_expiry_hours: 48,
            public_url: String::new(),
            short_link_base: String::new(),
            campaign_lookahead: parley_engine::campaigns::LOOKAHEAD,
            flow_secret: String::new(),
            notification_error_retention_days: 30,
            metrics_token: String::new(),
            metrics_listen: String::new(),
            http_max_connections: 10_000,
            http_max_connections_per_address: 256,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            encryption_key_file: String::new(),
            time_zone: String::new(),
        }
    }
}

impl Config {
    /// The HTTP connection limits, within sane bounds, with at most `descriptors` connections in
    /// all (the process's file-descriptor limit less what the rest of the server needs).
    pub fn connection_limits(&self, descriptors: Option<u64>) -> ConnectionLimits {
        let mut max_connections = self.http_max_connections.max(1);
        if let Some(d) = descriptors {
            // Database connections, media files, SMPP binds and the listener itself.
            let usable = usize::try_from(d.saturating_sub(256)).unwrap_or(usize::MAX);
            max_connections = max_connections.min(usable.max(16));
        }
        ConnectionLimits {
            max_connections,
            max_per_address: self
                .http_max_connections_per_address
                .clamp(1, max_connections),
            header_timeout: Duration::from_secs(self.http_header_timeout_secs.clamp(1, 3600)),
            idle_timeout: Duration::from_secs(self.http_idle_timeout_secs.clamp(1, 24 * 3600)),
        }
    }

    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only the keys above: other PARLEY_* variables (PARLEY_LOG, PARLEY_CONFIG, test
        // settings) belong to something else.
        figment
            .merge(Env::prefixed("PARLEY_").only(&KEYS))
            .extract()
            .map_err(Box::new)
    }

    /// Where campaign short links point: the short domain, else the public address, else none.
    pub fn link_base(&self) -> Option<String> {
        [&self.short_link_base, &self.public_url]
            .into_iter()
            .map(|b| b.trim().trim_end_matches('/'))
            .find(|b| !b.is_empty())
            .map(str::to_owned)
    }

    pub fn default_toml() -> String {
        let body = toml::to_string_pretty(&Config::default()).unwrap_or_default();
        format!(
            "# Parley configuration. Every key can also be set as PARLEY_<KEY> in the environment\n\
             # (for example PARLEY_DATABASE_URL, PARLEY_LISTEN), which wins over this file.\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_known_environment_key() {
        let value = toml::Value::try_from(Config::default()).unwrap();
        let fields: Vec<&str> = value
            .as_table()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        let mut fields = fields;
        fields.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn notification_error_retention_is_configurable() {
        assert_eq!(Config::default().notification_error_retention_days, 30);
        let c: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("notification_error_retention_days = 7"))
            .extract()
            .unwrap();
        assert_eq!(c.notification_error_retention_days, 7);
    }

    #[test]
    fn connection_limits_fit_the_descriptor_limit() {
        let c = Config::default();
        let l = c.connection_limits(None);
        assert_eq!((l.max_connections, l.max_per_address), (10_000, 256));
        assert_eq!(l.header_timeout, Duration::from_secs(10));
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        let l = c.connection_limits(Some(1024));
        assert_eq!((l.max_connections, l.max_per_address), (768, 256));
        let l = c.connection_limits(Some(300));
        assert_eq!((l.max_connections, l.max_per_address), (44, 44));
        let tiny = Config {
            http_max_connections: 0,
            http_header_timeout_secs: 0,
            ..Config::default()
        };
        let l = tiny.connection_limits(None);
        assert_eq!((l.max_connections, l.max_per_address), (1, 1));
        assert_eq!(l.header_timeout, Duration::from_secs(1));
    }

    #[test]
    fn default_round_trips_through_toml() {
        let text = Config::default_toml();
        let parsed: Config = toml::from_str(&text).unwrap();
        assert_eq!(parsed.database_url, "sqlite://parley.db");
        assert_eq!(parsed.listen.to_string(), "127.0.0.1:8080");
    }
}
