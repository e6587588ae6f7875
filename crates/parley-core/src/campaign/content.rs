//! A campaign's message (issue 11, item 2): a text with merge fields, or an approved template
//! whose parameters may hold merge fields, rendered per recipient by a sandboxed minijinja
//! environment (no loader, no includes, a fuel limit). At save time [`Compiled::compile`] checks
//! the syntax and that every field exists; per recipient [`Compiled::render`] fills the values,
//! applies the fallback or the exclusion for a missing one, shortens the links with the
//! recipient's code ([`crate::campaign::links`]) and adds the footer.
//!
//! Decisions the doc comments leave open, taken as a marketer using Braze, Attentive or Twilio
//! would expect:
//! - The syntax is minijinja's (`{{ contact.first_name }}`, filters such as `| upper`, `{% if %}`);
//!   no function or global exists, so `range()` or `namespace()` are unknown fields. Auto-escape
//!   is off: an SMS is not HTML, and `O'Brien & Co` must arrive as written.
//! - A field is missing when the recipient has no value or only whitespace (an attribute that is
//!   `null`, an empty string or an empty list counts as missing too). Custom attributes keep their
//!   JSON type (numbers and booleans work in `{% if attributes.points > 100 %}`).
//! - Spec fields are named as JSON paths of the content: `text`, `template`,
//!   `template.parameters[0]` (counted from 0, like the array they index).
//! - Links are shortened in the text and in a template's parameters, never in the approved
//!   template text itself (changing it would no longer be the text Meta approved). A link that
//!   contains or touches a merge field (`https://shop.example/?u={{ contact.email }}`) differs per
//!   recipient, so it has no single target and stays as written. The same URL written twice is one
//!   link with one short link.
//! - The footer follows the body after one line break (none when the body already ends with one),
//!   its lines in the order HELP prompt, wa.me link, custom text, each on its own line. A template
//!   message gets no footer: its text is exactly what was approved.
//! - A template's parameter that renders empty (a missing value with an empty fallback) would be
//!   refused by WhatsApp, so that recipient's render fails.
//! - Rendering is bounded: a fuel limit on instructions, a recursion limit, and a cap on the text
//!   produced.

use std::sync::Arc;

use minijinja::value::{Object, Value};

use crate::campaign::audience::Member;
use crate::campaign::{Content, Footer, MissingValues};
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
    /// `whatsapp_number`: the E.164 number of the footer's WhatsApp channel, when it has one.
    pub fn new(footer: &Footer, whatsapp_number: Option<&str>) -> Self {
        let whatsapp_digits = footer
            .whatsapp_channel_id
            .and(whatsapp_number)
            .map(|n| n.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| !d.is_empty());
        Self {
            help: footer.help,
            shorten_whatsapp: footer.shorten_whatsapp && whatsapp_digits.is_some(),
            whatsapp_digits,
            custom: footer
                .custom
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        }
    }

    fn is_empty(&self) -> bool {
        !self.help && self.whatsapp_digits.is_none() && self.custom.is_none()
    }
}

/// The wa.me footer line's words before the link.
const WHATSAPP_FOOTER: &str = "Chat with us on WhatsApp: ";

/// Where short links point: `{base}/l/{code}` (`base` is the operator's `public_url` or short
/// domain, never a public shortener: SMS-08).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase(pub String);

/// Content checked and compiled once per campaign, rendered once per recipient.
#[derive(Debug)]
pub struct Compiled {
    env: minijinja::Environment<'static>,
    /// The names of the templates in `env`: the text, or each parameter in order.
    parts: Vec<String>,
    /// The approved text of a template message; `None` for a text message.
    template_body: Option<String>,
    is_template: bool,
    fields: Vec<String>,
    /// How to read each of `fields`, in the same order.
    used: Vec<UsedField>,
    missing: MissingValues,
    links: Vec<String>,
    base: Option<String>,
    footer: FooterLines,
}

/// One merge field the content uses: where its value lives and its fallback.
#[derive(Debug)]
struct UsedField {
    source: FieldSource,
    /// The namespace object it is found in (`contact`, `messaging_user`, `channel`, `attributes`).
    namespace: usize,
    /// Its name inside the namespace.
    key: Arc<str>,
    fallback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldSource {
    FirstName,
    LastName,
    Name,
    Email,
    Phone,
    UserName,
    PlatformKey,
    Locale,
    ChannelName,
    Attribute(String),
}

const NAMESPACES: [&str; 4] = ["contact", "messaging_user", "channel", "attributes"];

/// Instructions one render may run: far more than any real message needs (a text with a dozen
/// fields and an `if` uses under a hundred), few enough that a loop cannot stall an expansion.
const FUEL: u64 = 5_000;

/// The most bytes one rendered part may have; every channel refuses far less (WhatsApp 4,096
/// characters), so this only stops a runaway template early.
const MAX_RENDERED_BYTES: usize = 64 * 1024;

/// The variable a shortened link is rendered from (`{{ __link3 }}`); the double underscore keeps
/// it apart from any field a marketer could write, which the field check refuses anyway.
const LINK_VAR: &str = "__link";

/// Whether `name` is a merge field the content may use.
fn resolve(name: &str) -> Option<(FieldSource, usize, &str)> {
    let known = match name {
        "contact.first_name" => (FieldSource::FirstName, 0),
        "contact.last_name" => (FieldSource::LastName, 0),
        "contact.name" => (FieldSource::Name, 0),
        "contact.email" => (FieldSource::Email, 0),
        "contact.phone" => (FieldSource::Phone, 0),
        "messaging_user.name" => (FieldSource::UserName, 1),
        "messaging_user.platform_key" => (FieldSource::PlatformKey, 1),
        "messaging_user.locale" => (FieldSource::Locale, 1),
        "channel.name" => (FieldSource::ChannelName, 2),
        other => {
            let attr = other.strip_prefix("attributes.")?;
            let valid = (1..=64).contains(&attr.len())
                && attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return valid.then(|| (FieldSource::Attribute(attr.to_owned()), 3, attr));
        }
    };
    let key = name.split_once('.').map_or(name, |(_, k)| k);
    Some((known.0, known.1, key))
}

fn known_fields() -> String {
    let mut known = FIELDS.join(", ");
    known.push_str(", attributes.<name>");
    known
}

/// The byte ranges of the template tags (`{{ }}`, `{% %}`, `{# #}`) in `source`.
fn tag_ranges(source: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = source
        .get(from..)
        .and_then(|r| r.find('{'))
        .map(|i| i + from)
    {
        let close = match source.as_bytes().get(at + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                from = at + 1;
                continue;
            }
        };
        let mut end = source
            .get(at + 2..)
            .and_then(|r| r.find(close))
            .map_or(source.len(), |i| at + 2 + i + 2);
        let inner = source
            .get(at + 2..end.saturating_sub(2))
            .unwrap_or_default();
        if close == "%}" && inner.trim_matches(['-', '+', ' ', '\t', '\n']) == "raw" {
            // What a raw block holds is printed as written, so a link in it cannot become a
            // variable: the whole block counts as one tag.
            end = source
                .get(end..)
                .and_then(|r| r.find("endraw"))
                .and_then(|i| {
                    let after = end + i;
                    source.get(after..)?.find("%}").map(|j| after + j + 2)
                })
                .unwrap_or(source.len());
        }
        out.push((at, end));
        from = end;
    }
    out
}

/// The context one render reads: the four namespaces and the links.
#[derive(Debug)]
struct Context {
    namespaces: [Value; 4],
    links: Vec<Value>,
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        if let Some(i) = NAMESPACES.iter().position(|n| *n == key) {
            return self.namespaces.get(i).cloned();
        }
        let n: usize = key.strip_prefix(LINK_VAR)?.parse().ok()?;
        self.links.get(n).cloned()
    }
}

/// One namespace's values: only the fields the content uses, so a render fills a few slots.
#[derive(Debug)]
struct Namespace(Vec<(Arc<str>, Value)>);

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v.clone())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

fn text_value(s: Option<&str>) -> Option<Value> {
    s.filter(|v| !v.trim().is_empty()).map(Value::from)
}

fn attribute_value(v: Option<&serde_json::Value>) -> Option<Value> {
    use serde_json::Value as J;
    match v? {
        J::Null => None,
        J::String(s) => text_value(Some(s)),
        J::Bool(b) => Some(Value::from(*b)),
        J::Number(n) => Some(if let Some(i) = n.as_i64() {
            Value::from(i)
        } else if let Some(u) = n.as_u64() {
            Value::from(u)
        } else {
            Value::from(n.as_f64().unwrap_or_default())
        }),
        J::Array(a) if a.is_empty() => None,
        J::Object(o) if o.is_empty() => None,
        other => Some(Value::from(other.to_string())),
    }
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
        let mut env = minijinja::Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(32);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| ContentError::Syntax {
                field: "text".into(),
                reason: e.to_string(),
            })?;
        env.set_syntax(syntax);

        // (template name, spec field, source)
        let sources: Vec<(String, String, &str)> = match (&content.text, &content.template) {
            (Some(text), None) => {
                if text.trim().is_empty() {
                    return Err(ContentError::Empty);
                }
                vec![("text".into(), "text".into(), text.as_str())]
            }
            (None, Some(t)) => {
                if let Some(body) = template_body {
                    let expected = crate::template::placeholder_count(body).map_err(|e| {
                        ContentError::Syntax {
                            field: "template".into(),
                            reason: e.to_string(),
                        }
                    })?;
                    if expected != t.parameters.len() {
                        return Err(ContentError::Syntax {
                            field: "template.parameters".into(),
                            reason: crate::template::TemplateError::WrongCount {
                                expected,
                                given: t.parameters.len(),
                            }
                            .to_string(),
                        });
                    }
                }
                let mut parts = Vec::with_capacity(t.parameters.len());
                for (i, p) in t.parameters.iter().enumerate() {
                    let field = format!("template.parameters[{i}]");
                    if p.trim().is_empty() {
                        return Err(ContentError::Syntax {
                            field,
                            reason: "the parameter is empty".into(),
                        });
                    }
                    parts.push((format!("p{i}"), field, p.as_str()));
                }
                parts
            }
            _ => return Err(ContentError::TextXorTemplate),
        };

        let mut found: Vec<(usize, String, UsedField, usize)> = Vec::new();
        for (part_index, (name, field, source)) in sources.iter().enumerate() {
            env.add_template_owned(name.clone(), (*source).to_owned())
                .map_err(|e| ContentError::Syntax {
                    field: field.clone(),
                    reason: e.to_string(),
                })?;
            let tmpl = env.get_template(name).map_err(|e| ContentError::Syntax {
                field: field.clone(),
                reason: e.to_string(),
            })?;
            let mut names: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
            // The first use in the text first, so errors and `fields()` read in the text's order.
            names.sort_by_key(|n| (source.find(n.as_str()).unwrap_or(usize::MAX), n.clone()));
            for n in names {
                let Some((src, namespace, key)) = resolve(&n) else {
                    return Err(ContentError::UnknownField {
                        field: field.clone(),
                        name: n,
                        known: known_fields(),
                    });
                };
                if found.iter().any(|(_, f, _, _)| *f == n) {
                    continue;
                }
                let used = UsedField {
                    source: src,
                    namespace,
                    key: Arc::from(key),
                    fallback: content.fallbacks.get(&n).cloned(),
                };
                let pos = source.find(n.as_str()).unwrap_or(usize::MAX);
                found.push((part_index, n, used, pos));
            }
        }
        if let Some(unused) = content
            .fallbacks
            .keys()
            .find(|k| !found.iter().any(|(_, f, _, _)| f == *k))
        {
            return Err(ContentError::UnusedFallback(unused.clone()));
        }
        found.sort_by_key(|(part, _, _, pos)| (*part, *pos));
        let (fields, used): (Vec<String>, Vec<UsedField>) =
            found.into_iter().map(|(_, f, u, _)| (f, u)).unzip();

        // Shorten links: each one written in a part's raw text becomes a variable filled per
        // recipient.
        let base = links.map(|b| b.0.trim_end_matches('/').to_owned());
        let mut link_targets: Vec<String> = Vec::new();
        if base.is_some() {
            for (name, field, source) in &sources {
                let tags = tag_ranges(source);
                let mut rewritten = String::with_capacity(source.len());
                let mut last = 0;
                let mut changed = false;
                for f in super::links::find(source) {
                    if tags.iter().any(|(s, e)| f.start < *e && *s < f.end) {
                        continue;
                    }
                    let index = match link_targets.iter().position(|l| *l == f.url) {
                        Some(i) => i,
                        None => {
                            link_targets.push(f.url.clone());
                            link_targets.len() - 1
                        }
                    };
                    rewritten.push_str(source.get(last..f.start).unwrap_or_default());
                    rewritten.push_str(&format!("{{{{ {LINK_VAR}{index} }}}}"));
                    last = f.end;
                    changed = true;
                }
                if changed {
                    rewritten.push_str(source.get(last..).unwrap_or_default());
                    env.add_template_owned(name.clone(), rewritten)
                        .map_err(|e| ContentError::Syntax {
                            field: field.clone(),
                            reason: e.to_string(),
                        })?;
                }
            }
        }
        let is_template = content.template.is_some();
        if let (Some(_), Some(digits), true, false) = (
            &base,
            &footer.whatsapp_digits,
            footer.shorten_whatsapp,
            is_template,
        ) {
            link_targets.push(format!("https://wa.me/{digits}"));
        }

        Ok(Self {
            env,
            parts: sources.into_iter().map(|(n, _, _)| n).collect(),
            template_body: template_body.filter(|_| is_template).map(str::to_owned),
            is_template,
            fields,
            used,
            missing: content.missing.clone(),
            links: link_targets,
            base,
            footer,
        })
    }

    /// The merge fields the content uses, each once.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The links found in the text, in order (the short link `n` points to `links()[n]`), then
    /// the wa.me link when it is shortened. Empty without a [`LinkBase`]: nothing is shortened.
    pub fn links(&self) -> &[String] {
        &self.links
    }

    /// Whether a recipient needs a link code (the content has links to shorten).
    pub fn needs_code(&self) -> bool {
        !self.links.is_empty()
    }

    /// The message for `member`, sent from `channel_name`, with `code` in its short links.
    pub fn render(
        &self,
        member: &Member,
        channel_name: &str,
        code: Option<&str>,
    ) -> Result<Rendered, RenderError> {
        let mut fell_back = Vec::new();
        let mut namespaces: [Vec<(Arc<str>, Value)>; 4] = Default::default();
        for (field, used) in self.fields.iter().zip(&self.used) {
            let value = match &used.source {
                FieldSource::FirstName => text_value(member.first_name.as_deref()),
                FieldSource::LastName => text_value(member.last_name.as_deref()),
                FieldSource::Name => {
                    let name = crate::merge::full_name(
                        member.first_name.as_deref().unwrap_or_default(),
                        member.last_name.as_deref().unwrap_or_default(),
                    );
                    (!name.is_empty()).then(|| Value::from(name))
                }
                FieldSource::Email => text_value(member.email.as_deref()),
                FieldSource::Phone => text_value(member.phone.as_deref()),
                FieldSource::UserName => text_value(Some(&member.name)),
                FieldSource::PlatformKey => text_value(Some(&member.platform_key)),
                FieldSource::Locale => text_value(member.locale.as_deref()),
                FieldSource::ChannelName => text_value(Some(channel_name)),
                FieldSource::Attribute(name) => attribute_value(member.attributes.get(name)),
            };
            let value = match (value, &self.missing) {
                (Some(v), _) => v,
                (None, MissingValues::Exclude) => return Err(RenderError::Missing(field.clone())),
                (None, MissingValues::Fallback) => {
                    fell_back.push(field.clone());
                    Value::from(used.fallback.as_deref().unwrap_or_default())
                }
            };
            if let Some(ns) = namespaces.get_mut(used.namespace) {
                ns.push((used.key.clone(), value));
            }
        }
        let short = |index: usize, written: &str| match (&self.base, code) {
            (Some(base), Some(code)) => super::links::short_url(base, code, index),
            _ => written.to_owned(),
        };
        let links = self
            .links
            .iter()
            .enumerate()
            .map(|(i, url)| Value::from(short(i, url)))
            .collect();
        let ctx = Value::from_object(Context {
            // A namespace the content does not use is never looked up: no object for it.
            namespaces: namespaces.map(|ns| {
                if ns.is_empty() {
                    Value::UNDEFINED
                } else {
                    Value::from_object(Namespace(ns))
                }
            }),
            links,
        });

        let mut rendered = Vec::with_capacity(self.parts.len());
        for name in &self.parts {
            let text = self
                .env
                .get_template(name)
                .and_then(|t| t.render(ctx.clone()))
                .map_err(|e| RenderError::Failed(e.to_string()))?;
            if text.len() > MAX_RENDERED_BYTES {
                return Err(RenderError::Failed(format!(
                    "the rendered message is longer than {MAX_RENDERED_BYTES} bytes"
                )));
            }
            rendered.push(text);
        }

        if self.is_template {
            let body = match &self.template_body {
                Some(body) => crate::template::render(body, &rendered)
                    .map_err(|e| RenderError::Failed(e.to_string()))?,
                None => {
                    crate::template::check_values(&rendered)
                        .map_err(|e| RenderError::Failed(e.to_string()))?;
                    String::new()
                }
            };
            return Ok(Rendered {
                body,
                parameters: rendered,
                fell_back,
            });
        }
        let mut body = rendered.into_iter().next().unwrap_or_default();
        if !self.footer.is_empty() {
            if !body.ends_with('\n') {
                body.push('\n');
            }
            // Lines go straight into the body: this runs once per recipient.
            let mut first = true;
            let mut line = |body: &mut String, text: &str| {
                if !first {
                    body.push('\n');
                }
                first = false;
                body.push_str(text);
            };
            if self.footer.help {
                line(&mut body, HELP_FOOTER);
            }
            if let Some(digits) = &self.footer.whatsapp_digits {
                let written = format!("wa.me/{digits}");
                let link = if self.footer.shorten_whatsapp && !self.links.is_empty() {
                    short(self.links.len() - 1, &written)
                } else {
                    written
                };
                line(&mut body, WHATSAPP_FOOTER);
                body.push_str(&link);
            }
            if let Some(custom) = &self.footer.custom {
                line(&mut body, custom);
            }
        }
        Ok(Rendered {
            body,
            parameters: Vec::new(),
            fell_back,
        })
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
    let problem = crate::sms::check_length(kind, body)
        .err()
        .map(|e| e.to_string());
    match kind {
        ChannelKind::Sms => {
            let a = crate::sms::analyze(body);
            Fit {
                characters: a.characters,
                encoding: Some(a.encoding.as_str().to_owned()),
                segments: Some(u32::try_from(a.segments).unwrap_or(u32::MAX)),
                problem,
            }
        }
        ChannelKind::Whatsapp | ChannelKind::Messenger | ChannelKind::Web => Fit {
            characters: body.chars().count(),
            encoding: None,
            segments: None,
            problem,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{Footer, TemplateContent};
    use std::collections::BTreeMap;

    fn text(t: &str) -> Content {
        Content {
            text: Some(t.to_owned()),
            template: None,
            missing: MissingValues::Fallback,
            fallbacks: BTreeMap::new(),
        }
    }

    fn template(params: &[&str]) -> Content {
        Content {
            text: None,
            template: Some(TemplateContent {
                name: "promo".into(),
                language: "en".into(),
                parameters: params.iter().map(|p| (*p).to_owned()).collect(),
            }),
            missing: MissingValues::Fallback,
            fallbacks: BTreeMap::new(),
        }
    }

    fn member() -> Member {
        let mut attributes = serde_json::Map::new();
        attributes.insert("points".into(), serde_json::json!(120));
        attributes.insert("tier".into(), serde_json::json!("Gold"));
        attributes.insert("vip".into(), serde_json::json!(false));
        attributes.insert("blank".into(), serde_json::json!("  "));
        attributes.insert("nothing".into(), serde_json::Value::Null);
        Member {
            platform_key: "+14155550100".into(),
            name: "Zoë on SMS".into(),
            first_name: Some("Zoë".into()),
            last_name: Some("O'Brien & <Co>".into()),
            email: Some("zoe@example.com".into()),
            locale: Some("en-GB".into()),
            attributes,
            ..Member::default()
        }
    }

    fn compile(c: &Content) -> Result<Compiled, ContentError> {
        Compiled::compile(c, None, FooterLines::default(), None)
    }

    fn body(c: &Content, m: &Member) -> String {
        compile(c)
            .unwrap()
            .render(m, "Acme SMS", None)
            .unwrap()
            .body
    }

    #[test]
    fn fields_render_without_escaping() {
        let c = text(
            "Hi {{contact.first_name}} {{ contact.last_name }}! {{ contact.name }}, {{contact.email}} \
             {{ messaging_user.name }} {{messaging_user.platform_key}} {{ messaging_user.locale }} \
             {{ channel.name }} {{ attributes.tier | upper }} {{ attributes.points + 1 }}",
        );
        assert_eq!(
            body(&c, &member()),
            "Hi Zoë O'Brien & <Co>! Zoë O'Brien & <Co>, zoe@example.com Zoë on SMS +14155550100 \
             en-GB Acme SMS GOLD 121"
        );
        assert_eq!(
            compile(&c).unwrap().fields(),
            [
                "contact.first_name",
                "contact.last_name",
                "contact.name",
                "contact.email",
                "messaging_user.name",
                "messaging_user.platform_key",
                "messaging_user.locale",
                "channel.name",
                "attributes.tier",
                "attributes.points",
            ]
        );
    }

    #[test]
    fn control_flow_and_typed_attributes() {
        let c = text(
            "{% if attributes.points > 100 %}Gold{% else %}Silver{% endif %}{% if attributes.vip %}!{% endif %}\n",
        );
        assert_eq!(body(&c, &member()), "Gold\n", "a trailing newline is kept");
        assert_eq!(
            compile(&c).unwrap().fields(),
            ["attributes.points", "attributes.vip"]
        );
    }

    #[test]
    fn values_are_not_templates() {
        let mut m = member();
        m.first_name = Some("{{ contact.email }}".into());
        assert_eq!(
            body(&text("{{ contact.first_name }}"), &m),
            "{{ contact.email }}"
        );
    }

    #[test]
    fn save_time_checks() {
        assert_eq!(compile(&text("  \n")).unwrap_err(), ContentError::Empty);
        let mut both = text("x");
        both.template = template(&[]).template;
        assert_eq!(compile(&both).unwrap_err(), ContentError::TextXorTemplate);
        let mut neither = text("x");
        neither.text = None;
        assert_eq!(
            compile(&neither).unwrap_err(),
            ContentError::TextXorTemplate
        );

        let e = compile(&text("Hi {{ contact.frist_name }}")).unwrap_err();
        assert!(
            matches!(&e, ContentError::UnknownField { field, name, known }
                if field == "text" && name == "contact.frist_name" && known.contains("contact.first_name")),
            "{e:?}"
        );
        for bad in [
            "{{ contact }}",
            "{{ agent.name }}",
            "{{ attributes.a-b }}",
            "{{ attributes.a.b }}",
            "{{ range(3) }}",
            "{{ contact['first_name'] }}",
        ] {
            assert!(
                matches!(compile(&text(bad)), Err(ContentError::UnknownField { .. })),
                "{bad}"
            );
        }
        let long = format!("{{{{ attributes.{} }}}}", "a".repeat(65));
        assert!(matches!(
            compile(&text(&long)),
            Err(ContentError::UnknownField { .. })
        ));
        let ok = format!("{{{{ attributes.{} }}}}", "a".repeat(64));
        assert!(compile(&text(&ok)).is_ok());

        for bad in [
            "Hi {{ contact.first_name",
            "{% if %}",
            "{{ contact.first_name | }}",
        ] {
            assert!(
                matches!(compile(&text(bad)), Err(ContentError::Syntax { field, .. }) if field == "text"),
                "{bad}"
            );
        }
        let e = compile(&template(&["ok", "{{ nope }}"])).unwrap_err();
        assert!(
            matches!(&e, ContentError::UnknownField { field, .. } if field == "template.parameters[1]"),
            "{e:?}"
        );
        let e = compile(&template(&["{{ contact.first_name "])).unwrap_err();
        assert!(
            matches!(&e, ContentError::Syntax { field, .. } if field == "template.parameters[0]"),
            "{e:?}"
        );
    }

    #[test]
    fn fallbacks_must_be_for_used_fields() {
        let mut c = text("Hi {{ contact.first_name }}");
        c.fallbacks
            .insert("contact.first_name".into(), "there".into());
        assert!(compile(&c).is_ok());
        c.fallbacks.insert("contact.last_name".into(), "x".into());
        assert_eq!(
            compile(&c).unwrap_err(),
            ContentError::UnusedFallback("contact.last_name".into())
        );
    }

    #[test]
    fn missing_values_fall_back_or_exclude() {
        let mut c = text(
            "Hi {{ contact.first_name }}{{ attributes.blank }}{{ attributes.nothing }}{{ attributes.absent }}, {{ contact.phone }}!",
        );
        c.fallbacks
            .insert("contact.first_name".into(), "there".into());
        let mut m = member();
        m.first_name = Some("   ".into());
        let r = compile(&c).unwrap().render(&m, "c", None).unwrap();
        assert_eq!(r.body, "Hi there, !");
        assert_eq!(
            r.fell_back,
            [
                "contact.first_name",
                "attributes.blank",
                "attributes.nothing",
                "attributes.absent",
                "contact.phone"
            ]
        );
        // Nothing missing: nothing fell back.
        let r = compile(&text("{{ contact.first_name }}"))
            .unwrap()
            .render(&member(), "c", None)
            .unwrap();
        assert!(r.fell_back.is_empty());

        c.missing = MissingValues::Exclude;
        assert_eq!(
            compile(&c).unwrap().render(&m, "c", None),
            Err(RenderError::Missing("contact.first_name".into()))
        );
        m.first_name = None;
        m.last_name = None;
        let mut name = text("{{ contact.name }}");
        name.missing = MissingValues::Exclude;
        assert_eq!(
            compile(&name).unwrap().render(&m, "c", None),
            Err(RenderError::Missing("contact.name".into()))
        );
        m.last_name = Some("Lee".into());
        assert_eq!(body(&name, &m), "Lee");
    }

    #[test]
    fn fuel_stops_runaway_templates() {
        let c = text(
            "{% for i in [1,2,3,4,5,6,7,8,9,10] %}{% for j in [1,2,3,4,5,6,7,8,9,10] %}{% for k in [1,2,3,4,5,6,7,8,9,10] %}{% for l in [1,2,3,4,5,6,7,8,9,10] %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
        );
        let r = compile(&c).unwrap().render(&member(), "c", None);
        assert!(matches!(r, Err(RenderError::Failed(_))), "{r:?}");
    }

    #[test]
    fn links_are_shortened_per_recipient() {
        let c = text(
            "Sale at https://shop.example/sale?x=1. Again: https://shop.example/sale?x=1 \
             and (https://other.example/p) but not https://shop.example/?u={{ contact.email }}",
        );
        let compiled = Compiled::compile(
            &c,
            None,
            FooterLines::default(),
            Some(LinkBase("https://go.acme.example/".into())),
        )
        .unwrap();
        assert_eq!(
            compiled.links(),
            ["https://shop.example/sale?x=1", "https://other.example/p"]
        );
        assert!(compiled.needs_code());
        assert_eq!(compiled.fields(), ["contact.email"]);
        let r = compiled.render(&member(), "c", Some("abcDEF123")).unwrap();
        assert_eq!(
            r.body,
            "Sale at https://go.acme.example/l/abcDEF123. Again: https://go.acme.example/l/abcDEF123 \
             and (https://go.acme.example/l/abcDEF1231) but not https://shop.example/?u=zoe@example.com"
        );
        // No code: the links stay as written.
        let r = compiled.render(&member(), "c", None).unwrap();
        assert!(
            r.body
                .starts_with("Sale at https://shop.example/sale?x=1. Again")
        );

        // Without a base nothing is shortened.
        let plain = compile(&c).unwrap();
        assert!(plain.links().is_empty());
        assert!(!plain.needs_code());
        assert!(
            plain
                .render(&member(), "c", Some("abcDEF123"))
                .unwrap()
                .body
                .contains("https://other.example/p")
        );
        // A link in a raw block is printed as written.
        let c = text("{% raw %}https://a.example {{ x }}{% endraw %} https://b.example");
        let compiled = Compiled::compile(
            &c,
            None,
            FooterLines::default(),
            Some(LinkBase("https://s".into())),
        )
        .unwrap();
        assert_eq!(compiled.links(), ["https://b.example"]);
        assert_eq!(
            compiled
                .render(&member(), "c", Some("abcDEF123"))
                .unwrap()
                .body,
            "https://a.example {{ x }} https://s/l/abcDEF123"
        );
        // A link inside an expression is the marketer's own business.
        let c = text("{{ 'https://a.example' }} x");
        let compiled = Compiled::compile(
            &c,
            None,
            FooterLines::default(),
            Some(LinkBase("https://s".into())),
        )
        .unwrap();
        assert!(compiled.links().is_empty());
        assert_eq!(
            compiled
                .render(&member(), "c", Some("abcDEF123"))
                .unwrap()
                .body,
            "https://a.example x"
        );
    }

    fn footer(help: bool, wa: bool, shorten: bool, custom: Option<&str>) -> FooterLines {
        let f = Footer {
            help,
            whatsapp_channel_id: wa.then(uuid::Uuid::nil),
            shorten_whatsapp: shorten,
            custom: custom.map(str::to_owned),
        };
        FooterLines::new(&f, Some("+1 415-000-0000"))
    }

    #[test]
    fn footer_lines() {
        let f = footer(true, true, false, Some("  Acme Inc.  "));
        assert_eq!(f.whatsapp_digits.as_deref(), Some("14150000000"));
        assert_eq!(f.custom.as_deref(), Some("Acme Inc."));
        let c = text("Sale today.");
        let r = Compiled::compile(&c, None, f, None)
            .unwrap()
            .render(&member(), "c", None)
            .unwrap();
        assert_eq!(
            r.body,
            "Sale today.\nReply HELP for help, STOP to opt out.\nChat with us on WhatsApp: wa.me/14150000000\nAcme Inc."
        );
        let r = Compiled::compile(
            &text("Sale.\n"),
            None,
            footer(true, false, false, Some(" ")),
            None,
        )
        .unwrap()
        .render(&member(), "c", None)
        .unwrap();
        assert_eq!(r.body, "Sale.\nReply HELP for help, STOP to opt out.");
        // No channel: no wa.me line even when a number is given.
        assert_eq!(footer(false, false, true, None), FooterLines::default());
        assert_eq!(
            FooterLines::new(&Footer::default(), None),
            FooterLines::default()
        );
    }

    #[test]
    fn the_wa_me_footer_is_the_last_short_link() {
        let c = text("See https://shop.example/x");
        let compiled = Compiled::compile(
            &c,
            None,
            footer(false, true, true, None),
            Some(LinkBase("https://go.example".into())),
        )
        .unwrap();
        assert_eq!(
            compiled.links(),
            ["https://shop.example/x", "https://wa.me/14150000000"]
        );
        let r = compiled.render(&member(), "c", Some("abcDEF123")).unwrap();
        assert_eq!(
            r.body,
            "See https://go.example/l/abcDEF123\nChat with us on WhatsApp: https://go.example/l/abcDEF1231"
        );
        // Shortening asked without a base: shown as written, no code needed.
        let compiled =
            Compiled::compile(&text("Hi"), None, footer(false, true, true, None), None).unwrap();
        assert!(!compiled.needs_code());
        assert_eq!(
            compiled
                .render(&member(), "c", Some("abcDEF123"))
                .unwrap()
                .body,
            "Hi\nChat with us on WhatsApp: wa.me/14150000000"
        );
    }

    #[test]
    fn templates_render_their_parameters_into_the_approved_text() {
        let c = template(&["{{ contact.first_name }}", "{{ attributes.points }} points"]);
        let body = "Hi {{1}}, you have {{2}}. Visit https://acme.example";
        let compiled = Compiled::compile(
            &c,
            Some(body),
            footer(true, false, false, None),
            Some(LinkBase("https://go.example".into())),
        )
        .unwrap();
        assert!(!compiled.needs_code(), "the approved text is not changed");
        let r = compiled.render(&member(), "c", Some("abcDEF123")).unwrap();
        assert_eq!(r.parameters, ["Zoë", "120 points"]);
        assert_eq!(
            r.body,
            "Hi Zoë, you have 120 points. Visit https://acme.example"
        );

        assert!(matches!(
            Compiled::compile(&c, Some("Hi {{1}}"), FooterLines::default(), None),
            Err(ContentError::Syntax { field, .. }) if field == "template.parameters"
        ));
        assert!(matches!(
            Compiled::compile(&c, Some("Hi {{1}} {{3}}"), FooterLines::default(), None),
            Err(ContentError::Syntax { field, .. }) if field == "template"
        ));
        assert!(matches!(
            compile(&template(&[" "])),
            Err(ContentError::Syntax { field, .. }) if field == "template.parameters[0]"
        ));
        // A parameter that renders empty cannot be sent.
        let mut m = member();
        m.first_name = None;
        let r = Compiled::compile(&c, Some(body), FooterLines::default(), None)
            .unwrap()
            .render(&m, "c", None);
        assert!(matches!(r, Err(RenderError::Failed(_))), "{r:?}");

        // Links in parameters are shortened.
        let c = template(&[
            "https://acme.example/{{ attributes.tier }}",
            "https://acme.example/x",
        ]);
        let compiled = Compiled::compile(
            &c,
            Some("{{1}} {{2}}"),
            FooterLines::default(),
            Some(LinkBase("https://go.example".into())),
        )
        .unwrap();
        assert_eq!(compiled.links(), ["https://acme.example/x"]);
        let r = compiled.render(&member(), "c", Some("abcDEF123")).unwrap();
        assert_eq!(
            r.parameters,
            [
                "https://acme.example/Gold",
                "https://go.example/l/abcDEF123"
            ]
        );
    }

    #[test]
    fn fit_on_each_channel() {
        let f = fit(ChannelKind::Sms, "Hello");
        assert_eq!(
            f,
            Fit {
                characters: 5,
                encoding: Some("gsm7".into()),
                segments: Some(1),
                problem: None
            }
        );
        let f = fit(ChannelKind::Sms, &"é😀".repeat(40));
        assert_eq!(f.encoding.as_deref(), Some("ucs2"));
        assert_eq!(f.segments, Some(2));
        let f = fit(ChannelKind::Sms, &"😀".repeat(300));
        assert!(f.problem.is_some());
        let f = fit(ChannelKind::Whatsapp, &"x".repeat(4097));
        assert_eq!((f.characters, f.encoding, f.segments), (4097, None, None));
        assert!(f.problem.is_some());
        assert!(fit(ChannelKind::Whatsapp, "hi").problem.is_none());
    }

    #[test]
    fn compiled_content_is_shared_across_tasks() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<Compiled>();
    }

    #[test]
    fn render_cost() {
        // A rough figure for the benchmark's budget, printed only (no timing assertion).
        let c = text("Hi {{ contact.first_name }}, 20% off today: https://shop.example/sale");
        let compiled = Compiled::compile(
            &c,
            None,
            footer(true, false, false, None),
            Some(LinkBase("https://go.example".into())),
        )
        .unwrap();
        let m = member();
        let n = 20_000;
        compiled.render(&m, "c", Some("abcDEF123")).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..n {
            let r = compiled.render(&m, "c", Some("abcDEF123")).unwrap();
            assert!(!r.body.is_empty());
        }
        println!("render: {:?} per recipient", start.elapsed() / n);
    }

    proptest::proptest! {
        #[test]
        fn any_text_compiles_or_is_refused_without_panic(t in "[a-z {}%#.|_()'\"]{0,40}") {
            if let Ok(c) = compile(&text(&t)) {
                let _ = c.render(&member(), "c", None);
            }
        }

        #[test]
        fn shortening_links_never_breaks_content(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "https://a.example/x", "http://b.example", " ", "\n", ".", "(", ")", "'", "\"",
                "{{ contact.first_name }}", "{% if attributes.vip %}", "{% endif %}",
                "{% raw %}", "{% endraw %}", "{{ 'https://c.example' }}", "hi", "{#", "#}",
            ]), 0..12),
        ) {
            let t: String = pieces.concat();
            if let Ok(plain) = compile(&text(&t)) {
                let short = Compiled::compile(
                    &text(&t),
                    None,
                    FooterLines::default(),
                    Some(LinkBase("https://s.example".into())),
                );
                proptest::prop_assert!(short.is_ok(), "{:?}", short);
                let short = short.unwrap();
                // Without a code, the shortened content reads exactly like the plain one.
                let m = member();
                proptest::prop_assert_eq!(
                    short.render(&m, "c", None).map(|r| r.body),
                    plain.render(&m, "c", None).map(|r| r.body)
                );
                if let Ok(r) = short.render(&m, "c", Some("abcDEF123")) {
                    // Every short link is this recipient's, and no variable name leaks.
                    proptest::prop_assert!(!r.body.contains(LINK_VAR));
                    let shortened = r.body.matches("https://s.example/l/abcDEF123").count();
                    proptest::prop_assert_eq!(shortened, r.body.matches("https://s.example/").count());
                }
            }
        }

        #[test]
        fn plain_text_renders_as_written(t in "[^{}%#]{1,80}") {
            proptest::prop_assume!(!t.trim().is_empty());
            proptest::prop_assert_eq!(body(&text(&t), &member()), t);
        }
    }
}
