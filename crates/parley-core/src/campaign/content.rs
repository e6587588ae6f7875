//! A campaign's message (issue 11, item 2): a text with merge fields, or an approved template
//! whose parameters may hold merge fields, rendered per recipient by a sandboxed minijinja
//! environment (no loader, no includes, a fuel limit). At save time [`Compiled::compile`] checks
//! the syntax and that every field exists; per recipient [`Compiled::render`] fills the values,
//! applies the fallback or the exclusion for a missing one, shortens the links with the
//! recipient's code ([`crate::campaign::links`]) and adds the footer.

use crate::campaign::audience::Member;
use crate::campaign::{Content, Footer};
use crate::model::ChannelKind;

/// The fields a campaign may use, besides `attributes.<name>` (any custom attribute).
pub const FIELDS: &[&str] = &[
    "contact.first_name",
    "contact.last_name",
    "contact.name",
    "contact.email",
    "contact.phone",
    "messaging_user.name",
    "messaging_user.platform_key",
    "messaging_user.locale",
    "channel.name",
];

/// The HELP prompt footer (CMP-02).
pub const HELP_FOOTER: &str = "Reply HELP for help, STOP to opt out.";

/// Why content cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("give either a text or a template")]
    TextXorTemplate,
    #[error("the text is empty")]
    Empty,
    #[error("{field}: {reason}")]
    Syntax { field: String, reason: String },
    #[error("{field}: there is no merge field '{name}'; use one of {known}")]
    UnknownField {
        field: String,
        name: String,
        known: String,
    },
    #[error("a fallback is given for '{0}', which the content does not use")]
    UnusedFallback(String),
}

/// Why one recipient's message was not rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A field had no value and the campaign excludes such recipients.
    #[error("no value for {0}")]
    Missing(String),
    /// The template ran out of fuel or failed otherwise (the recipient is counted as failed).
    #[error("{0}")]
    Failed(String),
}

/// What goes under every message, already decided for the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FooterLines {
    pub help: bool,
    /// The WhatsApp number's digits (`14150000000`), shown as `wa.me/<digits>` unless shortened.
    pub whatsapp_digits: Option<String>,
    pub shorten_whatsapp: bool,
    pub custom: Option<String>,
}

impl FooterLines {
    pub fn new(footer: &Footer, whatsapp_number: Option<&str>) -> Self {
        let _ = (footer, whatsapp_number);
        todo!()
    }
}

/// Where short links point: `{base}/l/{code}` (`base` is the operator's `public_url` or short
/// domain, never a public shortener: SMS-08).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase(pub String);

/// Content checked and compiled once per campaign, rendered once per recipient.
#[derive(Debug)]
pub struct Compiled {
    _private: (),
}

/// One recipient's message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// What the recipient reads (the template's text rendered, for a template).
    pub body: String,
    /// A template's parameters, rendered.
    pub parameters: Vec<String>,
    /// Fields that had no value and took their fallback.
    pub fell_back: Vec<String>,
}

impl Compiled {
    /// Checks and compiles `content` (and, for a template, its approved `template_body` with
    /// `{{1}}`-style placeholders). `links`: shorten the text's links on this base; `None` leaves
    /// them as written.
    pub fn compile(
        content: &Content,
        template_body: Option<&str>,
        footer: FooterLines,
        links: Option<LinkBase>,
    ) -> Result<Self, ContentError> {
        let _ = (content, template_body, footer, links);
        todo!()
    }

    /// The merge fields the content uses, each once.
    pub fn fields(&self) -> &[String] {
        todo!()
    }

    /// The links found in the text, in order (the short link `n` points to `links()[n]`), then
    /// the wa.me link when it is shortened.
    pub fn links(&self) -> &[String] {
        todo!()
    }

    /// Whether a recipient needs a link code (the content has links to shorten).
    pub fn needs_code(&self) -> bool {
        todo!()
    }

    /// The message for `member`, sent from `channel_name`, with `code` in its short links.
    pub fn render(
        &self,
        member: &Member,
        channel_name: &str,
        code: Option<&str>,
    ) -> Result<Rendered, RenderError> {
        let _ = (member, channel_name, code);
        todo!()
    }
}

/// The live preview's facts about a rendered text: its encoding and segments on SMS, and whether
/// the channel's length rule refuses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fit {
    pub characters: usize,
    /// `gsm7` or `ucs2` on SMS; `None` elsewhere.
    pub encoding: Option<String>,
    pub segments: Option<u32>,
    /// Why the channel would refuse it (too long), if it would.
    pub problem: Option<String>,
}

/// The facts of `body` on a channel of `kind` (from `crate::sms`).
pub fn fit(kind: ChannelKind, body: &str) -> Fit {
    let _ = (kind, body);
    todo!()
}
