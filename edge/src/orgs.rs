//! Organizations and what the Developer API page manages: API keys (created — the value shown
//! once —, renamed, listed, revoked) and the request history of the organization's predictions.
//!
//! Every account has a personal organization, `org_<user id>`, made on sign-up (and lazily for
//! accounts older than organizations). API keys, API predictions and the API balance (the
//! owner's API ledger) belong to the organization.

use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::auth::require_user;
use crate::bind;
use crate::crypto;
use crate::http::{json, json_body, now_ms, same_origin, ApiError, ApiResult};

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
            crate::api::key_hash(value).into(),
            prefix.into(),
            (now_ms() as f64).into(),
            rate_limit_scale.into(),
        ])?
        .run()
        .await?;
    Ok(id)
}

fn clean_name(name: Option<&str>) -> ApiResult<String> {
    let name = name.unwrap_or("").trim();
    if name.is_empty() {
        return Ok("Untitled key".into());
    }
    if name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            400,
            "invalid_name",
            "A key name is at most 60 characters, without control characters.",
        ));
    }
    Ok(name.into())
}

#[derive(Deserialize)]
struct NameBody {
    name: Option<String>,
}

/// The signed-in user's organization (personal for now).
async fn org_of(req: &Request, env: &Env) -> ApiResult<(String, String)> {
    let user = require_user(req, env).await?;
    let org = personal(env, &user.id, &user.email).await?;
    Ok((user.id, org))
}

/// Runs an UPDATE and returns how many rows it changed.
async fn rows_changed(env: &Env, sql: &str, binds: &[JsValue]) -> ApiResult<usize> {
    Ok(env
        .d1(bind::DB)?
        .prepare(sql)
        .bind(binds)?
        .run()
        .await?
        .meta()?
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// `POST /api/keys {name}` → 201 with the key's value, shown this once.
pub async fn create(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let (user_id, org) = org_of(&req, env).await?;
    let body: NameBody = json_body(&mut req).await?;
    let name = clean_name(body.name.as_deref())?;
    let live: f64 = env
        .d1(bind::DB)?
        .prepare("SELECT COUNT(*) AS n FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL")
        .bind(&[org.clone().into()])?
        .first(Some("n"))
        .await?
        .unwrap_or(0.0);
    if live >= 25.0 {
        return Err(ApiError::new(
            409,
            "too_many_keys",
            "An organization has at most 25 active keys; revoke one first.",
        ));
    }
    let value = new_key_value();
    let id = insert_key(env, &org, &user_id, &name, &value, 1.0).await?;
    json(
        201,
        &json!({"id": id, "name": name, "key": value, "prefix": &value[..8]}),
    )
}

#[derive(Deserialize, serde::Serialize)]
struct KeyListRow {
    id: String,
    name: String,
    prefix: String,
    created_at: f64,
    last_used_at: Option<f64>,
    revoked_at: Option<f64>,
}

/// `GET /api/keys`: the organization's keys, newest first (never their values).
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let (_, org) = org_of(req, env).await?;
    let rows: Vec<KeyListRow> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys \
             WHERE org_id = ?1 ORDER BY created_at DESC",
        )
        .bind(&[org.into()])?
        .all()
        .await?
        .results()?;
    json(200, &json!({"keys": rows}))
}

/// `PATCH /api/keys/{id} {name}`: renames a key.
pub async fn rename(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let (_, org) = org_of(&req, env).await?;
    let body: NameBody = json_body(&mut req).await?;
    let name = clean_name(body.name.as_deref())?;
    let changed = rows_changed(
        env,
        "UPDATE api_keys SET name = ?1 WHERE id = ?2 AND org_id = ?3",
        &[name.clone().into(), id.into(), org.into()],
    )
    .await?;
    if changed == 0 {
        return Err(ApiError::new(404, "not_found", "There is no such key."));
    }
    json(200, &json!({"id": id, "name": name}))
}

/// `DELETE /api/keys/{id}`: revokes a key at once (it stays listed, marked revoked).
pub async fn revoke(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let (_, org) = org_of(req, env).await?;
    let changed = rows_changed(
        env,
        "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND org_id = ?3 AND revoked_at IS NULL",
        &[(now_ms() as f64).into(), id.into(), org.into()],
    )
    .await?;
    if changed == 0 {
        return Err(ApiError::new(
            404,
            "not_found",
            "There is no such active key.",
        ));
    }
    json(200, &json!({"id": id, "revoked": true}))
}

#[derive(Deserialize)]
struct HistoryRow {
    id: String,
    model_name: Option<String>,
    status: String,
    created_at: f64,
    completed_at: Option<f64>,
    credits_per_output: f64,
    outputs: String,
    error_name: Option<String>,
    error_message: Option<String>,
    key_name: Option<String>,
    key_prefix: Option<String>,
}

/// `GET /api/requests?model=&status=&key=&before=&limit=`: the organization's API predictions,
/// newest first — time, model, status, credits, duration, error, key — filtered and paged.
pub async fn history(req: &Request, env: &Env) -> ApiResult<Response> {
    let (_, org) = org_of(req, env).await?;
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let mut sql = String::from(
        "SELECT g.id, g.model_name, g.status, g.created_at, g.completed_at, g.credits_per_output, \
         g.outputs, g.error_name, g.error_message, k.name AS key_name, k.prefix AS key_prefix \
         FROM generations g LEFT JOIN api_keys k ON k.id = g.api_key_id \
         WHERE g.org_id = ?1 AND g.source = 'api'",
    );
    let mut binds: Vec<JsValue> = vec![org.into()];
    let mut conds: Vec<(&str, JsValue)> = vec![];
    if let Some(m) = q.get("model").filter(|s| !s.is_empty()) {
        conds.push((" AND g.model_name = ?", m.as_str().into()));
    }
    match q.get("status").map(String::as_str) {
        None | Some("") => {}
        Some("active") => sql.push_str(" AND g.status IN ('starting', 'in_queue', 'processing')"),
        Some(s) => conds.push((" AND g.status = ?", s.into())),
    }
    if let Some(k) = q.get("key").filter(|s| !s.is_empty()) {
        conds.push((" AND g.api_key_id = ?", k.as_str().into()));
    }
    let (limit, before) = crate::http::page_params(req, 50, 200)?;
    if before < f64::MAX {
        conds.push((" AND g.created_at < ?", before.into()));
    }
    for (cond, v) in conds {
        binds.push(v);
        sql.push_str(&cond.replace('?', &format!("?{}", binds.len())));
    }
    sql.push_str(&format!(" ORDER BY g.created_at DESC LIMIT {}", limit + 1));
    let rows: Vec<HistoryRow> = env
        .d1(bind::DB)?
        .prepare(&sql)
        .bind(&binds)?
        .all()
        .await?
        .results()?;
    let more = rows.len() > limit as usize;
    let items: Vec<Value> = rows
        .iter()
        .take(limit as usize)
        .map(|r| {
            let outputs = serde_json::from_str::<Vec<Value>>(&r.outputs)
                .map(|o| o.len())
                .unwrap_or(0);
            let credits = if r.status == "completed" {
                (r.credits_per_output * outputs as f64) as u64
            } else {
                0
            };
            json!({
                "id": r.id,
                "model_name": r.model_name,
                "status": r.status,
                "created_at": r.created_at,
                "duration_ms": r.completed_at.map(|c| (c - r.created_at).max(0.0)),
                "credits_used": credits,
                "error": r.error_name.as_ref().map(|n| json!({"name": n, "message": r.error_message})),
                "key": r.key_name.as_ref().map(|n| json!({"name": n, "prefix": r.key_prefix})),
            })
        })
        .collect();
    let next = more
        .then(|| items.last().map(|i| i["created_at"].clone()))
        .flatten();
    json(200, &json!({"requests": items, "next_before": next}))
}
