//! Where Parley's server may connect when a customer's message names the place: the address
//! classes a fetch must never reach, and the host patterns of an allowlist. Pure functions; the
//! engine's media fetcher applies them after DNS and on every redirect hop (see
//! `docs/security.md`, "Media fetching and serving").
//!
//! Address rules. Refused always: unspecified, link-local (169.254/16 holds the clouds' metadata
//! services; fe80::/10), multicast, broadcast, documentation and other reserved ranges. Refused
//! unless the operator turns on `media_fetch_allow_private` (tests, the demo): loopback, private
//! networks (10/8, 172.16/12, 192.168/16, fc00::/7) and carrier-grade NAT (100.64/10). An IPv6
//! address that carries an IPv4 one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address it leads to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not an ordinary public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    Unspecified,
    Loopback,
    /// RFC 1918, IPv6 unique local (and the old site-local).
    Private,
    /// 100.64/10, a carrier's own network.
    SharedCgnat,
    LinkLocal,
    Multicast,
    Broadcast,
    Documentation,
    /// Benchmarking, protocol assignments, the future-use block, unallocated IPv6.
    Reserved,
}

impl AddressClass {
    /// Whether `media_fetch_allow_private` lets a fetch reach this class: the networks a test
    /// fake or a self-hosted provider can live on. Link-local never (the metadata service).
    pub const fn allowed_when_private_allowed(self) -> bool {
        matches!(self, Self::Loopback | Self::Private | Self::SharedCgnat)
    }

    pub const fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private network address",
            Self::SharedCgnat => "a carrier-grade NAT address",
            Self::LinkLocal => "a link-local address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Reserved => "a reserved address",
        }
    }
}

/// The class of a non-public IPv4 address; `None` for an ordinary public one.
pub fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (10, _, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedCgnat,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (172, 16..=31, _) => AddressClass::Private,
        (192, 168, _) => AddressClass::Private,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (192, 0, 0) | (192, 88, 99) | (198, 18..=19, _) => AddressClass::Reserved,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => return None,
    })
}

/// The class of a non-public IPv6 address; `None` for an ordinary public one. Addresses that
/// lead to an IPv4 address take that address's class.
pub fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    let s = ip.segments();
    let o = ip.octets();
    let v4 = |i: usize| {
        let bytes: [u8; 4] = o.get(i..i + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes))
    };
    let embedded = match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => v4(12),
        // NAT64, well-known and local-use prefixes.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => v4(12),
        // 6to4.
        [0x2002, ..] => v4(2),
        _ => None,
    };
    if let Some(inner) = embedded {
        return classify_v4(inner);
    }
    let first = s.first().copied().unwrap_or_default();
    let second = s.get(1).copied().unwrap_or_default();
    Some(match first {
        0xfc00..=0xfdff => AddressClass::Private,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xff00..=0xffff => AddressClass::Multicast,
        0x2001 if second == 0x0db8 => AddressClass::Documentation,
        0x3fff if second < 0x1000 => AddressClass::Documentation,
        // IETF protocol assignments (Teredo, benchmarking, ORCHID...).
        0x2001 if second < 0x0200 => AddressClass::Reserved,
        // Global unicast is 2000::/3; everything else is unallocated or special.
        0x2000..=0x3fff => return None,
        _ => AddressClass::Reserved,
    })
}

pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Why a fetch may not connect to `ip`, or `None` when it may.
pub fn refusal(ip: IpAddr, allow_private: bool) -> Option<AddressClass> {
    classify(ip).filter(|c| !(allow_private && c.allowed_when_private_allowed()))
}

/// One entry of a host allowlist: a host name or IP address matched exactly, or `*.example.com`
/// matching every name below `example.com` (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    Ip(IpAddr),
    /// The suffix with its leading dot: `.example.com`.
    Below(String),
}

/// Why a host pattern is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{pattern}' is not a host name, an IP address or '*.domain': {reason}")]
pub struct HostPatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl HostPattern {
    pub fn parse(pattern: &str) -> Result<Self, HostPatternError> {
        let err = |reason| HostPatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        let p = pattern.trim().to_ascii_lowercase();
        let p = p.strip_suffix('.').unwrap_or(&p);
        if let Some(ip) = parse_ip(p) {
            return Ok(Self::Ip(ip));
        }
        if let Some(domain) = p.strip_prefix("*.") {
            check_name(domain).map_err(err)?;
            if !domain.contains('.') {
                return Err(err("a wildcard needs at least two labels after '*.'"));
            }
            if domain.parse::<Ipv4Addr>().is_ok() {
                return Err(err("a wildcard cannot cover IP addresses"));
            }
            return Ok(Self::Below(format!(".{domain}")));
        }
        check_name(p).map_err(err)?;
        Ok(Self::Exact(p.to_owned()))
    }

    /// Whether `host` (a URL's host: a name, an IPv4 address, or an IPv6 one with or without
    /// brackets) is covered.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Self::Ip(ip) => parse_ip(&host) == Some(*ip),
            Self::Exact(name) => *name == host,
            Self::Below(suffix) => {
                host.ends_with(suffix.as_str())
                    && host.len() > suffix.len()
                    && parse_ip(&host).is_none()
            }
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Below(suffix) => write!(f, "*{suffix}"),
        }
    }
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// A DNS name: labels of letters, digits and hyphens, 1 to 63 long, not starting or ending
/// with a hyphen; 253 characters at most.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("a host name has 1 to 253 characters");
    }
    for label in name.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err("labels are letters, digits and inner hyphens (no scheme, port or path)");
        }
    }
    Ok(())
}

/// Whether any of `patterns` covers `host`.
pub fn host_allowed(patterns: &[HostPattern], host: &str) -> bool {
    patterns.iter().any(|p| p.matches(host))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v4(s: &str) -> Option<AddressClass> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_classes() {
        use AddressClass::*;
        for (ip, class) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.0.0.2", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.2.10", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.200", Some(Documentation)),
            ("198.18.0.1", Some(Reserved)),
            ("8.8.8.8", None),
            ("54.172.60.0", None),
            ("157.240.1.1", None),
        ] {
            assert_eq!(v4(ip), class, "{ip}");
        }
    }

    #[test]
    fn ipv6_classes_and_embedded_ipv4() {
        use AddressClass::*;
        for (ip, class) in [
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("3fff::1", Some(Documentation)),
            ("2001::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("2a03:2880:f12f:83:face:b00c::25de", None),
            ("2606:4700::1111", None),
            // Mapped and compatible forms take the class of their IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:7f00:2", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:192.168.0.1", Some(Private)),
            ("::ffff:100.64.1.1", Some(SharedCgnat)),
            ("::ffff:224.0.0.1", Some(Multicast)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:255.255.255.255", Some(Broadcast)),
            ("::ffff:192.0.2.1", Some(Documentation)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:a9fe:a9fe::1", Some(LinkLocal)),
        ] {
            assert_eq!(v4(ip), class, "{ip}");
        }
    }

    #[test]
    fn allow_private_relaxes_only_local_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            refusal(ip("127.0.0.1"), false),
            Some(AddressClass::Loopback)
        );
        assert_eq!(refusal(ip("127.0.0.1"), true), None);
        assert_eq!(refusal(ip("10.0.0.1"), true), None);
        assert_eq!(refusal(ip("::ffff:127.0.0.1"), true), None);
        for never in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
        ] {
            assert!(refusal(ip(never), true).is_some(), "{never}");
        }
        assert_eq!(refusal(ip("8.8.8.8"), false), None);
    }

    #[test]
    fn host_patterns() {
        let p = |s: &str| HostPattern::parse(s).unwrap();
        assert!(p("api.twilio.com").matches("api.twilio.com"));
        assert!(p("API.Twilio.com.").matches("api.twilio.com"));
        assert!(p("api.twilio.com").matches("API.TWILIO.COM."));
        assert!(!p("api.twilio.com").matches("api.twilio.com.evil.example"));
        assert!(!p("api.twilio.com").matches("xapi.twilio.com"));

        let below = p("*.fbcdn.net");
        assert_eq!(below.to_string(), "*.fbcdn.net");
        assert!(below.matches("scontent.xx.fbcdn.net"));
        assert!(below.matches("a.fbcdn.net"));
        assert!(!below.matches("fbcdn.net"));
        assert!(!below.matches("evilfbcdn.net"));
        assert!(!below.matches("fbcdn.net.evil.example"));

        assert!(p("127.0.0.2").matches("127.0.0.2"));
        assert!(!p("127.0.0.2").matches("127.0.0.1"));
        assert!(p("[::1]").matches("::1"));
        assert!(p("::1").matches("[0:0::1]"));
        assert!(!p("localhost").matches("127.0.0.1"));

        for bad in [
            "",
            "*",
            "*.com",
            "https://media.example.com",
            "media.example.com:8080",
            "media.example.com/x",
            "a..b",
            "-a.example",
            "a b.example",
            "*.*.example.com",
            "media.*.example.com",
            "*.127.0.0.1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn mapped_v4_is_classified_like_v4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(classify_v6(v4.to_ipv6_mapped()), classify_v4(v4));
        }

        #[test]
        fn a_wildcard_never_matches_a_name_outside_its_domain(
            label in "[a-z0-9]{1,10}",
            other in "[a-z0-9]{1,10}\\.[a-z]{2,5}",
        ) {
            let p = HostPattern::parse("*.media.example.com").unwrap();
            let below = format!("{label}.media.example.com");
            prop_assert!(p.matches(&below));
            prop_assert!(!p.matches(&other));
            let glued = format!("{label}media.example.com");
            prop_assert!(!p.matches(&glued));
        }
    }
}
