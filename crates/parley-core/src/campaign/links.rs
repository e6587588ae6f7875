//! Links in campaign content (issue 11, item 4; SMS-08, CMP-06): found in the text, replaced by a
//! short link on the operator's own domain carrying the recipient's code, so clicks count per
//! campaign and recipient. A link-preview bot fetching the link is not a click.
//!
//! Decisions the doc comments leave open:
//! - The scheme is matched without regard to case (`HTTPS://` is a link too), and a link starts
//!   only where a word starts, so `xhttps://` inside a word is not one.
//! - A scheme with nothing after it (`https://`, or only punctuation) is not a link.
//! - A short link's index is written in decimal without leading zeros after the fixed-length
//!   code, so every (code, index) has exactly one spelling and [`parse`] refuses the others.
//! - [`is_preview`] compares without regard to ASCII case and without allocating: it runs on the
//!   redirect's hot path. A request with no user agent counts as a person (some privacy tools
//!   strip it), so it is counted.

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
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(start) = next_scheme(text, from) {
        let rest = text.get(start..).unwrap_or_default();
        let run = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
            .map_or(rest.len(), |(i, _)| i);
        let end = start + trim_trailing(rest.get(..run).unwrap_or_default());
        let scheme_len = if starts_with_ci(rest, "https://") {
            8
        } else {
            7
        };
        if end > start + scheme_len {
            out.push(Found {
                start,
                end,
                url: text.get(start..end).unwrap_or_default().to_owned(),
            });
        }
        from = start + run.max(1);
        // Never restart inside a multi-byte character.
        while from < bytes.len() && !text.is_char_boundary(from) {
            from += 1;
        }
    }
    out
}

/// Where the next `http://` or `https://` at the start of a word is, from byte `from` on.
fn next_scheme(text: &str, mut from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    while from < bytes.len() {
        let at = from + memchr_ci_h(bytes.get(from..)?)?;
        let rest = text.get(at..).unwrap_or_default();
        let word_start = at == 0
            || text
                .get(..at)
                .and_then(|b| b.chars().next_back())
                .is_none_or(|c| !c.is_alphanumeric());
        if word_start && (starts_with_ci(rest, "http://") || starts_with_ci(rest, "https://")) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The offset of the next `h` or `H`.
fn memchr_ci_h(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'h' || *b == b'H')
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The length of `link` without the punctuation that ends the sentence around it.
fn trim_trailing(link: &str) -> usize {
    let mut end = link.len();
    loop {
        let Some(last) = link.get(..end).and_then(|l| l.chars().next_back()) else {
            return end;
        };
        let strip = match last {
            '.' | ',' | '!' | '?' | ';' | ':' => true,
            ')' | ']' | '}' | '>' => {
                let open = match last {
                    ')' => '(',
                    ']' => '[',
                    '}' => '{',
                    _ => '<',
                };
                let body = link.get(..end).unwrap_or_default();
                body.matches(open).count() < body.matches(last).count()
            }
            '"' | '\'' => link.get(..end).unwrap_or_default().matches(last).count() % 2 == 1,
            '\u{201D}' | '\u{2019}' | '\u{BB}' => {
                let open = match last {
                    '\u{201D}' => '\u{201C}',
                    '\u{2019}' => '\u{2018}',
                    _ => '\u{AB}',
                };
                let body = link.get(..end).unwrap_or_default();
                body.matches(open).count() < body.matches(last).count()
            }
            _ => false,
        };
        if !strip {
            return end;
        }
        end -= last.len_utf8();
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new random code.
pub fn new_code(rng: &mut impl rand::Rng) -> String {
    (0..CODE_LEN)
        .map(|_| {
            let i: usize = rng.random_range(0..BASE62.len());
            char::from(BASE62.get(i).copied().unwrap_or(b'0'))
        })
        .collect()
}

/// The short link for link `index` of the recipient with `code`: `{base}/l/{code}` for the first,
/// `{base}/l/{code}{index}` for the others (`base` without a trailing slash).
pub fn short_url(base: &str, code: &str, index: usize) -> String {
    let base = base.trim_end_matches('/');
    if index == 0 {
        format!("{base}/l/{code}")
    } else {
        format!("{base}/l/{code}{index}")
    }
}

/// Reads the path segment after `/l/`: the code and the link's index, or `None` when it is not
/// one of ours.
pub fn parse(segment: &str) -> Option<(&str, usize)> {
    let code = segment.get(..CODE_LEN)?;
    if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let index = segment.get(CODE_LEN..)?;
    if index.is_empty() {
        return Some((code, 0));
    }
    // One spelling per index: no leading zero, and index 0 is written as nothing.
    if index.starts_with('0') || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok().map(|i| (code, i))
}

/// User agents of link-preview fetchers, lowercase; matched as substrings.
const PREVIEWERS: &[&str] = &[
    "whatsapp",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
    "bingbot",
    "applebot",
    "redditbot",
    "embedly",
    "vkshare",
    "pinterest",
    "iframely",
    "viber",
    "snapchat",
    "mastodon",
    "yandexbot",
    "duckduckbot",
];

/// Whether a request for a short link comes from a link-preview bot or a prefetch rather than a
/// person: a HEAD request, or a user agent of a known previewer (WhatsApp, facebookexternalhit,
/// Twitterbot, Slackbot, TelegramBot, Discordbot, LinkedInBot, SkypeUriPreview, Googlebot,
/// bingbot, iMessage's preview...). Such requests are redirected but not counted.
pub fn is_preview(user_agent: Option<&str>, head: bool) -> bool {
    if head {
        return true;
    }
    let Some(ua) = user_agent else {
        return false;
    };
    let ua = ua.as_bytes();
    PREVIEWERS.iter().any(|p| {
        let p = p.as_bytes();
        ua.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn urls(text: &str) -> Vec<String> {
        find(text).into_iter().map(|f| f.url).collect()
    }

    #[test]
    fn finds_links_to_the_next_whitespace() {
        let t = "Sale! https://shop.example/a?b=1&c=2 and http://x.example/p\nbye";
        let f = find(t);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].url, "https://shop.example/a?b=1&c=2");
        assert_eq!(&t[f[0].start..f[0].end], f[0].url);
        assert_eq!(f[1].url, "http://x.example/p");
        assert_eq!(&t[f[1].start..f[1].end], f[1].url);
        assert_eq!(
            urls("HTTPS://SHOP.EXAMPLE/X"),
            vec!["HTTPS://SHOP.EXAMPLE/X"]
        );
    }

    #[test]
    fn sentence_punctuation_is_not_part_of_a_link() {
        assert_eq!(
            urls("See https://a.example/x."),
            vec!["https://a.example/x"]
        );
        assert_eq!(urls("https://a.example/x?!"), vec!["https://a.example/x"]);
        assert_eq!(urls("(https://a.example/x)"), vec!["https://a.example/x"]);
        assert_eq!(
            urls("https://en.example/wiki/Rust_(language)"),
            vec!["https://en.example/wiki/Rust_(language)"]
        );
        assert_eq!(
            urls("\"https://a.example/q\","),
            vec!["https://a.example/q"]
        );
        assert_eq!(urls("«https://a.example/q»"), vec!["https://a.example/q"]);
        assert_eq!(urls("https://a.example/a:b"), vec!["https://a.example/a:b"]);
    }

    #[test]
    fn not_links() {
        assert!(find("no links here, ftp://x.example, www.example.com").is_empty());
        assert!(find("https:// and http://.").is_empty());
        assert!(find("xhttps://a.example").is_empty());
        assert_eq!(urls("é https://a.example/é"), vec!["https://a.example/é"]);
    }

    #[test]
    fn codes_are_base62_of_the_fixed_length() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = new_code(&mut rng);
        let b = new_code(&mut rng);
        assert_eq!(a.len(), CODE_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn short_urls_and_their_parse() {
        assert_eq!(
            short_url("https://p.example/", "abcDEF123", 0),
            "https://p.example/l/abcDEF123"
        );
        assert_eq!(
            short_url("https://p.example", "abcDEF123", 12),
            "https://p.example/l/abcDEF12312"
        );
        assert_eq!(parse("abcDEF123"), Some(("abcDEF123", 0)));
        assert_eq!(parse("abcDEF1237"), Some(("abcDEF123", 7)));
        assert_eq!(parse("abcDEF1230"), None, "index 0 has one spelling");
        assert_eq!(parse("abcDEF12307"), None);
        assert_eq!(parse("abcDEF12"), None);
        assert_eq!(parse("abc-EF123"), None);
        assert_eq!(parse("abcDEF123x"), None);
        assert_eq!(parse("abcDEF123999999999999999999999"), None);
        assert_eq!(parse("ééééé"), None);
    }

    #[test]
    fn previews_are_not_clicks() {
        assert!(is_preview(None, true));
        assert!(is_preview(Some("Mozilla/5.0"), true));
        assert!(!is_preview(None, false));
        assert!(!is_preview(
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"),
            false
        ));
        for ua in [
            "WhatsApp/2.23.20.0 A",
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "LinkedInBot/1.0",
            "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
            "Mozilla/5.0 (compatible; Googlebot/2.1)",
            "Mozilla/5.0 (compatible; BINGBOT/2.0)",
            "Applebot/0.1",
            "redditbot/1.0",
            "Embedly/0.2",
            "vkShare; +http://vk.com/dev/Share",
            "Pinterest/0.2",
            "Iframely/1.3.1",
        ] {
            assert!(is_preview(Some(ua), false), "{ua}");
        }
    }

    proptest! {
        #[test]
        fn short_url_and_parse_round_trip(code in "[0-9A-Za-z]{9}", index in 0usize..100_000) {
            let url = short_url("https://p.example", &code, index);
            let segment = url.strip_prefix("https://p.example/l/").unwrap();
            prop_assert_eq!(parse(segment), Some((code.as_str(), index)));
        }

        #[test]
        fn found_links_are_slices_of_the_text(t in "[ a-z:/.()\"'!?éhtps]{0,60}") {
            for f in find(&t) {
                prop_assert_eq!(t.get(f.start..f.end), Some(f.url.as_str()));
                prop_assert!(!f.url.contains(char::is_whitespace));
                prop_assert!(f.url.to_ascii_lowercase().starts_with("http"));
            }
        }

        #[test]
        fn a_link_in_a_sentence_is_found_whole(path in "[a-z0-9/_-]{0,20}", end in "[.,!?;:]?") {
            let url = format!("https://shop.example/{path}");
            let t = format!("Hi, see {url}{end} now");
            prop_assert_eq!(urls(&t), vec![url]);
        }
    }
}
