//! `cargo xtask admin …`: operator commands against a running local instance, sent to the
//! edge's internal admin endpoint signed with the job secret from `.dev.vars`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atelier_core::sign;

use crate::setup::{job_secret, Env, R};

/// A signed POST to the edge on 127.0.0.1:`port`; returns (status, body).
pub fn signed_post(e: &Env, port: u16, path: &str, body: &serde_json::Value) -> R<(u16, String)> {
    let body = body.to_string();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|x| x.to_string())?
        .as_secs();
    let sig = sign::sign_request(job_secret(e)?.as_bytes(), "POST", path, ts, body.as_bytes());
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|x| {
        format!("cannot reach the edge on 127.0.0.1:{port} ({x}); is `cargo xtask dev` running?")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|x| x.to_string())?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}: {ts}\r\n{}: {sig}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        sign::TIMESTAMP_HEADER,
        sign::SIGNATURE_HEADER
    )
    .map_err(|x| x.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|x| x.to_string())?;
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let text = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Bodies may arrive chunked: take the JSON object inside.
    let json = match (text.find('{'), text.rfind('}')) {
        (Some(a), Some(b)) if b >= a => text[a..=b].to_string(),
        _ => text,
    };
    Ok((status, json))
}

/// Creates (or reuses) the account for `email` and a new API key; returns the key.
pub fn create_key(
    e: &Env,
    port: u16,
    email: &str,
    key: Option<&str>,
    fixture: Option<&str>,
    api_credits: Option<u64>,
    rate_limit_scale: Option<f64>,
) -> R<String> {
    let mut body = serde_json::json!({"email": email});
    if let Some(s) = rate_limit_scale {
        body["rate_limit_scale"] = s.into();
    }
    if let Some(n) = api_credits {
        body["api_credits"] = n.into();
    }
    if let Some(k) = key {
        body["key"] = k.into();
    }
    if let Some(f) = fixture {
        body["fixture_prediction"] = f.into();
    }
    let (status, text) = signed_post(e, port, "/api/internal/admin/keys", &body)?;
    if status != 201 {
        return Err(format!("create-key failed ({status}): {text}"));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|x| format!("{x}: {text}"))?;
    v["key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no key in {text}"))
}

const USAGE: &str = "usage: cargo xtask admin create-key --email E [--rate-limit-scale X] [--port 8787]\n       cargo xtask admin set-credits --email E [--api N] [--app N] [--port 8787]\n       cargo xtask admin set-plan --email E [--plan free|basic|pro|agency|agency_2x] [--tier on_demand|tier1|tier2|tier3] [--annual] [--port 8787]\n       cargo xtask admin library-add --kind face|background|packshot-reference|model --name N --file F [--port 8787]\n       cargo xtask admin seed-gallery --email E --count N [--port 8787]\n       cargo xtask admin create-widget-key --email E --origin https://shop.example [--origin …] [--retention-hours 24] [--name N] [--port 8787]";

/// The repository's starter libraries: `library/<folder>/<file>` by kind.
const LIBRARY: [(&str, &str); 4] = [
    ("faces", "face"),
    ("backgrounds", "background"),
    ("packshot-references", "packshot-reference"),
    ("models", "model"),
];

/// Adds one image to a starter library of the instance on `port`.
pub fn library_add(e: &Env, port: u16, kind: &str, name: &str, file: &Path) -> R<()> {
    use base64::Engine;
    let bytes = std::fs::read(file).map_err(|x| format!("{}: {x}", file.display()))?;
    let body = serde_json::json!({
        "kind": kind, "name": name,
        "image": base64::engine::general_purpose::STANDARD.encode(bytes),
    });
    let (status, text) = signed_post(e, port, "/api/internal/admin/library", &body)?;
    if status != 201 {
        return Err(format!(
            "library-add {} failed ({status}): {text}",
            file.display()
        ));
    }
    Ok(())
}

/// Fills the Gallery of `email` (an existing account) with `count` synthetic completed results
/// made of the repository's starter-library photos, in chunks the edge records one statement
/// each (`POST /api/internal/admin/seed-gallery`): what the Gallery benchmark pages through.
pub fn seed_gallery(e: &Env, port: u16, email: &str, count: u64) -> R<()> {
    use base64::Engine;
    let mut images = vec![];
    for (dir, _) in LIBRARY {
        let Ok(entries) = std::fs::read_dir(e.root.join("library").join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|f| f.ok().map(|f| f.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).map_err(|x| format!("{}: {x}", f.display()))?;
            images.push(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    const CHUNK: u64 = 250;
    let mut start = 0;
    while start < count {
        let n = CHUNK.min(count - start);
        let body =
            serde_json::json!({"email": email, "count": n, "start": start, "images": images});
        let (status, text) = signed_post(e, port, "/api/internal/admin/seed-gallery", &body)?;
        if status != 201 {
            return Err(format!("seed-gallery failed at {start} ({status}): {text}"));
        }
        start += n;
    }
    Ok(())
}

/// The name of a library file: its stem, dashes as spaces, first letter upper case.
pub fn item_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
        .unwrap_or_default();
    let mut c = stem.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Adds the repository's `library/` to the instance on `port` (idempotent); returns how many.
pub fn seed_library(e: &Env, port: u16) -> R<usize> {
    let mut n = 0;
    for (dir, kind) in LIBRARY {
        let Ok(entries) = std::fs::read_dir(e.root.join("library").join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|f| f.ok().map(|f| f.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| matches!(x.to_str(), Some("jpg" | "jpeg" | "png" | "webp")))
            })
            .collect();
        files.sort();
        // One bad file is reported and skipped; the stack still starts.
        for f in files {
            match library_add(e, port, kind, &item_name(&f), &f) {
                Ok(()) => n += 1,
                Err(why) => eprintln!("warning: starter library: {why}"),
            }
        }
    }
    Ok(n)
}

/// `cargo xtask admin create-key …`, `set-credits …`, `set-plan …`
pub fn main(e: &Env, args: &[String]) -> R<()> {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let port: u16 = flag("--port")
        .map(|p| p.parse().map_err(|_| "--port takes a number"))
        .transpose()?
        .unwrap_or(8787);
    match args.first().map(String::as_str) {
        Some("create-key") => {
            let email = flag("--email").ok_or(USAGE)?;
            let scale = flag("--rate-limit-scale")
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| "--rate-limit-scale takes a number, e.g. 10")
                })
                .transpose()?;
            println!("{}", create_key(e, port, &email, None, None, None, scale)?);
            Ok(())
        }
        Some("create-widget-key") => {
            let email = flag("--email").ok_or(USAGE)?;
            // Every `--origin X`, in order.
            let origins: Vec<&String> = args
                .windows(2)
                .filter(|w| w[0] == "--origin")
                .map(|w| &w[1])
                .collect();
            if origins.is_empty() {
                return Err(format!(
                    "create-widget-key needs at least one --origin\n{USAGE}"
                ));
            }
            let mut body = serde_json::json!({"email": email, "origins": origins});
            if let Some(h) = flag("--retention-hours") {
                body["retention_hours"] = h
                    .parse::<f64>()
                    .map_err(|_| "--retention-hours takes a whole number, e.g. 24")?
                    .into();
            }
            if let Some(n) = flag("--name") {
                body["name"] = n.into();
            }
            let (status, text) = signed_post(e, port, "/api/internal/admin/widget-keys", &body)?;
            if status != 201 {
                return Err(format!("create-widget-key failed ({status}): {text}"));
            }
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|x| format!("{x}: {text}"))?;
            // Only the key, so scripts can capture it.
            println!(
                "{}",
                v["key"]
                    .as_str()
                    .ok_or_else(|| format!("no key in {text}"))?
            );
            Ok(())
        }
        Some("set-credits") => {
            let email = flag("--email").ok_or(USAGE)?;
            let mut body = serde_json::json!({"email": email, "no_key": true});
            for (f, k) in [("--api", "api_credits"), ("--app", "app_credits")] {
                if let Some(v) = flag(f) {
                    body[k] = v
                        .parse::<u64>()
                        .map_err(|_| format!("{f} takes a whole number"))?
                        .into();
                }
            }
            let (status, text) = signed_post(e, port, "/api/internal/admin/keys", &body)?;
            if status != 200 {
                return Err(format!("set-credits failed ({status}): {text}"));
            }
            println!("credits set for {email}");
            Ok(())
        }
        Some("set-plan") => {
            let email = flag("--email").ok_or(USAGE)?;
            let mut body = serde_json::json!({"email": email});
            if let Some(p) = flag("--plan") {
                body["plan"] = p.into();
            }
            if let Some(t) = flag("--tier") {
                body["tier"] = t.into();
            }
            if body.get("plan").is_none() && body.get("tier").is_none() {
                return Err(USAGE.into());
            }
            if args.iter().any(|a| a == "--annual") {
                body["interval"] = "annual".into();
            }
            let (status, text) = signed_post(e, port, "/api/internal/admin/plan", &body)?;
            if status != 200 {
                return Err(format!("set-plan failed ({status}): {text}"));
            }
            println!("plan set for {email}");
            Ok(())
        }
        Some("library-add") => {
            let kind = flag("--kind").ok_or(USAGE)?;
            let file = std::path::PathBuf::from(flag("--file").ok_or(USAGE)?);
            let name = flag("--name").unwrap_or_else(|| item_name(&file));
            library_add(e, port, &kind, &name, &file)?;
            println!(
                "added {} to the {kind} library as \"{name}\"",
                file.display()
            );
            Ok(())
        }
        Some("seed-gallery") => {
            let email = flag("--email").ok_or(USAGE)?;
            let count: u64 = flag("--count")
                .ok_or(USAGE)?
                .parse()
                .map_err(|_| "--count takes a whole number, e.g. 10000")?;
            let t = std::time::Instant::now();
            seed_gallery(e, port, &email, count)?;
            println!(
                "seeded {count} results into the Gallery of {email} in {:.0}s",
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_items_are_named_after_their_files() {
        assert_eq!(
            item_name(Path::new("library/faces/man-in-a-wide-brimmed-hat.jpg")),
            "Man in a wide brimmed hat"
        );
        assert_eq!(item_name(Path::new("x/studio_grey.png")), "Studio grey");
    }
}
