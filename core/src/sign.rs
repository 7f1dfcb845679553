//! Signatures between the edge and inference nodes, and signed URLs.
//!
//! A signed request carries `x-atelier-timestamp` (unix seconds) and `x-atelier-signature`
//! (hex HMAC-SHA256 over `METHOD \n PATH \n TIMESTAMP \n hex(SHA-256(body))`). The receiver
//! refuses a timestamp outside the replay window; an inference node also remembers the
//! signatures it has accepted inside the window and refuses a second use.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const TIMESTAMP_HEADER: &str = "x-atelier-timestamp";
pub const SIGNATURE_HEADER: &str = "x-atelier-signature";
/// How far a signed request's timestamp may be from the receiver's clock, in seconds.
pub const REPLAY_WINDOW_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the request is not signed (missing {0} header)")]
    Missing(&'static str),
    #[error("the signature is malformed")]
    Malformed,
    #[error("the signature does not match the request")]
    Mismatch,
    #[error("the request's timestamp is outside the {REPLAY_WINDOW_SECS} s replay window")]
    Expired,
    #[error("this signed request was already used")]
    Replayed,
}

fn mac(key: &[u8], purpose: &str, message: &[u8]) -> HmacSha256 {
    // Derive a separate key per purpose so a URL signature can never pass as a job signature.
    let mut k = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    k.update(purpose.as_bytes());
    let derived = k.finalize().into_bytes();
    let mut m = HmacSha256::new_from_slice(&derived).expect("HMAC takes any key length");
    m.update(message);
    m
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn canonical(method: &str, path: &str, timestamp: u64, body: &[u8]) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        timestamp,
        sha256_hex(body)
    )
}

/// Signs a request; returns the hex signature for [`SIGNATURE_HEADER`].
pub fn sign_request(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
) -> String {
    let m = mac(
        secret,
        "atelier/request/v1",
        canonical(method, path, timestamp, body).as_bytes(),
    );
    hex::encode(m.finalize().into_bytes())
}

/// Verifies a signed request's signature and timestamp (not replay: that needs memory).
pub fn verify_request(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: u64,
) -> Result<u64, SignError> {
    let ts = timestamp.ok_or(SignError::Missing(TIMESTAMP_HEADER))?;
    let sig = signature.ok_or(SignError::Missing(SIGNATURE_HEADER))?;
    let ts: u64 = ts.trim().parse().map_err(|_| SignError::Malformed)?;
    let sig = hex::decode(sig.trim()).map_err(|_| SignError::Malformed)?;
    let m = mac(
        secret,
        "atelier/request/v1",
        canonical(method, path, ts, body).as_bytes(),
    );
    m.verify_slice(&sig).map_err(|_| SignError::Mismatch)?;
    if now_secs.abs_diff(ts) > REPLAY_WINDOW_SECS {
        return Err(SignError::Expired);
    }
    Ok(ts)
}

/// Signs `METHOD path` until `expires` (unix seconds); the query is `?exp=..&sig=..`.
pub fn sign_url(secret: &[u8], method: &str, path: &str, expires: u64) -> String {
    let msg = format!("{}\n{}\n{}", method.to_ascii_uppercase(), path, expires);
    hex::encode(
        mac(secret, "atelier/url/v1", msg.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Verifies a signed URL.
pub fn verify_url(
    secret: &[u8],
    method: &str,
    path: &str,
    expires: Option<&str>,
    signature: Option<&str>,
    now_secs: u64,
) -> Result<(), SignError> {
    let exp: u64 = expires
        .ok_or(SignError::Missing("exp"))?
        .parse()
        .map_err(|_| SignError::Malformed)?;
    let sig = hex::decode(signature.ok_or(SignError::Missing("sig"))?)
        .map_err(|_| SignError::Malformed)?;
    let msg = format!("{}\n{}\n{}", method.to_ascii_uppercase(), path, exp);
    mac(secret, "atelier/url/v1", msg.as_bytes())
        .verify_slice(&sig)
        .map_err(|_| SignError::Mismatch)?;
    if now_secs > exp {
        return Err(SignError::Expired);
    }
    Ok(())
}

/// Signs `message` for `purpose` (a name of its own, e.g. `"atelier/widget/v1"`, so a token of
/// one kind never passes as another): hex HMAC-SHA256 under a key derived from `secret`.
pub fn sign_message(secret: &[u8], purpose: &str, message: &str) -> String {
    hex::encode(
        mac(secret, purpose, message.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Checks a [`sign_message`] signature in constant time.
pub fn verify_message(secret: &[u8], purpose: &str, message: &str, signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature) else {
        return false;
    };
    mac(secret, purpose, message.as_bytes())
        .verify_slice(&sig)
        .is_ok()
}

/// A webhook's signature: hex HMAC-SHA256 over `"{timestamp}.{body}"`, keyed with the hex
/// SHA-256 of the API key that made the prediction (so a receiver that knows its key can verify).
pub fn webhook_signature(key_hash_hex: &str, timestamp: u64, body: &[u8]) -> String {
    let mut m =
        HmacSha256::new_from_slice(key_hash_hex.as_bytes()).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const K: &[u8] = b"secret";

    #[test]
    fn request_round_trip_and_tamper() {
        let s = sign_request(K, "post", "/v1/jobs", 1000, b"{}");
        assert_eq!(
            verify_request(K, "POST", "/v1/jobs", Some("1000"), Some(&s), b"{}", 1100),
            Ok(1000)
        );
        assert_eq!(
            verify_request(K, "POST", "/v1/jobs", Some("1000"), Some(&s), b"{ }", 1100),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_request(K, "POST", "/v1/other", Some("1000"), Some(&s), b"{}", 1100),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_request(
                b"other",
                "POST",
                "/v1/jobs",
                Some("1000"),
                Some(&s),
                b"{}",
                1100
            ),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_request(
                K,
                "POST",
                "/v1/jobs",
                Some("1000"),
                Some(&s),
                b"{}",
                1000 + 301
            ),
            Err(SignError::Expired)
        );
        assert_eq!(
            verify_request(K, "POST", "/v1/jobs", None, Some(&s), b"{}", 1000),
            Err(SignError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify_request(K, "POST", "/v1/jobs", Some("1000"), Some("zz"), b"{}", 1000),
            Err(SignError::Malformed)
        );
    }

    #[test]
    fn webhook_signature_is_plain_hmac_sha256() {
        // RFC 4231 test case 2 with key "Jefe": message "what do ya want for nothing?".
        let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = webhook_signature("k", 10, b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, webhook_signature("k", 11, b"{}"));
    }

    #[test]
    fn url_signature_is_not_a_request_signature() {
        let u = sign_url(K, "GET", "/api/blobs/a", 2000);
        assert!(verify_url(K, "GET", "/api/blobs/a", Some("2000"), Some(&u), 1999).is_ok());
        assert_eq!(
            verify_url(K, "PUT", "/api/blobs/a", Some("2000"), Some(&u), 1999),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_url(K, "GET", "/api/blobs/a", Some("2001"), Some(&u), 1999),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_url(K, "GET", "/api/blobs/a", Some("2000"), Some(&u), 2001),
            Err(SignError::Expired)
        );
    }
}
