//! Fetching a customer's files from the provider that received them: the requests to make and
//! what the answers mean. Pure functions; the engine's media store runs them.
//!
//! - Twilio: `MediaUrlN` of the inbound webhook, `GET` with the account's Basic credentials
//!   (Twilio answers with the file, or redirects to a signed storage URL, which is fetched
//!   without credentials).
//! - WhatsApp Cloud API: the webhook carries a media id. `GET {base}/{version}/{media_id}` with
//!   the bearer token answers `{"url", "mime_type", "sha256", "file_size", "id",
//!   "messaging_product"}` ([`parse_meta_media_info`]); the `url` (valid for five minutes) is then
//!   fetched with the same bearer token.
//! - Messenger: the attachment URL is a public CDN link, fetched as is.
//!
//! Where a fetch may go ([`MediaHosts`]): the webhook names the URL, so a forged or odd one
//! must not make Parley fetch from its own network or hand the channel's credentials to
//! someone else. Each provider declares its hosts next to its format: the API hosts that may
//! receive the channel's credentials (plus the host of the channel's own `settings.base_url`,
//! where its sends already go), and the storage or CDN hosts its files are served from or
//! redirected to (fetched without credentials). A channel may add hosts of its own with
//! `settings.media_hosts` (`["media.example.com", "*.cdn.example.com"]`), fetched without
//! credentials. Everything else is refused before any connection is made. The engine applies
//! the rule on every redirect hop and checks the addresses the names resolve to.
//!
//! Hosts, as the providers document them (Twilio: media URLs under `api.twilio.com`, which
//! redirect to `mms.twiliocdn.com` for accounts with HTTP authentication on media, or to
//! `s3-external-1.amazonaws.com` for older public media; Meta: the Graph API, WhatsApp media at
//! `lookaside.fbsbx.com` fetched with the bearer token, Messenger attachments on Meta's CDNs
//! `*.fbcdn.net` and `*.fbsbx.com`).

use base64::Engine as _;
use parley_core::net::{HostPattern, host_allowed};
use serde::Deserialize;
use serde_json::Value;

use crate::adapter::SettingsError;

use crate::http::{
    BuildError, HttpRequest, Method, RetrySafety, base_url, header_token, path_segment,
};
use crate::meta::send::GraphEndpoint;

/// Twilio's API hosts: they may receive the account's credentials (regional APIs are
/// `api.{edge}.{region}.twilio.com`).
pub const TWILIO_API_HOSTS: &[&str] = &["api.twilio.com", "*.twilio.com"];
/// Where Twilio's media URLs redirect: its media CDN, and the S3 host of older public media.
pub const TWILIO_STORAGE_HOSTS: &[&str] = &["*.twiliocdn.com", "s3-external-1.amazonaws.com"];
/// Meta's hosts that take a channel's access token: the Graph API, and the WhatsApp media host
/// whose downloads need the bearer token.
pub const META_API_HOSTS: &[&str] = &["graph.facebook.com", "lookaside.fbsbx.com"];
/// Meta's CDNs of Messenger attachments.
pub const META_CDN_HOSTS: &[&str] = &["*.fbcdn.net", "*.fbsbx.com"];

/// One host entry and the schemes it is reached by.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    pattern: HostPattern,
    /// Provider hosts are HTTPS only; a channel's configured hosts take what it configured.
    https_only: bool,
}

impl HostRule {
    fn admits(&self, scheme: &str, host: &str) -> bool {
        (scheme == "https" || (scheme == "http" && !self.https_only)) && self.pattern.matches(host)
    }
}

/// Where a channel's media fetches may go, and where its credentials may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaHosts {
    credentials: Vec<HostRule>,
    fetch: Vec<HostRule>,
}

/// What [`MediaHosts::access`] decided for one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaAccess {
    /// A provider API host: the request keeps the channel's credentials.
    WithCredentials,
    /// A storage, CDN or configured host: fetched, with every credential header removed.
    Anonymous,
    /// Not fetched at all; the reason goes on the media item.
    Refused(String),
}

impl MediaHosts {
    /// Adds provider API hosts (HTTPS) that may receive credentials. The entries are the
    /// constants above: a bad one is a programming error and is skipped.
    pub fn provider_api(mut self, hosts: &[&str]) -> Self {
        self.credentials
            .extend(hosts.iter().filter_map(|h| rule(h, true)));
        self
    }

    /// Adds provider storage or CDN hosts (HTTPS), fetched without credentials.
    pub fn provider_storage(mut self, hosts: &[&str]) -> Self {
        self.fetch
            .extend(hosts.iter().filter_map(|h| rule(h, true)));
        self
    }

    /// Adds the host of the channel's `settings.base_url`: its sends already go there with the
    /// credentials, so a test fake or a self-hosted gateway serves its media the same way.
    pub fn configured_api(mut self, base_url: Option<&str>) -> Self {
        if let Some((scheme, host)) = base_url.and_then(scheme_and_host)
            && let Ok(pattern) = HostPattern::parse(host)
        {
            self.credentials.push(HostRule {
                pattern,
                https_only: scheme == "https",
            });
        }
        self
    }

    /// Adds the channel's own `settings.media_hosts`, fetched without credentials.
    pub fn configured(mut self, hosts: Vec<HostPattern>) -> Self {
        self.fetch.extend(hosts.into_iter().map(|pattern| HostRule {
            pattern,
            https_only: false,
        }));
        self
    }

    /// Whether a URL of `scheme` (lower case) on `host` (as a URL parser gives it) may be
    /// fetched, and with the channel's credentials or without.
    pub fn access(&self, scheme: &str, host: &str) -> MediaAccess {
        if !matches!(scheme, "http" | "https") {
            return MediaAccess::Refused(format!("'{scheme}' is not an http(s) scheme"));
        }
        if self.credentials.iter().any(|r| r.admits(scheme, host)) {
            return MediaAccess::WithCredentials;
        }
        if self.fetch.iter().any(|r| r.admits(scheme, host)) {
            return MediaAccess::Anonymous;
        }
        let known = self
            .credentials
            .iter()
            .chain(&self.fetch)
            .any(|r| r.pattern.matches(host));
        MediaAccess::Refused(if known {
            format!("media from {host} is fetched over https only")
        } else {
            format!(
                "{host} is not a media host of this channel's provider \
                 (a channel may allow more hosts in settings.media_hosts)"
            )
        })
    }

    /// Whether `host` is one of the hosts given, credentials or not (for tests and messages).
    pub fn covers(&self, host: &str) -> bool {
        let patterns: Vec<HostPattern> = self
            .credentials
            .iter()
            .chain(&self.fetch)
            .map(|r| r.pattern.clone())
            .collect();
        host_allowed(&patterns, host)
    }
}

fn rule(host: &str, https_only: bool) -> Option<HostRule> {
    HostPattern::parse(host).ok().map(|pattern| HostRule {
        pattern,
        https_only,
    })
}

/// `https://user@host:port/path` -> `("https", "host")`; IPv6 keeps its brackets.
fn scheme_and_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some((scheme, host))
}

/// A channel's `settings.media_hosts`: host names, IP addresses or `*.domain` patterns. Absent
/// or `null` is none; anything else that is not a list of such strings is refused, naming the
/// entry at fault.
pub fn media_hosts_setting(settings: &Value) -> Result<Vec<HostPattern>, SettingsError> {
    const FIELD: &str = "settings.media_hosts";
    let list = match settings.get("media_hosts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(SettingsError::new(
                FIELD,
                "must be a list of hosts such as [\"media.example.com\", \"*.cdn.example.com\"]",
            ));
        }
    };
    if list.len() > 64 {
        return Err(SettingsError::new(FIELD, "at most 64 hosts"));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("{FIELD}[{i}]");
            let text = v
                .as_str()
                .ok_or_else(|| SettingsError::new(field.clone(), "must be a string"))?;
            HostPattern::parse(text).map_err(|e| SettingsError::new(field, e.to_string()))
        })
        .collect()
}

/// A `GET` of a URL with optional extra headers. Downloads are reads and safe to repeat; the
/// engine's download retries any failure, so the retry safety only matters to `execute`.
fn get(url: &str, headers: Vec<(String, String)>) -> Result<HttpRequest, BuildError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        || !url.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(BuildError::config(
            "url",
            "a media URL must be an http(s) URL without spaces",
        ));
    }
    Ok(HttpRequest {
        method: Method::Get,
        url: url.to_owned(),
        headers,
        body: Vec::new(),
        retry_safety: RetrySafety::NotIdempotent,
    })
}

/// A plain download (Messenger attachments, redirects to signed storage URLs).
pub fn download_request(url: &str) -> Result<HttpRequest, BuildError> {
    get(url, Vec::new())
}

/// Twilio: the media URL with the account's Basic credentials.
pub fn twilio_media_request(
    url: &str,
    account_sid: &str,
    auth_token: &str,
) -> Result<HttpRequest, BuildError> {
    let sid = header_token("account_sid", account_sid)?;
    let token = header_token("auth_token", auth_token)?;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"));
    get(
        url,
        vec![("Authorization".to_owned(), format!("Basic {credentials}"))],
    )
}

/// WhatsApp: where the file of `media_id` is (answered by [`parse_meta_media_info`]).
pub fn meta_media_info_request(
    endpoint: &GraphEndpoint,
    media_id: &str,
) -> Result<HttpRequest, BuildError> {
    let base = base_url("base_url", &endpoint.base_url)?;
    let version = path_segment("api_version", &endpoint.api_version)?;
    let id = path_segment("media_id", media_id)?;
    let token = header_token("access_token", &endpoint.access_token)?;
    get(
        &format!("{base}/{version}/{id}"),
        vec![
            ("Authorization".to_owned(), format!("Bearer {token}")),
            ("Accept".to_owned(), "application/json".to_owned()),
        ],
    )
}

/// WhatsApp: the file itself, from the URL the media lookup gave, with the bearer token.
pub fn meta_download_request(
    endpoint: &GraphEndpoint,
    url: &str,
) -> Result<HttpRequest, BuildError> {
    let token = header_token("access_token", &endpoint.access_token)?;
    get(
        url,
        vec![("Authorization".to_owned(), format!("Bearer {token}"))],
    )
}

/// What the Graph API says about a media id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetaMediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Bytes. Meta sends a number (older versions a string).
    #[serde(default, deserialize_with = "loose_u64")]
    pub file_size: Option<u64>,
}

fn loose_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Text(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Num(n)) => Some(n),
        Some(N::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// Why a media lookup answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the media lookup answer is unusable: {0}")]
pub struct MediaInfoError(pub String);

pub fn parse_meta_media_info(body: &[u8]) -> Result<MetaMediaInfo, MediaInfoError> {
    let info: MetaMediaInfo =
        serde_json::from_slice(body).map_err(|e| MediaInfoError(e.to_string()))?;
    if info.url.trim().is_empty() {
        return Err(MediaInfoError("no url".to_owned()));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_uses_basic_credentials() {
        let r = twilio_media_request(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            "AC1",
            "tok",
        )
        .unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.header("authorization"), Some("Basic QUMxOnRvaw=="));
        assert!(twilio_media_request("javascript:x", "AC1", "tok").is_err());
        assert!(twilio_media_request("https://x/y", "AC 1", "tok").is_err());
    }

    fn twilio_hosts(base_url: Option<&str>, own: &[&str]) -> MediaHosts {
        MediaHosts::default()
            .provider_api(TWILIO_API_HOSTS)
            .provider_storage(TWILIO_STORAGE_HOSTS)
            .configured_api(base_url)
            .configured(own.iter().map(|h| HostPattern::parse(h).unwrap()).collect())
    }

    #[test]
    fn credentials_go_only_to_provider_api_hosts() {
        let hosts = twilio_hosts(None, &["media.example.com"]);
        assert_eq!(
            hosts.access("https", "api.twilio.com"),
            MediaAccess::WithCredentials
        );
        assert_eq!(
            hosts.access("https", "api.dublin.ie1.twilio.com"),
            MediaAccess::WithCredentials
        );
        assert_eq!(
            hosts.access("https", "mms.twiliocdn.com"),
            MediaAccess::Anonymous
        );
        assert_eq!(
            hosts.access("https", "s3-external-1.amazonaws.com"),
            MediaAccess::Anonymous
        );
        assert_eq!(
            hosts.access("http", "media.example.com"),
            MediaAccess::Anonymous
        );
        for (scheme, host) in [
            ("https", "127.0.0.1"),
            ("https", "169.254.169.254"),
            ("https", "localhost"),
            ("https", "api.twilio.com.evil.example"),
            ("https", "eviltwilio.com"),
            ("http", "api.twilio.com"),
            ("http", "mms.twiliocdn.com"),
            ("file", "api.twilio.com"),
            ("gopher", "media.example.com"),
        ] {
            assert!(
                matches!(hosts.access(scheme, host), MediaAccess::Refused(_)),
                "{scheme}://{host}"
            );
        }
    }

    #[test]
    fn a_configured_base_url_is_an_api_host() {
        let hosts = twilio_hosts(Some("http://127.0.0.1:4010/base"), &[]);
        assert_eq!(
            hosts.access("http", "127.0.0.1"),
            MediaAccess::WithCredentials
        );
        assert!(matches!(
            hosts.access("http", "127.0.0.2"),
            MediaAccess::Refused(_)
        ));
        let https = twilio_hosts(Some("https://user@gw.example:8443"), &[]);
        assert_eq!(
            https.access("https", "gw.example"),
            MediaAccess::WithCredentials
        );
        assert!(matches!(
            https.access("http", "gw.example"),
            MediaAccess::Refused(_)
        ));
        let v6 = twilio_hosts(Some("http://[::1]:9/"), &[]);
        assert_eq!(v6.access("http", "[::1]"), MediaAccess::WithCredentials);
        assert!(v6.covers("::1"));
    }

    #[test]
    fn the_media_hosts_setting() {
        let read = |v: Value| media_hosts_setting(&serde_json::json!({ "media_hosts": v }));
        assert_eq!(read(Value::Null).unwrap(), vec![]);
        assert_eq!(media_hosts_setting(&serde_json::json!({})).unwrap(), vec![]);
        let ok = read(serde_json::json!([
            "media.example.com",
            "*.cdn.example.com",
            "10.0.0.5"
        ]))
        .unwrap();
        assert_eq!(ok.len(), 3);
        let e = read(serde_json::json!(["ok.example", "https://x.example/"])).unwrap_err();
        assert_eq!(e.field, "settings.media_hosts[1]");
        let e = read(serde_json::json!("media.example.com")).unwrap_err();
        assert_eq!(e.field, "settings.media_hosts");
        let e = read(serde_json::json!([1])).unwrap_err();
        assert_eq!(e.field, "settings.media_hosts[0]");
    }

    #[test]
    fn meta_lookup_then_download() {
        let endpoint = GraphEndpoint {
            base_url: "http://127.0.0.1:9/".into(),
            api_version: "v21.0".into(),
            access_token: "EAAG".into(),
        };
        let r = meta_media_info_request(&endpoint, "1479537139650973").unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/v21.0/1479537139650973");
        assert_eq!(r.header("Authorization"), Some("Bearer EAAG"));
        assert!(meta_media_info_request(&endpoint, "../x").is_err());
        let info = parse_meta_media_info(
            br#"{"url":"https://lookaside.fbsbx.com/x?mid=1","mime_type":"image/jpeg","sha256":"ab","file_size":"1234","id":"1","messaging_product":"whatsapp"}"#,
        )
        .unwrap();
        assert_eq!(info.file_size, Some(1234));
        assert_eq!(info.mime_type.as_deref(), Some("image/jpeg"));
        let d = meta_download_request(&endpoint, &info.url).unwrap();
        assert_eq!(d.header("authorization"), Some("Bearer EAAG"));
        assert!(parse_meta_media_info(br#"{"url":""}"#).is_err());
        assert!(parse_meta_media_info(b"nope").is_err());
    }
}
