//! Randomness (the runtime's CSPRNG), ids, and password hashing (Argon2id in Wasm, the same
//! locally and deployed; parameters stored in each PHC string so they can be raised later).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use wasm_bindgen::JsCast;

/// OWASP's first choice: m = 19 MiB, t = 2, p = 1.
const M_KIB: u32 = 19 * 1024;
const T: u32 = 2;
const P: u32 = 1;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    scope
        .crypto()
        .and_then(|c| c.get_random_values_with_u8_array(&mut buf))
        .expect("the Workers runtime provides crypto.getRandomValues");
    buf
}

/// A new random id: 16 random bytes as 32 hex characters.
pub fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(M_KIB, T, P, None).expect("valid params"),
    )
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies with the algorithm and parameters stored in the hash itself.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A dummy hash to verify against when the account does not exist, so timing does not tell.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2lZ5Vq6Rj8lqGV2pJm2n1bqZk8mQXkP6aQ3r7mI0Vx4";

/// What D1 keeps of an API key: its SHA-256 (the key itself is shown once).
pub fn key_hash(key: &str) -> String {
    atelier_core::sign::sha256_hex(key.as_bytes())
}
