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

/// A member row of an organization, with the account's e-mail and name.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub created_at: f64,
}

/// The members of `org_id`, owners first, then by when they joined.
pub async fn members(env: &Env, org_id: &str) -> ApiResult<Vec<MemberRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT m.user_id AS user_id, u.email AS email, u.name AS name, m.role AS role, \
             m.created_at AS created_at FROM org_members m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = ?1 ORDER BY m.role = 'owner' DESC, m.created_at, u.email",
        )
        .bind(&[org_id.into()])?
        .all()
        .await?
        .results()?)
}

/// The organizations `user_id` belongs to, with its role there.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MembershipRow {
    pub id: String,
    pub name: String,
    pub role: String,
}

pub async fn memberships(env: &Env, user_id: &str) -> ApiResult<Vec<MembershipRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT o.id AS id, o.name AS name, m.role AS role \
             FROM org_members m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ?1 \
             ORDER BY o.owner_id = ?1 DESC, o.name",
        )
        .bind(&[user_id.into()])?
        .all()
        .await?
        .results()?)
}

/// An open (not accepted, not expired) invite.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct InviteRow {
    pub id: String,
    pub org_id: String,
    pub email: Option<String>,
    pub created_by: String,
    pub created_at: f64,
    pub expires_at: f64,
    pub accepted_by: Option<String>,
}

pub async fn open_invites(env: &Env, org_id: &str) -> ApiResult<Vec<InviteRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT id, org_id, email, created_by, created_at, expires_at, accepted_by FROM org_invites \
             WHERE org_id = ?1 AND accepted_by IS NULL AND expires_at > ?2 ORDER BY created_at DESC",
        )
        .bind(&[org_id.into(), (now_ms() as f64).into()])?
        .all()
        .await?
        .results()?)
}

/// The invite whose token hashes to `token_hash`, whatever its state.
pub async fn invite_by_token(env: &Env, token_hash: &str) -> ApiResult<Option<InviteRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT id, org_id, email, created_by, created_at, expires_at, accepted_by FROM org_invites \
             WHERE token_hash = ?1",
        )
        .bind(&[token_hash.into()])?
        .first(None)
        .await?)
}
