//! Links in campaign content (issue 11, item 4; SMS-08, CMP-06): found in the text, replaced by a
//! short link on the operator's own domain carrying the recipient's code, so clicks count per
//! campaign and recipient. A link-preview bot fetching the link is not a click.

/// Characters of a recipient's code (base62): 62^9 is about 1.3e16, so codes drawn at random for
/// millions of recipients practically never collide (the store's unique index is the backstop).
pub const CODE_LEN: usize = 9;

/// A link found in a text: its byte range and the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub url: String,
}

/// The `http://` and `https://` links in `text`, in order. A link runs to the next whitespace;
/// trailing punctuation that ends a sentence (`.`, `,`, `!`, `?`, `;`, `:`, a closing bracket or
/// quote without its opening one) is not part of it.
pub fn find(text: &str) -> Vec<Found> {
    let _ = text;
    todo!()
}

/// A new random code.
pub fn new_code(rng: &mut impl rand::Rng) -> String {
    let _ = rng;
    todo!()
}

/// The short link for link `index` of the recipient with `code`: `{base}/l/{code}` for the first,
/// `{base}/l/{code}{index}` for the others (`base` without a trailing slash).
pub fn short_url(base: &str, code: &str, index: usize) -> String {
    let _ = (base, code, index);
    todo!()
}

/// Reads the path segment after `/l/`: the code and the link's index, or `None` when it is not
/// one of ours.
pub fn parse(segment: &str) -> Option<(&str, usize)> {
    let _ = segment;
    todo!()
}

/// Whether a request for a short link comes from a link-preview bot or a prefetch rather than a
/// person: a HEAD request, or a user agent of a known previewer (WhatsApp, facebookexternalhit,
/// Twitterbot, Slackbot, TelegramBot, Discordbot, LinkedInBot, SkypeUriPreview, Googlebot,
/// bingbot, iMessage's preview...). Such requests are redirected but not counted.
pub fn is_preview(user_agent: Option<&str>, head: bool) -> bool {
    let _ = (user_agent, head);
    todo!()
}
