//! The bodies of the fuzz targets (`fuzz/`: cargo-fuzz, libFuzzer). They live here so that a
//! stable test (`fuzz_corpus_replays` below) runs every input of `fuzz/corpus/` and every crash
//! kept in `fuzz/regressions/` through them on each `cargo xtask test`, without nightly. Each
//! target panics only on a real bug: whatever the input, no panic, and the invariants asserted.

use crate::catalog::{self, Context};
use crate::image::{decode_data_uri, inspect, sniff_format, UploadLimits};
use crate::pricing::{Plan, Surface};
use crate::sign;
use serde_json::Value;

/// Tight limits, so that the size checks are reached by small inputs.
const LIMITS: UploadLimits = UploadLimits {
    max_bytes: 1 << 20,
    max_side: 4096,
    min_side: 1,
    max_pixels: 4_000_000,
};

/// The image input path: a data URI's parsing, then sniffing and the header-only checks (PNG
/// chunks, JPEG segments, WebP RIFF, MP4 boxes) with their size limits. Never decodes pixels.
pub fn image_input(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode_data_uri(text, LIMITS.max_bytes) {
            check_image(&bytes);
        }
    }
    // Any bytes round-trip through a data URI exactly.
    use base64::Engine;
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    match decode_data_uri(&uri, LIMITS.max_bytes) {
        Ok(back) => assert_eq!(back, data),
        Err(e) => assert!(data.len() as u64 > LIMITS.max_bytes, "{e}"),
    }
    check_image(data);
}

fn check_image(bytes: &[u8]) {
    match inspect(bytes, &LIMITS) {
        Ok(info) => {
            assert_eq!(Some(info.format), sniff_format(bytes));
            assert!(info.width >= LIMITS.min_side && info.width <= LIMITS.max_side);
            assert!(info.height >= LIMITS.min_side && info.height <= LIMITS.max_side);
            assert!(info.pixels() <= LIMITS.max_pixels);
        }
        Err(p) => {
            assert!((400..500).contains(&p.http_status()), "{p:?}");
            assert!(!p.code().is_empty() && !p.to_string().is_empty());
        }
    }
    if let Ok(mp4) = crate::video::inspect_mp4(bytes, LIMITS.max_bytes) {
        let _ = format!("{mp4:?}");
    }
}

/// Core's validation of arbitrary JSON: a `/v1/run` body (`model_name`, `inputs`) on the API
/// and on every plan, a Studio body (`tool`, `inputs`, `params`), and what a node parses (a job,
/// an event). A refusal names at least one field; what is accepted is a well-formed request
/// that survives a round trip through its stored form.
pub fn request_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = serde_json::from_value::<crate::job::JobRequest>(v.clone());
    let _ = serde_json::from_value::<crate::job::JobEvent>(v.clone());
    let Some(obj) = v.as_object() else { return };
    let empty = serde_json::Map::new();
    let inputs = obj
        .get("inputs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(model) = obj.get("model_name").and_then(Value::as_str) {
        let contexts = [Context {
            surface: Surface::Api,
            plan: None,
        }]
        .into_iter()
        .chain(Plan::ALL.into_iter().map(|p| Context {
            surface: Surface::App,
            plan: Some(p),
        }));
        for ctx in contexts {
            match catalog::resolve_api(model, inputs, ctx) {
                Ok((m, r)) => {
                    assert_eq!(m.tool(), r.tool());
                    let stored = serde_json::to_string(&r).expect("a resolved request serializes");
                    let back: catalog::Resolved =
                        serde_json::from_str(&stored).expect("a stored request reads back");
                    // The price override is not stored: the price is, with the generation.
                    assert_eq!(
                        back,
                        catalog::Resolved {
                            fixed_override: None,
                            ..r
                        }
                    );
                }
                Err(errors) => {
                    assert!(!errors.is_empty());
                    assert!(errors
                        .iter()
                        .all(|e| !e.path.is_empty() && !e.message.is_empty()));
                }
            }
        }
    }
    if let Ok(body) = serde_json::from_value::<crate::studio::GenerationRequest>(v.clone()) {
        match crate::studio::validate_generation_with(&body, &|_| true) {
            Ok(valid) => {
                let treq = valid.request(1024, 1536);
                for plan in Plan::ALL {
                    let ctx = Context {
                        surface: Surface::App,
                        plan: Some(plan),
                    };
                    if let Err(errors) = catalog::validate(valid.tool, &treq, ctx) {
                        assert!(!catalog::in_studio(errors).is_empty());
                    }
                }
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
}

/// The job-signature verifier (node ↔ edge requests, signed URLs): any header values, paths and
/// bodies are refused without panicking, and what is signed verifies, once changed does not.
pub fn signature(data: &[u8]) {
    let secret = b"fuzz-secret";
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (ts, sig, path, body) = (
        parts.next(),
        parts.next(),
        parts.next().unwrap_or("/v1/jobs"),
        parts.next().unwrap_or("").as_bytes(),
    );
    let now = 1_800_000_000;
    // Arbitrary headers are refused (a forged signature matches only by a 2^-256 chance).
    assert!(sign::verify_request(secret, "POST", path, ts, sig, body, now).is_err());
    let _ = sign::verify_url(secret, "GET", path, ts, sig, now);
    // What is signed verifies; another body, path or time does not.
    let good = sign::sign_request(secret, "POST", path, now, body);
    let stamp = now.to_string();
    assert_eq!(
        sign::verify_request(secret, "POST", path, Some(&stamp), Some(&good), body, now),
        Ok(now)
    );
    let mut other = body.to_vec();
    other.push(b'x');
    assert!(
        sign::verify_request(secret, "POST", path, Some(&stamp), Some(&good), &other, now).is_err()
    );
    assert!(sign::verify_request(
        secret,
        "POST",
        path,
        Some(&stamp),
        Some(&good),
        body,
        now + 3600
    )
    .is_err());
    let url_sig = sign::sign_url(secret, "GET", path, now + 60);
    let exp = (now + 60).to_string();
    assert!(sign::verify_url(secret, "GET", path, Some(&exp), Some(&url_sig), now).is_ok());
    assert!(sign::verify_url(secret, "PUT", path, Some(&exp), Some(&url_sig), now).is_err());
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every fuzz target by its name in `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Target); 3] = [
    ("image_input", image_input),
    ("request_json", request_json),
    ("signature", signature),
];

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Every corpus input and every kept crash of every target, through the target.
    #[test]
    fn fuzz_corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut ran = 0;
        for (name, target) in TARGETS {
            let mut files = vec![];
            for dir in ["corpus", "regressions"] {
                if let Ok(rd) = std::fs::read_dir(root.join(dir).join(name)) {
                    files.extend(rd.flatten().map(|d| d.path()));
                }
            }
            assert!(!files.is_empty(), "fuzz/corpus/{name} has seeds");
            for f in files {
                let data = std::fs::read(&f).unwrap();
                let r = std::panic::catch_unwind(|| target(&data));
                assert!(r.is_ok(), "{name} panics on {}", f.display());
                ran += 1;
            }
        }
        assert!(ran >= 10, "{ran} inputs");
    }

    #[test]
    fn data_uris_decode_or_name_the_problem() {
        let png = b"\x89PNG\r\n\x1a\n";
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        assert_eq!(
            decode_data_uri(&format!(" DATA:image/png;base64, {b64} \n"), 100).unwrap(),
            png
        );
        assert!(decode_data_uri("data:image/png,abc", 100)
            .unwrap_err()
            .contains("Invalid data URI"));
        assert!(decode_data_uri("data:image/png;base64,@@@", 100)
            .unwrap_err()
            .contains("base64 data is invalid"));
        assert!(decode_data_uri("https://x/y.png", 100).is_err());
        let big = "A".repeat(400);
        assert!(
            decode_data_uri(&format!("data:image/png;base64,{big}"), 100)
                .unwrap_err()
                .contains("over the 100-byte limit")
        );
    }
}
