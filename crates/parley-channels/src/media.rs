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

use base64::Engine as _;
use serde::Deserialize;

use crate::http::{
    BuildError, HttpRequest, Method, RetrySafety, base_url, header_token, path_segment,
};
use crate::meta::send::GraphEndpoint;

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
