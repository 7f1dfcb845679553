//! Organizations and what the Developer API page manages: API keys (created — the value shown
//! once —, renamed, listed, revoked) and the request history of the organization's predictions.
//!
//! Every account has a personal organization, `org_<user id>`, made on sign-up (and lazily for
//! accounts older than organizations). API keys, API predictions and the API balance (the
//! owner of record's API ledger) belong to the organization the request acts in; only its
//! owners manage them. Members and invites are `members`.

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use atelier_core::job::JobStatus;
use atelier_core::views::{ErrorView, KeyRefView, Page, RequestView};

use crate::bind;
use crate::http::{json, json_body, now_ms, same_origin, ApiError, ApiResult};
use crate::store::orgs::{insert_key, new_key_value};

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

/// The member and the organization the request acts in; its keys and requests are the
/// owners' (403 for collaborators).
async fn org_of(req: &Request, env: &Env) -> ApiResult<(String, String)> {
    let a = crate::auth::acting(req, env).await?;
    a.require(atelier_core::org::Action::ApiKeys)?;
    Ok((a.user.id, a.org))
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

/// `GET /api/requests?model=&status=&key=&before=&limit=`: the organization's API predictions,
/// newest first — time, model, status, credits, duration, error, key — filtered and paged.
pub async fn history(req: &Request, env: &Env) -> ApiResult<Response> {
    let (_, org) = org_of(req, env).await?;
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let filter = crate::store::generations::HistoryFilter {
        model: q.get("model").map(String::as_str).filter(|s| !s.is_empty()),
        status: q
            .get("status")
            .map(String::as_str)
            .filter(|s| !s.is_empty()),
        key_id: q.get("key").map(String::as_str).filter(|s| !s.is_empty()),
    };
    let (limit, before) = crate::http::page_params(req, 50, 200)?;
    let rows = crate::store::generations::api_history(env, &org, &filter, before, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.created_at).map(|r| RequestView {
        status: JobStatus::parse(&r.status).unwrap_or(JobStatus::Failed),
        duration_ms: r.completed_at.map(|c| (c - r.created_at).max(0.0)),
        credits_used: r.credits_used(),
        error: r.error_name.clone().map(|name| ErrorView {
            name,
            message: r.error_message.clone(),
        }),
        key: r.key_name.clone().map(|name| KeyRefView {
            name,
            prefix: r.key_prefix.clone(),
        }),
        id: r.id,
        model_name: r.model_name,
        created_at: r.created_at,
    });
    json(
        200,
        &json!({"requests": page.items, "next_before": page.next_before}),
    )
}
