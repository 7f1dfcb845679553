//! Which addresses a server may fetch a user-supplied URL from: public unicast only.
//!
//! Used by the inference node for every address a host name resolves to (and every redirect
//! hop), and by the edge to refuse literal addresses early. IPv4 addresses embedded in IPv6
//! (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address they carry; Teredo is
//! refused outright. Host parsing follows the WHATWG URL rules the `url` crate uses, so the
//! decimal (`2130706433`), hex (`0x7f000001`) and octal (`0177.0.0.1`) spellings of an address
//! arrive here as the address itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address was refused, for the error message.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// True for an address a server may connect to on a user's behalf.
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const NETS: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 0, 0, 0], 24, "an IETF protocol address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved or broadcast address"),
    ];
    NETS.iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let o = ip.octets();
    let v4_at = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): judged as IPv4.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return refusal_v4(v4_at(12)).or(if s[5] == 0 {
            Some("an IPv4-compatible address")
        } else {
            None
        });
    }
    // 64:ff9b::/96 and 64:ff9b:1::/48 (NAT64) carry an IPv4 address in the last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b {
        return refusal_v4(v4_at(12));
    }
    match s[0] {
        0x2001 if s[1] == 0 => Some("a Teredo address"),
        0x2001 if s[1] == 0x0db8 => Some("a documentation address"),
        0x2001 if s[1] < 0x0200 => Some("an IETF protocol address"),
        0x2002 => refusal_v4(v4_at(2)),
        x if x & 0xfe00 == 0xfc00 => Some("a unique-local (private) address"),
        x if x & 0xffc0 == 0xfe80 => Some("a link-local address"),
        x if x & 0xffc0 == 0xfec0 => Some("a site-local address"),
        x if x & 0xff00 == 0xff00 => Some("a multicast address"),
        x if x & 0xe000 != 0x2000 => Some("an address outside global unicast"),
        _ => None,
    }
}

/// Checks a URL's scheme and, when its host is an address literal, the address. Host names
/// pass here; the fetcher checks what they resolve to.
pub fn check_url_shape(scheme: &str, host: Option<&str>) -> Result<(), String> {
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "only http and https image URLs are fetched, not {scheme}:"
        ));
    }
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no host")?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if let Some(why) = refusal(ip) {
            return Err(format!(
                "the URL's host {host} is {why}; image URLs must be public"
            ));
        }
    }
    Ok(())
}

/// The most characters a `webhook_url` may have.
pub const MAX_WEBHOOK_URL: usize = 2048;

/// Checks a `webhook_url`'s text before it is parsed. URL parsers drop tabs and line breaks
/// silently, so a URL carrying them (a header-injection attempt, or a paste gone wrong) is
/// refused with a reason rather than quietly rewritten.
pub fn check_webhook_text(url: &str) -> Result<(), String> {
    let n = url.chars().count();
    if n > MAX_WEBHOOK_URL {
        return Err(format!(
            "webhook_url is {n} characters; it may have at most {MAX_WEBHOOK_URL}."
        ));
    }
    if let Some(c) = url.chars().find(|c| c.is_control() || c.is_whitespace()) {
        let what = match c {
            '\r' | '\n' => "a line break",
            '\t' => "a tab",
            c if c.is_whitespace() => "a space",
            _ => "a control character",
        };
        return Err(format!(
            "webhook_url contains {what}; send the URL alone, percent-encoding anything else in it."
        ));
    }
    Ok(())
}

/// Checks a webhook target. A deployment refuses loopback, private and other non-public
/// literals and `localhost` names; a local instance (`cargo xtask dev` and tests) allows them so a
/// receiver on the same machine can be used. (A Worker cannot see what a name resolves to; on
/// Cloudflare, fetches to private networks fail anyway.)
pub fn check_webhook_target(scheme: &str, host: Option<&str>, local: bool) -> Result<(), String> {
    if scheme != "http" && scheme != "https" {
        return Err("webhook_url must be an http or https URL.".into());
    }
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or("webhook_url has no host.")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let private = host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip));
    if private && !local {
        return Err(format!(
            "webhook_url must be a public address; {host} is not reachable from this service."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_non_public_range() {
        for s in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
    }

    #[test]
    fn allows_public_unicast() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "192.169.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn url_shape() {
        assert!(check_url_shape("ftp", Some("example.org")).is_err());
        assert!(check_url_shape("file", None).is_err());
        assert!(check_url_shape("https", Some("")).is_err());
        assert!(check_url_shape("https", Some("example.org")).is_ok());
        let e = check_url_shape("http", Some("[::1]")).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(check_url_shape("http", Some("127.0.0.1")).is_err());
        assert!(check_url_shape("http", Some("[::ffff:7f00:1]")).is_err());
    }

    #[test]
    fn webhook_url_text() {
        assert!(check_webhook_text("https://hooks.example.org/x?a=%20b").is_ok());
        for (bad, why) in [
            (
                "https://hooks.example.org/x\r\nX-Injected: 1",
                "a line break",
            ),
            (
                "https://hooks.example.org/x\nSet-Cookie: a=b",
                "a line break",
            ),
            ("https://hooks.example.org/\tx", "a tab"),
            ("https://hooks.example.org/x y", "a space"),
            ("https://hooks.example.org/x\u{0}", "a control character"),
        ] {
            let e = check_webhook_text(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = format!("https://hooks.example.org/{}", "a".repeat(MAX_WEBHOOK_URL));
        assert!(check_webhook_text(&long)
            .unwrap_err()
            .contains("at most 2048"));
    }

    #[test]
    fn webhook_targets() {
        for (host, ok_deployed) in [
            ("hooks.example.org", true),
            ("8.8.8.8", true),
            ("localhost", false),
            ("LOCALHOST.", false),
            ("app.localhost", false),
            ("127.0.0.1", false),
            ("[::1]", false),
            ("0.0.0.0", false),
            ("10.0.0.1", false),
            ("169.254.169.254", false),
            ("[fd00::1]", false),
            ("[::ffff:127.0.0.1]", false),
        ] {
            assert_eq!(
                check_webhook_target("https", Some(host), false).is_ok(),
                ok_deployed,
                "{host} deployed"
            );
            assert!(
                check_webhook_target("http", Some(host), true).is_ok(),
                "{host} local"
            );
        }
        assert!(check_webhook_target("ftp", Some("hooks.example.org"), true).is_err());
        assert!(check_webhook_target("https", None, true).is_err());
    }
}
