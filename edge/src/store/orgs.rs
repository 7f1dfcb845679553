//! The organizations, their members and their API keys: what sign-up, the Developer API page
//! and the operator's commands write.

use worker::Env;

use crate::bind;
use crate::crypto;
use crate::http::{now_ms, ApiResult};

/// The personal organization of `user_id`, made if missing.
pub async fn personal(env: &Env, user_id: &str, email: &str) -> ApiResult<String> {
    let org = format!("org_{user_id}");
    let now = now_ms() as f64;
    let db = env.d1(bind::DB)?;
    db.batch(vec![
        db.prepare(
            "INSERT OR IGNORE INTO organizations (id, name, owner_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&[org.clone().into(), email.into(), user_id.into(), now.into()])?,
        db.prepare(
            "INSERT OR IGNORE INTO org_members (org_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
        )
        .bind(&[org.clone().into(), user_id.into(), now.into()])?,
    ])
    .await?;
    Ok(org)
}

/// A new key's value: `atl_` and 48 hex digits (192 random bits).
pub fn new_key_value() -> String {
    format!("atl_{}", hex::encode(crypto::random_bytes::<24>()))
}

/// Inserts a key (only its SHA-256 is stored) and returns its id.
pub async fn insert_key(
    env: &Env,
    org_id: &str,
    user_id: &str,
    name: &str,
    value: &str,
    rate_limit_scale: f64,
) -> ApiResult<String> {
    let id = crypto::new_id();
    let prefix: String = value.chars().take(8).collect();
    env.d1(bind::DB)?
        .prepare(
            "INSERT OR IGNORE INTO api_keys (id, user_id, org_id, name, key_hash, prefix, created_at, rate_limit_scale) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            id.clone().into(),
            user_id.into(),
            org_id.into(),
            name.into(),
            crypto::key_hash(value).into(),
            prefix.into(),
            (now_ms() as f64).into(),
            rate_limit_scale.into(),
        ])?
        .run()
        .await?;
    Ok(id)
}
