//! Web chat deployments (WEB-03..19): what a website embeds, which pages may embed it, how the
//! window looks, the pre-chat form and the keys that verify a visitor's identity token. Rules only:
//! the store keeps these values, the engine fetches keys and checks signatures, the server speaks
//! HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

/// Languages the widget has labels for (WEB-07: the snippet must name a supported one).
pub const SUPPORTED_LANGUAGES: &[&str] = &["en", "fr"];
/// Standard pre-chat field names, the ones the console, routing and flows know without setup.
pub const STANDARD_PRECHAT_FIELDS: &[&str] = &["first_name", "last_name", "email", "subject"];
/// Longest pre-chat value, after trimming (WEB-12: string parameters have a maximum).
pub const PRECHAT_VALUE_MAX: usize = 255;
/// Most pre-chat fields a deployment may define; WEB-11 recommends 5-6 visible ones, and the rest
/// is headroom for hidden fields set by the website.
pub const PRECHAT_FIELDS_MAX: usize = 20;
/// Most origins in one deployment's allowlist.
pub const ORIGINS_MAX: usize = 100;
pub const TITLE_MAX: usize = 60;
pub const GREETING_MAX: usize = 500;
pub const LABEL_MAX: usize = 80;
pub const FIELD_NAME_MAX: usize = 40;
pub const NAME_MAX: usize = 64;
pub const URL_MAX: usize = 2048;
pub const ISSUER_MAX: usize = 255;
pub const KID_MAX: usize = 128;
/// Smallest RSA modulus accepted for identity keys (WEB-18).
pub const RSA_MIN_BITS: usize = 2048;

/// A deployment as stored: one embeddable chat window on a web channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebDeployment {
    pub id: Uuid,
    /// Slug, unique; used in the snippet and the widget URLs.
    pub name: String,
    /// A web channel; cannot change after creation (WEB-03).
    pub channel_id: Uuid,
    /// Pages allowed to embed the widget (WEB-09).
    pub origins: Vec<OriginPattern>,
    pub language: String,
    pub branding: Branding,
    pub settings: WidgetSettings,
    pub prechat: Prechat,
    /// `Some`: visitors must present an identity token signed by a key of this keyset (WEB-16).
    pub keyset_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebDeployment {
    pub fn spec(&self) -> WebDeploymentSpec {
        WebDeploymentSpec {
            name: self.name.clone(),
            channel_id: self.channel_id,
            origins: self.origins.clone(),
            language: self.language.clone(),
            branding: self.branding.clone(),
            settings: self.settings,
            prechat: self.prechat.clone(),
            keyset_id: self.keyset_id,
        }
    }

    pub fn verification_required(&self) -> bool {
        self.keyset_id.is_some()
    }
}

/// What a deployment is made from (create, update, `parley apply`), before it has an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebDeploymentSpec {
    pub name: String,
    pub channel_id: Uuid,
    pub origins: Vec<OriginPattern>,
    pub language: String,
    pub branding: Branding,
    pub settings: WidgetSettings,
    pub prechat: Prechat,
    pub keyset_id: Option<Uuid>,
}

impl WebDeploymentSpec {
    /// Checks every rule that does not need the database and returns the spec normalised
    /// (trimmed texts, lowercase color and language). Origins are already parsed by their type.
    pub fn validate(mut self) -> Result<Self, Vec<WebConfigError>> {
        let mut errors = Vec::new();
        match check_name(&self.name) {
            Ok(n) => self.name = n,
            Err(e) => errors.push(e),
        }
        match check_language(&self.language) {
            Ok(l) => self.language = l,
            Err(e) => errors.push(e),
        }
        if self.origins.len() > ORIGINS_MAX {
            errors.push(WebConfigError::new(
                "origins",
                format!("at most {ORIGINS_MAX} origins"),
            ));
        }
        let mut seen = BTreeSet::new();
        self.origins.retain(|o| seen.insert(o.to_string()));
        match std::mem::take(&mut self.branding).validate() {
            Ok(b) => self.branding = b,
            Err(mut e) => errors.append(&mut e),
        }
        match std::mem::take(&mut self.prechat).validate() {
            Ok(p) => self.prechat = p,
            Err(mut e) => errors.append(&mut e),
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// A configuration value that is not allowed, naming the field (`branding.color`,
/// `prechat.fields[2].name`) so a form or a workspace file can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WebConfigError {
    pub field: String,
    pub message: String,
}

impl WebConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Joins errors into one sentence for an API message.
pub fn describe(errors: &[WebConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A deployment name: it appears in URLs and the snippet, so a lowercase slug.
pub fn check_name(name: &str) -> Result<String, WebConfigError> {
    let name = name.trim();
    if is_slug(name, NAME_MAX) {
        Ok(name.to_owned())
    } else {
        Err(WebConfigError::new(
            "name",
            format!(
                "1-{NAME_MAX} lowercase letters, digits or '-' (not at either end), got '{name}'"
            ),
        ))
    }
}

/// A language code the widget supports, lowercased (WEB-07).
pub fn check_language(code: &str) -> Result<String, WebConfigError> {
    let code = code.trim().to_ascii_lowercase();
    if SUPPORTED_LANGUAGES.contains(&code.as_str()) {
        Ok(code)
    } else {
        Err(WebConfigError::new(
            "language",
            format!(
                "'{code}' is not a supported language; expected one of: {}",
                SUPPORTED_LANGUAGES.join(", ")
            ),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Origins (WEB-09)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// One entry of a deployment's allowlist: `https://shop.example.com`, `https://*.example.com`,
/// `http://localhost:8080`. Kept normalised (lowercase host, default port dropped) so two
/// spellings of one origin compare equal; written and read as that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginPattern {
    scheme: Scheme,
    /// Without the `*.` of a wildcard.
    host: String,
    /// Covers every subdomain of `host`, at any depth, but not `host` itself.
    wildcard: bool,
    /// `None`: the scheme's default port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("'{0}' has no scheme: write it as https://host or http://host")]
    MissingScheme(String),
    #[error("'{0}' must use http or https")]
    UnsupportedScheme(String),
    #[error("'{0}' has no host")]
    MissingHost(String),
    #[error("'{0}' has a path, query or fragment; an origin is only scheme, host and port")]
    HasPath(String),
    #[error("'{0}' has user information (user@); an origin is only scheme, host and port")]
    HasUserInfo(String),
    #[error(
        "'{0}': the wildcard is allowed only as '*.' in front of a domain with at least two \
         labels, e.g. https://*.example.com"
    )]
    BadWildcard(String),
    #[error("'{0}' has an invalid host: {1}")]
    BadHost(String, &'static str),
    #[error("'{0}' has an invalid port (1-65535)")]
    BadPort(String),
    #[error("origin is empty")]
    Empty,
}

impl OriginPattern {
    /// Parses one allowlist entry. A single trailing `/` is forgiven (people paste page URLs of
    /// a site's root); any other path is refused, since an origin has none.
    pub fn parse(s: &str) -> Result<Self, OriginError> {
        Self::parse_inner(s, true)
    }

    fn parse_inner(input: &str, allow_wildcard: bool) -> Result<Self, OriginError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(OriginError::Empty);
        }
        let own = || s.to_owned();
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(OriginError::MissingScheme(own()));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(OriginError::UnsupportedScheme(own())),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '\\']) {
            return Err(OriginError::HasPath(own()));
        }
        if rest.contains('@') {
            return Err(OriginError::HasUserInfo(own()));
        }
        if rest.is_empty() {
            return Err(OriginError::MissingHost(own()));
        }
        let (host, port) = split_port(rest).map_err(|()| OriginError::BadPort(own()))?;
        let port = port.filter(|p| *p != scheme.default_port());
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(h) if allow_wildcard => (true, h),
            Some(_) => return Err(OriginError::BadWildcard(own())),
            None => (false, host),
        };
        if host.is_empty() {
            return Err(OriginError::MissingHost(own()));
        }
        if host.contains('*') {
            return Err(OriginError::BadWildcard(own()));
        }
        let host = normalize_host(host).map_err(|why| OriginError::BadHost(own(), why))?;
        if wildcard && !is_registrable(&host) {
            return Err(OriginError::BadWildcard(own()));
        }
        Ok(Self {
            scheme,
            host,
            wildcard,
            port,
        })
    }

    /// Whether a browser's `Origin` header value is covered: exact scheme and port, and the
    /// host itself or, for a wildcard, any subdomain of it (never the bare domain).
    pub fn matches(&self, origin: &str) -> bool {
        match Self::parse_inner(origin, false) {
            Ok(o) => self.covers(&o),
            Err(_) => false,
        }
    }

    fn covers(&self, o: &OriginPattern) -> bool {
        if o.scheme != self.scheme || o.port != self.port {
            return false;
        }
        if self.wildcard {
            o.host.len() > self.host.len() + 1
                && o.host.ends_with(self.host.as_str())
                && o.host.as_bytes().get(o.host.len() - self.host.len() - 1) == Some(&b'.')
        } else {
            o.host == self.host
        }
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for OriginPattern {
    type Err = OriginError;
    fn from_str(s: &str) -> Result<Self, OriginError> {
        Self::parse(s)
    }
}

impl Serialize for OriginPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OriginPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether any pattern covers the origin (`false` for `null` or anything malformed).
pub fn origin_allowed(patterns: &[OriginPattern], origin: &str) -> bool {
    match OriginPattern::parse_inner(origin, false) {
        Ok(o) => patterns.iter().any(|p| p.covers(&o)),
        Err(_) => false,
    }
}

/// Parses an allowlist given one origin per entry, with every bad entry reported by its
/// position (`origins[2]: ...`), so a form can mark the lines.
pub fn parse_origins<S: AsRef<str>>(
    lines: &[S],
) -> Result<Vec<OriginPattern>, Vec<WebConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match OriginPattern::parse(line.as_ref()) {
            Ok(o) => out.push(o),
            Err(e) => errors.push(WebConfigError::new(format!("origins[{i}]"), e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn split_port(rest: &str) -> Result<(&str, Option<u16>), ()> {
    // A bracketed IPv6 literal holds colons of its own.
    let colon = if rest.starts_with('[') {
        let close = rest.find(']').ok_or(())?;
        match rest.get(close + 1..) {
            Some("") => None,
            Some(after) if after.starts_with(':') => Some(close + 1),
            _ => return Err(()),
        }
    } else {
        rest.rfind(':')
    };
    let Some(colon) = colon else {
        return Ok((rest, None));
    };
    let (host, port) = (
        rest.get(..colon).ok_or(())?,
        rest.get(colon + 1..).ok_or(())?,
    );
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host, Some(p))),
        _ => Err(()),
    }
}

fn normalize_host(host: &str) -> Result<String, &'static str> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| format!("[{ip}]"))
            .map_err(|_| "not an IPv6 address");
    }
    if !host.is_ascii() {
        return Err("write international names in their xn-- (punycode) form");
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.len() > 253 {
        return Err("longer than 253 characters");
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label has 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
    }
    Ok(host)
}

/// A domain a wildcard may stand in front of: at least a second-level name under an alphabetic
/// top-level label (`example.com`), not a bare TLD nor an IP address.
fn is_registrable(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

// ---------------------------------------------------------------------------------------------
// Branding and settings (WEB-04, WEB-05)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    pub title: String,
    /// `#rrggbb`.
    pub color: String,
    /// An image by URL (WEB-05); 40 x 40 px is what the window shows.
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub greeting: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            title: "Chat with us".to_owned(),
            color: "#2563eb".to_owned(),
            avatar_url: None,
            greeting: String::new(),
        }
    }
}

impl Branding {
    pub fn validate(mut self) -> Result<Self, Vec<WebConfigError>> {
        let mut errors = Vec::new();
        self.title = self.title.trim().to_owned();
        let n = self.title.chars().count();
        if n == 0 || n > TITLE_MAX || self.title.chars().any(char::is_control) {
            errors.push(WebConfigError::new(
                "branding.title",
                format!("1-{TITLE_MAX} characters on one line"),
            ));
        }
        self.greeting = self.greeting.trim().to_owned();
        if self.greeting.chars().count() > GREETING_MAX
            || self
                .greeting
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r')
        {
            errors.push(WebConfigError::new(
                "branding.greeting",
                format!("at most {GREETING_MAX} characters"),
            ));
        }
        match check_color(&self.color) {
            Some(c) => self.color = c,
            None => errors.push(WebConfigError::new(
                "branding.color",
                format!("a color is #rrggbb, got '{}'", self.color),
            )),
        }
        self.avatar_url = optional_http_url(self.avatar_url, "branding.avatar_url", &mut errors);
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// `#rrggbb`, lowercased.
pub fn check_color(s: &str) -> Option<String> {
    let s = s.trim();
    let hex = s.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// An optional http(s) URL: trimmed, empty as none, anything else checked (an error names
/// `field`).
fn optional_http_url(
    url: Option<String>,
    field: &str,
    errors: &mut Vec<WebConfigError>,
) -> Option<String> {
    let url = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if let Some(u) = &url
        && let Err(why) = check_http_url(u)
    {
        errors.push(WebConfigError::new(field, why));
    }
    url
}

/// An absolute http(s) URL with a host and nothing that could break out of an attribute or a
/// CSS value where the widget places it.
pub fn check_http_url(url: &str) -> Result<(), String> {
    if url.len() > URL_MAX {
        return Err(format!("at most {URL_MAX} characters"));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
    {
        return Err("a URL has no spaces, quotes or angle brackets".to_owned());
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("an http or https URL, got '{url}'"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("'{url}' has no host"));
    }
    Ok(())
}

/// The window's options (WEB-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetSettings {
    /// Show delivery and read receipts.
    #[serde(default = "yes")]
    pub receipts: bool,
    /// Show typing indicators.
    #[serde(default = "yes")]
    pub typing: bool,
    /// Show the emoji picker.
    #[serde(default = "yes")]
    pub emoji: bool,
    /// Enter inserts a new line instead of sending (the default is that Enter sends).
    #[serde(default)]
    pub enter_inserts_newline: bool,
}

fn yes() -> bool {
    true
}

impl Default for WidgetSettings {
    fn default() -> Self {
        Self {
            receipts: true,
            typing: true,
            emoji: true,
            enter_inserts_newline: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-chat (WEB-11, WEB-12)

crate::wire_enum! {
    /// The type of a pre-chat field; hidden fields are always `text`.
    pub enum PrechatKind: "pre-chat field kind" {
        Text = "text",
        Email = "email",
        Phone = "phone",
        Number = "number",
        Checkbox = "checkbox",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrechatField {
    /// `first_name`, `last_name`, `email`, `subject`, or any other `[a-z][a-z0-9_]*`; routing
    /// sees it as `prechat.<name>` and flows as a field of that name.
    pub name: String,
    /// What the form shows; hidden fields are not shown, so theirs may be empty.
    #[serde(default)]
    pub label: String,
    pub kind: PrechatKind,
    #[serde(default)]
    pub required: bool,
    /// Set by the website (`Parley.setHiddenFields`), never shown nor asked for.
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prechat {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub fields: Vec<PrechatField>,
}

fn is_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= FIELD_NAME_MAX
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Prechat {
    /// The form's own rules (WEB-11): valid unique names (one namespace for hidden and visible
    /// fields), hidden fields text only and never required, visible fields labelled.
    pub fn validate(mut self) -> Result<Self, Vec<WebConfigError>> {
        let mut errors = Vec::new();
        if self.fields.len() > PRECHAT_FIELDS_MAX {
            errors.push(WebConfigError::new(
                "prechat.fields",
                format!("at most {PRECHAT_FIELDS_MAX} fields"),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, f) in self.fields.iter_mut().enumerate() {
            let at = |what: &str| format!("prechat.fields[{i}].{what}");
            f.name = f.name.trim().to_owned();
            f.label = f.label.trim().to_owned();
            if !is_field_name(&f.name) {
                errors.push(WebConfigError::new(
                    at("name"),
                    format!(
                        "a field name is a lowercase letter then letters, digits or '_' (at most \
                         {FIELD_NAME_MAX}), got '{}'",
                        f.name
                    ),
                ));
            } else if !names.insert(f.name.clone()) {
                errors.push(WebConfigError::new(
                    at("name"),
                    format!(
                        "'{}' is used twice; hidden and visible fields share one set of names",
                        f.name
                    ),
                ));
            }
            if f.hidden && f.kind != PrechatKind::Text {
                errors.push(WebConfigError::new(at("kind"), "a hidden field is text"));
            }
            if f.hidden && f.required {
                errors.push(WebConfigError::new(
                    at("required"),
                    "a hidden field cannot be required",
                ));
            }
            let label_len = f.label.chars().count();
            if (!f.hidden && label_len == 0)
                || label_len > LABEL_MAX
                || f.label.chars().any(char::is_control)
            {
                errors.push(WebConfigError::new(
                    at("label"),
                    format!("a visible field has a label of 1-{LABEL_MAX} characters"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    pub fn field(&self, name: &str) -> Option<&PrechatField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A submitted pre-chat value that is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PrechatError {
    #[error("{field}: not a pre-chat field of this deployment")]
    Unknown { field: String },
    #[error("{field}: required")]
    Missing { field: String },
    #[error("{field}: at most {PRECHAT_VALUE_MAX} characters")]
    TooLong { field: String },
    #[error("{field}: {expected}")]
    Invalid {
        field: String,
        expected: &'static str,
    },
}

impl PrechatError {
    pub fn field(&self) -> &str {
        match self {
            Self::Unknown { field }
            | Self::Missing { field }
            | Self::TooLong { field }
            | Self::Invalid { field, .. } => field,
        }
    }
}

/// Checks what a visitor (visible fields) and the website (hidden fields) submitted, and returns
/// every value as a string (WEB-12): trimmed, empty ones dropped, checkboxes `"true"`/`"false"`
/// (an unticked checkbox is `"false"` whether sent or not). Every problem is reported at once.
pub fn check_prechat(
    prechat: &Prechat,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<PrechatError>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, raw) in values {
        let Some(field) = prechat.field(name).filter(|_| prechat.enabled) else {
            errors.push(PrechatError::Unknown {
                field: name.clone(),
            });
            continue;
        };
        let value = raw.trim();
        if value.chars().count() > PRECHAT_VALUE_MAX {
            errors.push(PrechatError::TooLong {
                field: name.clone(),
            });
            continue;
        }
        if value.is_empty() {
            continue;
        }
        match normalize_value(field.kind, value) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(expected) => errors.push(PrechatError::Invalid {
                field: name.clone(),
                expected,
            }),
        }
    }
    if prechat.enabled {
        for f in &prechat.fields {
            let present = out.get(&f.name);
            if f.kind == PrechatKind::Checkbox {
                if present.is_none() && !errors.iter().any(|e| e.field() == f.name) {
                    out.insert(f.name.clone(), "false".to_owned());
                }
                if f.required && !f.hidden && out.get(&f.name).is_some_and(|v| v == "false") {
                    errors.push(PrechatError::Missing {
                        field: f.name.clone(),
                    });
                }
            } else if f.required
                && !f.hidden
                && present.is_none()
                && !errors.iter().any(|e| e.field() == f.name)
            {
                errors.push(PrechatError::Missing {
                    field: f.name.clone(),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn normalize_value(kind: PrechatKind, v: &str) -> Result<String, &'static str> {
    match kind {
        PrechatKind::Text => {
            if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                Err("text without control characters")
            } else {
                Ok(v.to_owned())
            }
        }
        PrechatKind::Email => {
            if is_email(v) {
                Ok(v.to_owned())
            } else {
                Err("an email address such as name@example.com")
            }
        }
        PrechatKind::Phone => {
            let digits = v.bytes().filter(u8::is_ascii_digit).count();
            let shape = v.bytes().all(|b| {
                b.is_ascii_digit() || matches!(b, b'+' | b'-' | b' ' | b'(' | b')' | b'.')
            }) && v.bytes().skip(1).all(|b| b != b'+');
            if shape && (5..=20).contains(&digits) {
                Ok(v.to_owned())
            } else {
                Err("a phone number: digits, spaces, + - ( ) and 5 to 20 digits")
            }
        }
        PrechatKind::Number => {
            let unsigned = v.strip_prefix('-').unwrap_or(v);
            let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
            let ok = !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit());
            if ok {
                Ok(v.to_owned())
            } else {
                Err("a number such as 42 or -3.5")
            }
        }
        PrechatKind::Checkbox => match v.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok("true".to_owned()),
            "false" | "off" | "no" | "0" => Ok("false".to_owned()),
            _ => Err("true or false"),
        },
    }
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    v.len() <= 254
        && !local.is_empty()
        && !local.contains('@')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

// ---------------------------------------------------------------------------------------------
// Keysets and keys (WEB-17, WEB-18)

/// The keys that sign visitors' identity tokens for one website (WEB-17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyset {
    pub id: Uuid,
    pub name: String,
    /// Must equal the token's `iss`.
    pub issuer: String,
    /// `Some`: the keys are fetched from this JWKS endpoint rather than uploaded.
    pub jwks_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysetSpec {
    pub name: String,
    pub issuer: String,
    #[serde(default)]
    pub jwks_url: Option<String>,
}

impl KeysetSpec {
    pub fn validate(mut self) -> Result<Self, Vec<WebConfigError>> {
        let mut errors = Vec::new();
        self.name = self.name.trim().to_owned();
        let n = self.name.chars().count();
        if n == 0 || n > NAME_MAX || self.name.chars().any(char::is_control) {
            errors.push(WebConfigError::new(
                "name",
                format!("1-{NAME_MAX} characters"),
            ));
        }
        self.issuer = self.issuer.trim().to_owned();
        let n = self.issuer.chars().count();
        if n == 0 || n > ISSUER_MAX || self.issuer.chars().any(char::is_control) {
            errors.push(WebConfigError::new(
                "issuer",
                format!("1-{ISSUER_MAX} characters, equal to the tokens' iss"),
            ));
        }
        self.jwks_url = optional_http_url(self.jwks_url, "jwks_url", &mut errors);
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

crate::wire_enum! {
    /// The signature algorithms accepted for identity tokens; HMAC and `none` never are.
    pub enum JwkAlg: "key algorithm" {
        Rs256 = "RS256",
        Es256 = "ES256",
    }
}

/// A public key as uploaded, checked, with the JSON kept as given (minus nothing: a private
/// key is refused rather than trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kid: String,
    pub alg: JwkAlg,
    /// The JWK object itself.
    pub jwk: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("upload one key per upload, as a JSON object, not an array")]
    Array,
    #[error("a key is a JSON object (a JWK)")]
    NotAnObject,
    #[error("{0}: missing or not a string")]
    Missing(&'static str),
    #[error("kty: '{0}' is not supported; use RSA or EC")]
    UnsupportedKty(String),
    #[error("alg: '{0}' is not allowed; use RS256 for an RSA key or ES256 for a P-256 key")]
    UnsupportedAlg(String),
    #[error("alg: {alg} does not go with kty {kty}")]
    AlgMismatch { alg: String, kty: String },
    #[error("crv: '{0}' is not supported; use P-256")]
    UnsupportedCurve(String),
    #[error("kid: 1-{KID_MAX} printable characters")]
    BadKid,
    #[error("{0}: not base64url")]
    BadEncoding(&'static str),
    #[error("n: an RSA key needs at least {RSA_MIN_BITS} bits, this one has {0}")]
    RsaTooSmall(usize),
    #[error("{0}: not a valid P-256 coordinate (32 bytes)")]
    BadCoordinate(&'static str),
    #[error("this is a private key ({0} is present): upload the public key only")]
    PrivateKey(&'static str),
    #[error("use: '{0}' is not 'sig'")]
    NotForSignatures(String),
}

fn text<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    key: &'static str,
) -> Result<&'a str, JwkError> {
    obj.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or(JwkError::Missing(key))
}

fn b64url(value: &str, field: &'static str) -> Result<Vec<u8>, JwkError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| JwkError::BadEncoding(field))
}

/// Checks one uploaded JWK (WEB-18): an object (not an array: one key per upload), `kty` RSA or
/// EC on P-256, `kid` present, `alg` RS256 or ES256 matching the key type, an RSA modulus of at
/// least 2048 bits, and no private parameters.
pub fn check_jwk(value: &serde_json::Value) -> Result<PublicJwk, JwkError> {
    let obj = match value {
        serde_json::Value::Object(o) => o,
        serde_json::Value::Array(_) => return Err(JwkError::Array),
        _ => return Err(JwkError::NotAnObject),
    };
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if obj.contains_key(private) {
            return Err(JwkError::PrivateKey(private));
        }
    }
    if let Some(u) = obj.get("use").and_then(serde_json::Value::as_str)
        && u != "sig"
    {
        return Err(JwkError::NotForSignatures(u.to_owned()));
    }
    let kid = text(obj, "kid")?;
    if kid.is_empty() || kid.len() > KID_MAX || kid.chars().any(char::is_control) {
        return Err(JwkError::BadKid);
    }
    let kty = text(obj, "kty")?;
    let alg_text = text(obj, "alg")?;
    let alg: JwkAlg = alg_text
        .parse()
        .map_err(|_| JwkError::UnsupportedAlg(alg_text.to_owned()))?;
    match kty {
        "RSA" => {
            if alg != JwkAlg::Rs256 {
                return Err(JwkError::AlgMismatch {
                    alg: alg_text.to_owned(),
                    kty: kty.to_owned(),
                });
            }
            let n = b64url(text(obj, "n")?, "n")?;
            let e = b64url(text(obj, "e")?, "e")?;
            if e.is_empty() || e.iter().all(|b| *b == 0) {
                return Err(JwkError::BadEncoding("e"));
            }
            let bits = modulus_bits(&n);
            if bits < RSA_MIN_BITS {
                return Err(JwkError::RsaTooSmall(bits));
            }
        }
        "EC" => {
            if alg != JwkAlg::Es256 {
                return Err(JwkError::AlgMismatch {
                    alg: alg_text.to_owned(),
                    kty: kty.to_owned(),
                });
            }
            let crv = text(obj, "crv")?;
            if crv != "P-256" {
                return Err(JwkError::UnsupportedCurve(crv.to_owned()));
            }
            for coord in ["x", "y"] {
                if b64url(text(obj, coord)?, coord)?.len() != 32 {
                    return Err(JwkError::BadCoordinate(coord));
                }
            }
        }
        other => return Err(JwkError::UnsupportedKty(other.to_owned())),
    }
    Ok(PublicJwk {
        kid: kid.to_owned(),
        alg,
        jwk: value.clone(),
    })
}

/// Bits in a big-endian unsigned integer, leading zero bytes ignored.
fn modulus_bits(n: &[u8]) -> usize {
    let n: &[u8] = match n.iter().position(|b| *b != 0) {
        Some(i) => n.get(i..).unwrap_or_default(),
        None => return 0,
    };
    let lead = n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
    (n.len() - 1) * 8 + lead
}

/// Pre-chat values as routing and flows see them: `prechat.<name>`.
pub fn prechat_field_key(name: &str) -> String {
    format!("prechat.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn o(s: &str) -> OriginPattern {
        OriginPattern::parse(s).unwrap()
    }

    #[test]
    fn origin_patterns_parse_per_web_09() {
        for ok in [
            "https://example.com",
            "https://*.example.com",
            "http://localhost:8080",
            "http://127.0.0.1:3001",
            "https://shop.example.co.uk/",
            "HTTPS://Shop.Example.COM:8443",
            "http://[::1]:8080",
        ] {
            assert!(OriginPattern::parse(ok).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("example.com", "no scheme"),
            ("ftp://example.com", "http or https"),
            ("https://", "no host"),
            ("https://*.com", "wildcard"),
            ("https://*", "wildcard"),
            ("https://*.", "host"),
            ("https://a.*.com", "wildcard"),
            ("https://*example.com", "wildcard"),
            ("https://ex*ample.com", "wildcard"),
            ("https://*.127.0.0.1", "wildcard"),
            ("https://example.com/shop", "path"),
            ("https://example.com?x=1", "path"),
            ("https://user@example.com", "user"),
            ("https://example.com:0", "port"),
            ("https://example.com:70000", "port"),
            ("https://example.com:", "port"),
            ("https://exa mple.com", "host"),
            ("https://-bad.com", "host"),
            ("https://bücher.de", "punycode"),
            ("", "empty"),
        ] {
            let err = OriginPattern::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            o("HTTPS://Shop.Example.COM:443/").to_string(),
            "https://shop.example.com"
        );
        assert_eq!(o("http://x.org:80").to_string(), "http://x.org");
        assert_eq!(o("https://x.org:80").to_string(), "https://x.org:80");
        assert_eq!(
            o("https://*.Example.com").to_string(),
            "https://*.example.com"
        );
        let back: OriginPattern =
            serde_json::from_value(serde_json::to_value(o("https://*.a.com:8443")).unwrap())
                .unwrap();
        assert_eq!(back, o("https://*.a.com:8443"));
        assert!(serde_json::from_value::<OriginPattern>(json!("https://*.com")).is_err());
    }

    #[test]
    fn matching_is_exact_on_scheme_host_and_port() {
        let p = o("https://shop.example.com");
        assert!(p.matches("https://shop.example.com"));
        assert!(p.matches("https://shop.example.com:443"));
        assert!(!p.matches("http://shop.example.com"));
        assert!(!p.matches("https://shop.example.com:8443"));
        assert!(!p.matches("https://a.shop.example.com"));
        assert!(!p.matches("https://example.com"));
        assert!(!p.matches("https://shop.example.com.evil.io"));
        assert!(!p.matches("null"));
        assert!(!p.matches(""));
    }

    #[test]
    fn wildcards_cover_subdomains_at_any_depth_but_not_the_bare_domain() {
        let p = o("https://*.example.com");
        assert!(p.matches("https://a.example.com"));
        assert!(p.matches("https://a.b.c.example.com"));
        assert!(!p.matches("https://example.com"));
        assert!(!p.matches("https://badexample.com"));
        assert!(!p.matches("https://a.example.com:8443"));
        assert!(!p.matches("http://a.example.com"));
        assert!(!p.matches("https://*.example.com"));
        let both = [o("https://*.example.com"), o("https://example.com")];
        assert!(origin_allowed(&both, "https://example.com"));
        assert!(origin_allowed(&both, "https://www.example.com"));
        assert!(!origin_allowed(&both, "https://example.org"));
        assert!(!origin_allowed(&[], "https://example.com"));
    }

    #[test]
    fn origin_lines_report_their_position() {
        let errs = parse_origins(&["https://ok.com", "nope", "https://*.com"]).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].field, "origins[1]");
        assert_eq!(errs[1].field, "origins[2]");
    }

    fn spec() -> WebDeploymentSpec {
        WebDeploymentSpec {
            name: "shop".into(),
            channel_id: Uuid::nil(),
            origins: vec![o("https://shop.example.com")],
            language: "en".into(),
            branding: Branding::default(),
            settings: WidgetSettings::default(),
            prechat: Prechat::default(),
            keyset_id: None,
        }
    }

    fn field(name: &str, kind: PrechatKind, required: bool, hidden: bool) -> PrechatField {
        PrechatField {
            name: name.into(),
            label: if hidden { String::new() } else { name.into() },
            kind,
            required,
            hidden,
        }
    }

    #[test]
    fn deployment_spec_rules() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.name = "Shop Site".into();
        s.language = "de".into();
        s.branding.color = "red".into();
        s.branding.title = " ".into();
        s.branding.avatar_url = Some("javascript:alert(1)".into());
        let fields: Vec<String> = s
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "language",
                "branding.title",
                "branding.color",
                "branding.avatar_url"
            ]
        );
        let mut s = spec();
        s.language = " FR ".into();
        s.branding.color = "#AABBCC".into();
        s.branding.avatar_url = Some(" ".into());
        s.origins.push(o("https://SHOP.example.com"));
        let v = s.validate().unwrap();
        assert_eq!(v.language, "fr");
        assert_eq!(v.branding.color, "#aabbcc");
        assert_eq!(v.branding.avatar_url, None);
        assert_eq!(v.origins.len(), 1);
    }

    #[test]
    fn prechat_form_rules() {
        let p = Prechat {
            enabled: true,
            fields: vec![
                field("email", PrechatKind::Email, true, false),
                field("cart_total", PrechatKind::Text, false, true),
            ],
        };
        assert!(p.clone().validate().is_ok());
        let bad = Prechat {
            enabled: true,
            fields: vec![
                field("email", PrechatKind::Email, true, false),
                field("email", PrechatKind::Text, false, true),
                field("plan", PrechatKind::Number, false, true),
                field("vip", PrechatKind::Text, true, true),
                field("Bad-Name", PrechatKind::Text, false, false),
                field("nolabel", PrechatKind::Text, false, false),
            ],
        };
        let mut bad = bad;
        bad.fields[5].label = String::new();
        let errs = bad.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "prechat.fields[1].name",
                "prechat.fields[2].kind",
                "prechat.fields[3].required",
                "prechat.fields[4].name",
                "prechat.fields[5].label"
            ]
        );
    }

    fn form() -> Prechat {
        Prechat {
            enabled: true,
            fields: vec![
                field("first_name", PrechatKind::Text, true, false),
                field("email", PrechatKind::Email, true, false),
                field("phone", PrechatKind::Phone, false, false),
                field("seats", PrechatKind::Number, false, false),
                field("terms", PrechatKind::Checkbox, true, false),
                field("news", PrechatKind::Checkbox, false, false),
                field("cart_total", PrechatKind::Text, false, true),
            ],
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn prechat_values_are_checked_and_normalised_to_strings() {
        let got = check_prechat(
            &form(),
            &values(&[
                ("first_name", " Ada "),
                ("email", "ada@example.com"),
                ("phone", "+44 20 7946 0958"),
                ("seats", "-3.5"),
                ("terms", "on"),
                ("cart_total", "42.10"),
            ]),
        )
        .unwrap();
        assert_eq!(
            got,
            values(&[
                ("first_name", "Ada"),
                ("email", "ada@example.com"),
                ("phone", "+44 20 7946 0958"),
                ("seats", "-3.5"),
                ("terms", "true"),
                ("news", "false"),
                ("cart_total", "42.10"),
            ])
        );
    }

    #[test]
    fn prechat_values_report_every_problem() {
        let long = "x".repeat(PRECHAT_VALUE_MAX + 1);
        let errs = check_prechat(
            &form(),
            &values(&[
                ("email", "not-an-email"),
                ("phone", "call me"),
                ("seats", "1e9"),
                ("terms", "false"),
                ("cart_total", &long),
                ("coupon", "X"),
            ]),
        )
        .unwrap_err();
        let mut got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        got.sort();
        let joined = got.join("|");
        for want in [
            "email: an email",
            "phone: a phone",
            "seats: a number",
            "terms: required",
            "first_name: required",
            "cart_total: at most 255",
            "coupon: not a pre-chat field",
        ] {
            assert!(joined.contains(want), "{want} in {joined}");
        }
        let json = serde_json::to_value(&errs[0]).unwrap();
        assert!(json.get("code").is_some() && json.get("field").is_some());
    }

    #[test]
    fn disabled_prechat_takes_no_values() {
        let mut p = form();
        p.enabled = false;
        assert_eq!(
            check_prechat(&p, &BTreeMap::new()).unwrap(),
            BTreeMap::new()
        );
        assert!(check_prechat(&p, &values(&[("first_name", "A")])).is_err());
    }

    #[test]
    fn languages() {
        assert_eq!(check_language("en").unwrap(), "en");
        assert!(check_language("de").unwrap_err().message.contains("en, fr"));
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa_jwk(bits: usize) -> serde_json::Value {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc1;
        json!({"kty": "RSA", "kid": "k1", "alg": "RS256", "n": b64(&n), "e": "AQAB", "use": "sig"})
    }

    #[test]
    fn jwk_rules_per_web_18() {
        assert_eq!(check_jwk(&rsa_jwk(2048)).unwrap().alg, JwkAlg::Rs256);
        assert_eq!(
            check_jwk(&rsa_jwk(1024)).unwrap_err(),
            JwkError::RsaTooSmall(1024)
        );
        assert_eq!(
            check_jwk(&json!([rsa_jwk(2048)])).unwrap_err(),
            JwkError::Array
        );
        let ec = json!({"kty": "EC", "kid": "e1", "alg": "ES256", "crv": "P-256",
                        "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        assert_eq!(check_jwk(&ec).unwrap().alg, JwkAlg::Es256);
        let mut wrong = ec.clone();
        wrong["alg"] = json!("RS256");
        assert!(matches!(
            check_jwk(&wrong),
            Err(JwkError::AlgMismatch { .. })
        ));
        let mut hs = rsa_jwk(2048);
        hs["alg"] = json!("HS256");
        assert!(matches!(check_jwk(&hs), Err(JwkError::UnsupportedAlg(_))));
        let mut nokid = rsa_jwk(2048);
        nokid.as_object_mut().unwrap().remove("kid");
        assert_eq!(check_jwk(&nokid).unwrap_err(), JwkError::Missing("kid"));
        let mut private = rsa_jwk(2048);
        private["d"] = json!("AQAB");
        assert_eq!(check_jwk(&private).unwrap_err(), JwkError::PrivateKey("d"));
        let mut oct = rsa_jwk(2048);
        oct["kty"] = json!("oct");
        assert!(matches!(check_jwk(&oct), Err(JwkError::UnsupportedKty(_))));
        let mut crv = ec;
        crv["crv"] = json!("P-384");
        assert!(matches!(
            check_jwk(&crv),
            Err(JwkError::UnsupportedCurve(_))
        ));
    }

    #[test]
    fn modulus_bits_ignore_leading_zeros() {
        assert_eq!(modulus_bits(&[0, 0, 0x01, 0]), 9);
        assert_eq!(modulus_bits(&[0x80]), 8);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn keyset_rules() {
        let ok = KeysetSpec {
            name: " Shop ".into(),
            issuer: "https://shop.example.com".into(),
            jwks_url: Some("".into()),
        };
        let v = ok.validate().unwrap();
        assert_eq!(v.name, "Shop");
        assert_eq!(v.jwks_url, None);
        let bad = KeysetSpec {
            name: String::new(),
            issuer: String::new(),
            jwks_url: Some("file:///etc/passwd".into()),
        };
        assert_eq!(bad.validate().unwrap_err().len(), 3);
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,8}".prop_filter("no dash at the end", |s| !s.ends_with('-'))
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_display_round_trips(s in "\\PC{0,60}") {
            if let Ok(p) = OriginPattern::parse(&s) {
                prop_assert_eq!(OriginPattern::parse(&p.to_string()).unwrap(), p);
            }
        }

        #[test]
        fn wildcard_covers_exactly_the_strict_subdomains(
            sub in proptest::collection::vec(label(), 0..4),
            base in proptest::collection::vec(label(), 1..3),
            tld in "[a-z]{2,6}",
            port in proptest::option::of(1u16..),
        ) {
            let domain = format!("{}.{tld}", base.join("."));
            let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
            let pattern = o(&format!("https://*.{domain}{port_part}"));
            let host = if sub.is_empty() { domain.clone() } else { format!("{}.{domain}", sub.join(".")) };
            let origin = format!("https://{host}{port_part}");
            prop_assert_eq!(pattern.matches(&origin), !sub.is_empty());
            let exact = o(&format!("https://{domain}{port_part}"));
            prop_assert_eq!(exact.matches(&origin), sub.is_empty());
            let other_scheme = format!("http://{host}{port_part}");
            prop_assert!(!pattern.matches(&other_scheme));
        }

        #[test]
        fn an_origin_matches_its_own_exact_pattern(
            host in proptest::collection::vec(label(), 1..4),
            https in any::<bool>(),
            port in proptest::option::of(1u16..),
        ) {
            let scheme = if https { "https" } else { "http" };
            let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
            let origin = format!("{scheme}://{}{port_part}", host.join("."));
            prop_assert!(o(&origin).matches(&origin));
        }

        #[test]
        fn prechat_check_never_panics(
            vals in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,300}", 0..8),
        ) {
            match check_prechat(&form(), &vals) {
                Ok(out) => {
                    for (k, v) in &out {
                        prop_assert!(form().field(k).is_some());
                        prop_assert!(v.chars().count() <= PRECHAT_VALUE_MAX);
                    }
                    prop_assert!(out.contains_key("first_name") && out.contains_key("email"));
                }
                Err(errs) => prop_assert!(!errs.is_empty()),
            }
        }
    }
}
