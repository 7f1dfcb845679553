//! The storefront try-on widget's rules: publishable keys and the origins they allow, how long a
//! shopper's photo and result are kept, the widget's rate limits, the session a widget page
//! carries, its Content-Security-Policy and the embed snippet. The edge (`edge/src/widget.rs`)
//! and the Developer page both use these; nothing here does I/O.
//!
//! A publishable key (`pk_…`) is public by design: it sits in a shop's page. What protects the
//! merchant is where it works — only inside a frame on one of its origins (the browser enforces
//! `frame-ancestors`; the edge refuses a page load whose `Referer` is another origin and any
//! request a session of another origin makes), only on the widget's routes (it is never an API
//! key: `/v1/*` answers 401), at the rates below, and until it is revoked.

use crate::sign;
use crate::tool::FieldError;

/// Every publishable key starts with this.
pub const KEY_PREFIX: &str = "pk_";
/// Origins a key may list.
pub const MAX_ORIGINS: usize = 10;
/// Active publishable keys an organization may have.
pub const MAX_ACTIVE_KEYS: u64 = 25;
/// How long a shopper's photo and result are kept unless the merchant says otherwise.
pub const RETENTION_DEFAULT_HOURS: u32 = 24;
/// The longest a merchant may keep them (30 days).
pub const RETENTION_MAX_HOURS: u32 = 720;
/// How long a widget page's session lasts (a shopper who leaves the tab open reloads after).
pub const SESSION_TTL_SECS: u64 = 4 * 3600;
/// The API model a widget run is (the merchant's API credits pay its price).
pub const MODEL: &str = "tryon-v1.6";

/// A fixed-window rate limit: `requests` per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub requests: u32,
    pub window_secs: u64,
}

/// Try-ons one shopper (one address) may start per key: 10 per 10 minutes.
pub const SHOPPER_RUNS: Limit = Limit {
    name: "shopper-runs",
    requests: 10,
    window_secs: 600,
};
/// Try-ons one key may start from all shoppers together: 120 per minute.
pub const KEY_RUNS: Limit = Limit {
    name: "key-runs",
    requests: 120,
    window_secs: 60,
};
/// Status polls (and page loads) one shopper may make per key: 300 per minute.
pub const SHOPPER_READS: Limit = Limit {
    name: "shopper-reads",
    requests: 300,
    window_secs: 60,
};

impl Limit {
    /// The window `now_secs` falls in, and the seconds until the next one.
    pub fn window(&self, now_secs: u64) -> (u64, u64) {
        let w = now_secs / self.window_secs;
        (w, (w + 1) * self.window_secs - now_secs)
    }
}

/// Whether `s` has the shape of a publishable key.
pub fn is_publishable(s: &str) -> bool {
    s.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        (16..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|p| p.parse::<u8>().is_ok())
        })
}

/// Parses an origin as a merchant types it into the exact form a browser serializes it in
/// (`scheme://host[:port]`, host lowercased, the scheme's default port dropped, one trailing `/`
/// forgiven). Only https, or http on a loopback host (a shop under development); no path, query,
/// credentials or wildcard.
pub fn parse_origin(input: &str) -> Result<String, String> {
    let s = input.trim();
    let s = s.strip_suffix('/').unwrap_or(s);
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("{input:?} is not an origin: write it as https://shop.example (scheme and host, with a port if it has one)."))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(format!(
            "{input:?}: an origin is https://… (the shop's address), not {scheme}://."
        ));
    }
    if rest.is_empty() {
        return Err(format!("{input:?} has no host."));
    }
    if rest.contains(['/', '?', '#', '@', '\\']) || rest.chars().any(char::is_whitespace) {
        return Err(format!(
            "{input:?}: give only the origin (scheme, host and port), without a path, query or credentials — e.g. https://shop.example."
        ));
    }
    if rest.contains('*') {
        return Err(format!(
            "{input:?}: wildcards are not accepted; list each origin (e.g. https://shop.example and https://www.shop.example)."
        ));
    }
    // host[:port], the host possibly an IPv6 literal in brackets.
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inner, after) = v6.split_once(']').ok_or_else(|| {
            format!("{input:?}: an IPv6 address is written in brackets, e.g. http://[::1]:8080.")
        })?;
        // Browsers send an IPv6 address in its short standard form: store that.
        let inner = inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{input:?}: {inner:?} is not an IPv6 address."))?
            .to_string();
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("{input:?} has text after the address."))?,
            ),
        };
        (format!("[{inner}]"), port)
    } else {
        let (h, p) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let h = h.to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !h.is_ascii() {
            return Err(format!(
                "{input:?}: write an international domain name in its xn-- form (as the browser's address bar shows it when copied), e.g. https://xn--bcher-kva.example."
            ));
        }
        if h.len() > 253 || !h.split('.').all(label_ok) {
            return Err(format!("{input:?}: {h:?} is not a host name."));
        }
        (h, p)
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{input:?}: {p:?} is not a port (1–65535)."))?,
        ),
    };
    if scheme == "http" && !loopback_host(&host) {
        return Err(format!(
            "{input:?}: use https:// — a shop page served over plain http can be altered on its way to the shopper (http is accepted only for localhost and 127.x.x.x while a shop is developed)."
        ));
    }
    let default = if scheme == "https" { 443 } else { 80 };
    Ok(match port {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The origins of a new key, each parsed, duplicates dropped; errors under `origins[i]`.
pub fn parse_origins(inputs: &[String]) -> Result<Vec<String>, Vec<FieldError>> {
    let mut out: Vec<String> = vec![];
    let mut errors = vec![];
    for (i, o) in inputs.iter().enumerate() {
        match parse_origin(o) {
            Ok(o) if !out.contains(&o) => out.push(o),
            Ok(_) => {}
            Err(m) => errors.push(FieldError::new(
                &format!("origins[{i}]"),
                "invalid_origin",
                m,
            )),
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push(FieldError::new(
            "origins",
            "required",
            "List at least one origin the widget may be embedded on, e.g. https://shop.example.",
        ));
    }
    if out.len() > MAX_ORIGINS {
        errors.push(FieldError::new(
            "origins",
            "too_many",
            format!("A key lists at most {MAX_ORIGINS} origins; make another key for more."),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The retention a merchant asked for (None: the default), checked.
pub fn retention_hours(asked: Option<f64>) -> Result<u32, FieldError> {
    match asked {
        None => Ok(RETENTION_DEFAULT_HOURS),
        Some(h) if h.fract() == 0.0 && (1.0..=RETENTION_MAX_HOURS as f64).contains(&h) => {
            Ok(h as u32)
        }
        Some(_) => Err(FieldError::new(
            "retention_hours",
            "out_of_range",
            format!(
                "Keep shoppers' photos and results for a whole number of hours from 1 to {RETENTION_MAX_HOURS} (30 days); the default is {RETENTION_DEFAULT_HOURS}."
            ),
        )),
    }
}

/// How the widget says how long things are kept: "24 hours", "7 days".
pub fn retention_words(hours: u32) -> String {
    match hours {
        1 => "1 hour".into(),
        h if h % 24 == 0 && h >= 48 => format!("{} days", h / 24),
        h => format!("{h} hours"),
    }
}

/// The origin of a `Referer` (None when it is not an http(s) URL one of our origins could be).
pub fn referer_origin(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    parse_origin(&format!("{scheme}://{}", &rest[..end])).ok()
}

/// The widget page's Content-Security-Policy: only the key's origins may frame it; its scripts,
/// styles and requests are its own; images also from the shop's origins and https (a product
/// image by URL).
pub fn page_csp(origins: &[String]) -> String {
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https: {ancestors_img}; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}",
        ancestors_img = if origins.is_empty() { "" } else { ancestors.as_str() },
    )
}

const SESSION_PURPOSE: &str = "atelier/widget-session/v1";

/// A widget page's session: which key, and which origin framed it ("" when the browser sent no
/// `Referer`; the frame was then still one of the key's origins, as `frame-ancestors` allowed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub key_id: String,
    pub parent: String,
    pub expires: u64,
}

/// Why a session token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the widget's session is missing or malformed; reload the page")]
    Malformed,
    #[error("the widget's session is not valid; reload the page")]
    Forged,
    #[error("the widget's session has expired; reload the page")]
    Expired,
}

/// The token a widget page sends back with each request (`x-widget-session`).
pub fn session_token(secret: &[u8], key_id: &str, parent: &str, expires: u64) -> String {
    let body = format!("v1.{key_id}.{expires}.{}", hex::encode(parent));
    let sig = sign::sign_message(secret, SESSION_PURPOSE, &body);
    format!("{body}.{sig}")
}

/// Verifies a [`session_token`].
pub fn verify_session(secret: &[u8], token: &str, now_secs: u64) -> Result<Session, SessionError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let ["v1", key_id, expires, parent, sig] = parts.as_slice() else {
        return Err(SessionError::Malformed);
    };
    let body = format!("v1.{key_id}.{expires}.{parent}");
    if !sign::verify_message(secret, SESSION_PURPOSE, &body, sig) {
        return Err(SessionError::Forged);
    }
    let expires: u64 = expires.parse().map_err(|_| SessionError::Malformed)?;
    if now_secs > expires {
        return Err(SessionError::Expired);
    }
    let parent = hex::decode(parent)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(SessionError::Malformed)?;
    Ok(Session {
        key_id: key_id.to_string(),
        parent,
        expires,
    })
}

/// The two ways to embed the widget that the Developer page offers for copying: one `<script>`
/// tag that inserts the iframe where it stands, or the `<iframe>` itself.
pub fn snippets(base: &str, key: &str) -> (String, String) {
    let base = base.trim_end_matches('/');
    (
        format!(
            "<script src=\"{base}/embed/widget.js\" data-key=\"{key}\" data-category=\"auto\" async></script>"
        ),
        format!(
            "<iframe src=\"{base}/embed/try-on?key={key}\" title=\"Virtual try-on\" allow=\"camera\" style=\"width:100%;max-width:480px;height:720px;border:0\"></iframe>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn origins_are_normalized_as_browsers_serialize_them() {
        assert_eq!(
            parse_origin("https://Shop.Example/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin(" https://shop.example:443 ").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin("https://shop.example:8443").unwrap(),
            "https://shop.example:8443"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:5173").unwrap(),
            "http://127.0.0.1:5173"
        );
        assert_eq!(
            parse_origin("http://localhost:80").unwrap(),
            "http://localhost"
        );
        assert_eq!(
            parse_origin("http://[::1]:3000").unwrap(),
            "http://[::1]:3000"
        );
        assert_eq!(
            parse_origin("HTTPS://xn--bcher-kva.example").unwrap(),
            "https://xn--bcher-kva.example"
        );
    }

    #[test]
    fn origins_that_are_not_exact_are_refused_with_the_reason() {
        for (bad, why) in [
            ("shop.example", "scheme and host"),
            ("https://shop.example/products", "without a path"),
            ("https://shop.example?x=1", "without a path"),
            ("https://user@shop.example", "credentials"),
            ("https://*.shop.example", "wildcards"),
            ("http://shop.example", "use https"),
            ("http://127.0.0.1.evil.example", "use https"),
            ("ftp://shop.example", "not ftp"),
            ("https://", "not an origin"),
            ("https:///", "no host"),
            ("https://shop.example:0", "not a port"),
            ("https://shop.example:99999", "not a port"),
            ("https://sh op.example", "without a path"),
            ("https://-shop.example", "not a host name"),
            ("javascript://alert(1)", "not javascript"),
            ("https://[zz]", "not an IPv6"),
        ] {
            let e = parse_origin(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn ipv6_and_international_hosts_are_written_as_browsers_send_them() {
        assert_eq!(
            parse_origin("http://[0:0:0:0:0:0:0:1]:3000").unwrap(),
            "http://[::1]:3000"
        );
        assert_eq!(
            parse_origin("https://[2001:DB8:0:0::1]").unwrap(),
            "https://[2001:db8::1]"
        );
        assert!(parse_origin("https://bücher.example")
            .unwrap_err()
            .contains("xn-- form"));
    }

    #[test]
    fn a_key_lists_one_to_ten_distinct_origins() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_origins(&o(&[
                "https://a.example",
                "https://A.example/",
                "https://b.example"
            ]))
            .unwrap(),
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(parse_origins(&o(&[])).unwrap_err()[0].path, "origins");
        let e = parse_origins(&o(&["https://a.example", "nope"])).unwrap_err();
        assert_eq!(e[0].path, "origins[1]");
        let many: Vec<String> = (0..11).map(|i| format!("https://s{i}.example")).collect();
        assert_eq!(parse_origins(&many).unwrap_err()[0].code, "too_many");
    }

    #[test]
    fn retention_is_whole_hours_up_to_thirty_days() {
        assert_eq!(retention_hours(None), Ok(24));
        assert_eq!(retention_hours(Some(1.0)), Ok(1));
        assert_eq!(retention_hours(Some(720.0)), Ok(720));
        for bad in [0.0, -5.0, 1.5, 721.0, f64::NAN, f64::INFINITY] {
            assert!(retention_hours(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(retention_words(24), "24 hours");
        assert_eq!(retention_words(168), "7 days");
        assert_eq!(retention_words(1), "1 hour");
    }

    #[test]
    fn the_referer_gives_the_framing_origin() {
        assert_eq!(
            referer_origin("http://127.0.0.1:9000/product/42?x=1").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            referer_origin("https://shop.example").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(referer_origin("about:blank"), None);
    }

    #[test]
    fn the_page_may_be_framed_only_by_the_keys_origins() {
        let csp = page_csp(&["https://a.example".into(), "http://127.0.0.1:9000".into()]);
        assert!(
            csp.ends_with("frame-ancestors https://a.example http://127.0.0.1:9000"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"));
        assert!(page_csp(&[]).ends_with("frame-ancestors 'none'"));
    }

    #[test]
    fn sessions_verify_and_refuse_tampering_and_age() {
        let t = session_token(b"k", "abc123", "http://127.0.0.1:9000", 1000);
        let s = verify_session(b"k", &t, 999).unwrap();
        assert_eq!(
            (s.key_id.as_str(), s.parent.as_str()),
            ("abc123", "http://127.0.0.1:9000")
        );
        assert_eq!(verify_session(b"k", &t, 1001), Err(SessionError::Expired));
        assert_eq!(verify_session(b"other", &t, 999), Err(SessionError::Forged));
        let swapped = t.replacen("abc123", "abc124", 1);
        assert_eq!(
            verify_session(b"k", &swapped, 999),
            Err(SessionError::Forged)
        );
        assert_eq!(
            verify_session(b"k", "garbage", 999),
            Err(SessionError::Malformed)
        );
        let none = session_token(b"k", "abc123", "", 1000);
        assert_eq!(verify_session(b"k", &none, 5).unwrap().parent, "");
    }

    #[test]
    fn publishable_keys_have_their_own_shape() {
        assert!(is_publishable("pk_0123456789abcdef0123"));
        assert!(!is_publishable("sk_0123456789abcdef0123"));
        assert!(!is_publishable("pk_short"));
        assert!(!is_publishable("pk_0123456789abcdef012\""));
    }

    #[test]
    fn snippets_point_at_this_installation() {
        let (script, iframe) = snippets("https://studio.example/", "pk_x");
        assert!(script.contains("src=\"https://studio.example/embed/widget.js\" data-key=\"pk_x\""));
        assert!(iframe.contains("src=\"https://studio.example/embed/try-on?key=pk_x\""));
    }

    #[test]
    fn limit_windows() {
        assert_eq!(SHOPPER_RUNS.window(1205), (2, 595));
    }
}
