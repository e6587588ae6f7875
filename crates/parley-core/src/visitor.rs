//! How the console shows a web visitor to an agent (WEB-28): the page they were on as a link only
//! when it is one a browser may follow safely, and their browser in a few words rather than the
//! raw user agent header.

/// The longest page address shown as a link; a longer one is only shown as text.
pub const MAX_LINK_CHARS: usize = 2048;

/// `url` as a link the console may render: only absolute `http`/`https` addresses with a host and
/// without whitespace or control characters. Anything else (`javascript:`, `data:`, relative
/// paths, an address bent by spaces) is shown as plain text, never as a link.
pub fn page_link(url: &str) -> Option<&str> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_LINK_CHARS {
        return None;
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    // A backslash is read as a slash by browsers: `http://a\@evil` must not pass for host `evil`.
    if host.is_empty() || authority.contains('\\') || host.starts_with(':') {
        return None;
    }
    Some(url)
}

/// The longest text kept of a user agent nothing here recognises.
const MAX_UNKNOWN_CHARS: usize = 80;

/// A user agent header in a few words, e.g. "Firefox 133 on Linux", "Safari 17 on iOS". An
/// unrecognised header is cut to 80 characters rather than dropped: an agent can still tell a bot
/// or an app from a browser.
pub fn browser_summary(user_agent: &str) -> String {
    let ua = user_agent.trim();
    let browser = browser_of(ua);
    let os = os_of(ua);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b,
        (None, _) => {
            let cut: String = ua.chars().take(MAX_UNKNOWN_CHARS).collect();
            if cut.len() < ua.len() {
                format!("{cut}…")
            } else {
                cut
            }
        }
    }
}

/// The major version following `token` (as in `Firefox/133.0`).
fn major_after(ua: &str, token: &str) -> Option<String> {
    let at = ua.find(token)? + token.len();
    let digits: String = ua
        .get(at..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .take(6)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

fn named(name: &str, version: Option<String>) -> String {
    match version {
        Some(v) => format!("{name} {v}"),
        None => name.to_owned(),
    }
}

fn browser_of(ua: &str) -> Option<String> {
    // Order matters: Edge and Opera say Chrome too, Chrome says Safari too.
    let checks: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
    ];
    for (token, name) in checks {
        if ua.contains(token) {
            return Some(named(name, major_after(ua, token)));
        }
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        return Some(named("Safari", major_after(ua, "Version/")));
    }
    if ua.contains("Safari/") {
        return Some("Safari".to_owned());
    }
    None
}

fn os_of(ua: &str) -> Option<&'static str> {
    let checks: [(&str, &str); 8] = [
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    checks
        .into_iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_pages_are_links() {
        assert_eq!(
            page_link("https://shop.example/cart?x=1"),
            Some("https://shop.example/cart?x=1")
        );
        assert_eq!(page_link(" HTTP://a.example "), Some("HTTP://a.example"));
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT://%0aalert(1)",
            "data:text/html,<script>",
            "/relative/path",
            "https://",
            "https:///path",
            "http://a.example/ x",
            "http://a\\@evil.example/",
            "ftp://files.example/",
            "https://a.example/\u{0}",
            "",
        ] {
            assert_eq!(page_link(bad), None, "{bad}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_LINK_CHARS));
        assert_eq!(page_link(&long), None);
    }

    #[test]
    fn common_browsers_are_named_with_their_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox 133 on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome 131 on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
                "Edge 131 on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari 17 on iOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari 18 on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36",
                "Chrome 131 on Android",
            ),
        ];
        for (ua, want) in cases {
            assert_eq!(browser_summary(ua), want);
        }
    }

    #[test]
    fn unknown_agents_are_cut_not_dropped() {
        assert_eq!(browser_summary("curl/8.5.0"), "curl/8.5.0");
        let long = "x".repeat(300);
        let s = browser_summary(&long);
        assert_eq!(s.chars().count(), MAX_UNKNOWN_CHARS + 1);
        assert!(s.ends_with('…'));
        // Multi-byte text is cut on a character boundary.
        assert!(browser_summary(&"é".repeat(200)).ends_with('…'));
    }
}
