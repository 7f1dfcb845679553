//! The Account page: profile (display name, a square profile picture in R2, e-mail), and the
//! Danger Zone's Delete Account, which removes every row and R2 object of the account and of the
//! organizations it owns. Members of those organizations lose access and keep their accounts;
//! what the account made in others' organizations stays with them.

use atelier_core::org::{clean_name, display_name};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, HttpMetadata, Request, Response};

use crate::auth::{acting, require_user, COOKIE};
use crate::bind;
use crate::http::{
    json, json_body, now_ms, r2_response, same_origin, set_headers, ApiError, ApiResult,
};
use crate::store::generations::{output_key, thumb_key, Row, COLUMNS};

/// The largest profile picture side kept (the app crops and scales to 256).
const AVATAR_MAX: u32 = 1024;

fn avatar_key(user_id: &str) -> String {
    format!("avatars/{user_id}")
}

#[derive(Serialize, Deserialize)]
struct OwnedOrg {
    id: String,
    name: String,
    members: f64,
}

#[derive(Deserialize)]
struct ProfileRow {
    name: Option<String>,
    avatar_at: Option<f64>,
}

async fn owned_orgs(env: &Env, user_id: &str) -> ApiResult<Vec<OwnedOrg>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT o.id AS id, o.name AS name, (SELECT COUNT(*) FROM org_members m WHERE m.org_id = o.id) AS members \
             FROM organizations o WHERE o.owner_id = ?1 ORDER BY o.created_at",
        )
        .bind(&[user_id.into()])?
        .all()
        .await?
        .results()?)
}

/// `GET /api/account`: the profile, and the organizations a deletion would take with it.
pub async fn get(req: &Request, env: &Env) -> ApiResult<Response> {
    let a = acting(req, env).await?;
    let p: Option<ProfileRow> = env
        .d1(bind::DB)?
        .prepare("SELECT name, avatar_at FROM users WHERE id = ?1")
        .bind(&[a.user.id.clone().into()])?
        .first(None)
        .await?;
    let p = p.ok_or_else(ApiError::unauthorized)?;
    json(
        200,
        &json!({
            "id": a.user.id,
            "email": a.user.email,
            "name": p.name,
            "display_name": display_name(p.name.as_deref(), &a.user.email),
            "avatar_url": p.avatar_at.map(|t| format!("/api/account/avatar?v={t}")),
            "created_at": a.user.created_at,
            "owned_organizations": owned_orgs(env, &a.user.id).await?,
        }),
    )
}

#[derive(Deserialize)]
struct ProfileBody {
    #[serde(default)]
    name: Option<String>,
}

/// `PATCH /api/account {name}`: the display name (empty clears it).
pub async fn patch(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = require_user(&req, env).await?;
    let body: ProfileBody = json_body(&mut req).await?;
    let name = match body.name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) => Some(clean_name("name", n).map_err(|e| ApiError::validation(vec![e]))?),
    };
    env.d1(bind::DB)?
        .prepare("UPDATE users SET name = ?2 WHERE id = ?1")
        .bind(&[
            user.id.clone().into(),
            name.clone().map(JsValue::from).unwrap_or(JsValue::NULL),
        ])?
        .run()
        .await?;
    json(
        200,
        &json!({"name": name, "display_name": display_name(name.as_deref(), &user.email)}),
    )
}

/// `PUT /api/account/avatar` (a square PNG, JPEG or WebP, at most 1024 px; the app crops it):
/// the profile picture, in R2.
pub async fn put_avatar(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = require_user(&req, env).await?;
    let (bytes, info) = crate::assets::read_image(&mut req).await?;
    if info.width != info.height || info.width > AVATAR_MAX {
        return Err(ApiError::new(
            400,
            "invalid_avatar",
            format!(
                "A profile picture is square and at most {AVATAR_MAX} px; this one is {}×{}. Crop it square first.",
                info.width, info.height
            ),
        ));
    }
    env.bucket(bind::BLOBS)?
        .put(avatar_key(&user.id), bytes)
        .http_metadata(HttpMetadata {
            content_type: Some(info.format.mime().into()),
            ..Default::default()
        })
        .execute()
        .await?;
    let at = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare("UPDATE users SET avatar_at = ?2 WHERE id = ?1")
        .bind(&[user.id.into(), at.into()])?
        .run()
        .await?;
    json(
        200,
        &json!({"avatar_url": format!("/api/account/avatar?v={at}")}),
    )
}

/// `GET /api/account/avatar`: the profile picture.
pub async fn avatar(req: &Request, env: &Env) -> ApiResult<Response> {
    let user = require_user(req, env).await?;
    let mut r = r2_response(env, avatar_key(&user.id), "There is no profile picture.").await?;
    set_headers(
        &mut r,
        &[("Cache-Control", "private, max-age=31536000, immutable")],
    )?;
    Ok(r)
}

/// `DELETE /api/account/avatar`.
pub async fn delete_avatar(req: &Request, env: &Env) -> ApiResult<Response> {
    same_origin(req)?;
    let user = require_user(req, env).await?;
    env.d1(bind::DB)?
        .prepare("UPDATE users SET avatar_at = NULL WHERE id = ?1")
        .bind(&[user.id.clone().into()])?
        .run()
        .await?;
    env.bucket(bind::BLOBS)?
        .delete(avatar_key(&user.id))
        .await?;
    Ok(Response::empty()?.with_status(204))
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    email: String,
}

/// The tables a deletion clears, each with the condition that selects the account's rows
/// (`?1` the user id). Owned organizations: `organizations.owner_id = ?1`.
const OWNED: &str = "(SELECT id FROM organizations WHERE owner_id = ?1)";

fn deletions() -> Vec<String> {
    let gens = format!("(SELECT id FROM generations WHERE user_id = ?1 OR org_id IN {OWNED})");
    let turns = format!("(SELECT id FROM assistant_turns WHERE user_id = ?1 OR org_id IN {OWNED})");
    let keys = format!("(SELECT id FROM api_keys WHERE user_id = ?1 OR org_id IN {OWNED})");
    vec![
        format!("DELETE FROM collection_items WHERE generation_id IN {gens} OR collection_id IN (SELECT id FROM collections WHERE user_id = ?1 OR org_id IN {OWNED})"),
        format!("DELETE FROM collections WHERE user_id = ?1 OR org_id IN {OWNED}"),
        format!("DELETE FROM assistant_steps WHERE turn_id IN {turns}"),
        format!("DELETE FROM assistant_turns WHERE user_id = ?1 OR org_id IN {OWNED}"),
        format!("DELETE FROM generations WHERE user_id = ?1 OR org_id IN {OWNED}"),
        format!("DELETE FROM assets WHERE org_id IN {OWNED}"),
        format!("DELETE FROM rate_windows WHERE substr(key, 1, instr(key, ':') - 1) IN {keys}"),
        format!("DELETE FROM api_keys WHERE user_id = ?1 OR org_id IN {OWNED}"),
        format!("DELETE FROM rate_windows WHERE substr(key, 1, instr(key, ':') - 1) IN (SELECT id FROM widget_keys WHERE org_id IN {OWNED})"),
        format!("DELETE FROM widget_keys WHERE org_id IN {OWNED}"),
        format!("DELETE FROM org_invites WHERE created_by = ?1 OR org_id IN {OWNED}"),
        format!("UPDATE sessions SET org_id = NULL WHERE org_id IN {OWNED}"),
        format!("DELETE FROM org_members WHERE user_id = ?1 OR org_id IN {OWNED}"),
        "DELETE FROM organizations WHERE owner_id = ?1".into(),
        "DELETE FROM sessions WHERE user_id = ?1".into(),
        "DELETE FROM oidc_identities WHERE user_id = ?1".into(),
        "DELETE FROM ledger_entries WHERE user_id = ?1".into(),
        "DELETE FROM ledgers WHERE user_id = ?1".into(),
        "DELETE FROM payments WHERE user_id = ?1".into(),
        "DELETE FROM stripe_subscriptions WHERE user_id = ?1".into(),
        "DELETE FROM stripe_customers WHERE user_id = ?1".into(),
        "DELETE FROM auth_attempts WHERE key = 'signin-email:' || ?2".into(),
        "DELETE FROM users WHERE id = ?1".into(),
    ]
}

/// `POST /api/account/delete {email}`: deletes the account for good, with the organizations it
/// owns (their members keep their own accounts). The e-mail, typed again, confirms it. Runs in
/// progress in those organizations must end first (409), so no job writes after the rows go.
/// Rows go in one D1 batch (all or nothing); then the R2 objects nothing refers to any more.
pub async fn delete(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = require_user(&req, env).await?;
    let body: DeleteBody = json_body(&mut req).await?;
    if body.email.trim().to_lowercase() != user.email {
        return Err(ApiError::validation(vec![atelier_core::FieldError::new(
            "email",
            "mismatch",
            "email: type your account's e-mail address exactly to confirm the deletion.",
        )]));
    }
    let db = env.d1(bind::DB)?;
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE user_id = ?1 OR org_id IN {OWNED}"
        ))
        .bind(&[user.id.clone().into()])?
        .all()
        .await?
        .results()?;
    let running = rows.iter().filter(|r| !r.status().is_terminal()).count();
    if running > 0 {
        return Err(ApiError::new(
            409,
            "runs_in_progress",
            format!("{running} run(s) in your organizations are still in progress. Wait for them to finish or cancel them, then delete the account."),
        ));
    }
    let hashes: Vec<String> = db
        .prepare(format!(
            "SELECT DISTINCT hash FROM assets WHERE org_id IN {OWNED}"
        ))
        .bind(&[user.id.clone().into()])?
        .all()
        .await?
        .results::<serde_json::Value>()?
        .into_iter()
        .filter_map(|v| v["hash"].as_str().map(str::to_string))
        .collect();
    let mut stmts = vec![];
    for sql in deletions() {
        // D1 wants exactly the parameters a statement names.
        let binds: Vec<JsValue> = if sql.contains("?2") {
            vec![user.id.clone().into(), user.email.clone().into()]
        } else {
            vec![user.id.clone().into()]
        };
        stmts.push(db.prepare(sql).bind(&binds)?);
    }
    db.batch(stmts).await?;
    // Files: every output and thumbnail of those generations, the profile picture, and each
    // uploaded image no other organization (or the starter library) still uses.
    let mut keys: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.outputs().into_iter().flat_map(|o| {
                let mut k = vec![output_key(&r.id, &o)];
                if o.thumb {
                    k.push(thumb_key(&r.id, &o));
                }
                k
            })
        })
        .collect();
    keys.extend(rows.iter().flat_map(Row::input_blobs));
    keys.push(avatar_key(&user.id));
    let list = serde_json::to_string(&hashes).unwrap_or_else(|_| "[]".into());
    let still: Vec<String> = db
        .prepare(
            "SELECT DISTINCT value AS hash FROM json_each(?1) WHERE value IN (SELECT hash FROM assets) \
             OR value IN (SELECT hash FROM library_items)",
        )
        .bind(&[list.into()])?
        .all()
        .await?
        .results::<serde_json::Value>()?
        .into_iter()
        .filter_map(|v| v["hash"].as_str().map(str::to_string))
        .collect();
    keys.extend(
        hashes
            .iter()
            .filter(|h| !still.contains(h))
            .map(|h| crate::assets::r2_key(h)),
    );
    let bucket = env.bucket(bind::BLOBS)?;
    for chunk in keys.chunks(1000) {
        if let Err(e) = bucket.delete_multiple(chunk.to_vec()).await {
            // The rows are gone; an object left behind is unreachable. Logged for the operator.
            worker::console_error!("account deletion: R2 delete failed: {e}");
        }
    }
    let mut r = Response::empty()?.with_status(204);
    set_headers(
        &mut r,
        &[(
            "Set-Cookie",
            &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        )],
    )?;
    Ok(r)
}

#[derive(Deserialize)]
struct FootprintBody {
    user_id: String,
    #[serde(default)]
    generation_ids: Vec<String>,
    #[serde(default)]
    hashes: Vec<String>,
}

/// `POST /api/internal/admin/footprint {user_id, generation_ids, hashes}` (signed, operator):
/// how many rows of each table and R2 objects still belong to an account and the organizations
/// it owns — what a deletion must bring to zero, and what an operator answers a data request
/// with.
pub async fn footprint(mut req: Request, env: &Env) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    let b: FootprintBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "invalid_json", e.to_string()))?;
    let org = "'org_' || ?1";
    let counts = [
        (
            "users",
            "SELECT COUNT(*) AS n FROM users WHERE id = ?1".to_string(),
        ),
        (
            "sessions",
            "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?1".into(),
        ),
        (
            "organizations",
            format!("SELECT COUNT(*) AS n FROM organizations WHERE owner_id = ?1 OR id = {org}"),
        ),
        (
            "org_members",
            format!("SELECT COUNT(*) AS n FROM org_members WHERE user_id = ?1 OR org_id = {org}"),
        ),
        (
            "org_invites",
            format!(
                "SELECT COUNT(*) AS n FROM org_invites WHERE created_by = ?1 OR org_id = {org}"
            ),
        ),
        (
            "assets",
            format!("SELECT COUNT(*) AS n FROM assets WHERE org_id = {org}"),
        ),
        (
            "generations",
            format!("SELECT COUNT(*) AS n FROM generations WHERE user_id = ?1 OR org_id = {org}"),
        ),
        (
            "collections",
            format!("SELECT COUNT(*) AS n FROM collections WHERE user_id = ?1 OR org_id = {org}"),
        ),
        (
            "assistant_turns",
            format!(
                "SELECT COUNT(*) AS n FROM assistant_turns WHERE user_id = ?1 OR org_id = {org}"
            ),
        ),
        (
            "api_keys",
            format!("SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ?1 OR org_id = {org}"),
        ),
        (
            "widget_keys",
            format!("SELECT COUNT(*) AS n FROM widget_keys WHERE org_id = {org}"),
        ),
        (
            "ledgers",
            "SELECT COUNT(*) AS n FROM ledgers WHERE user_id = ?1".into(),
        ),
        (
            "ledger_entries",
            "SELECT COUNT(*) AS n FROM ledger_entries WHERE user_id = ?1".into(),
        ),
        (
            "payments",
            "SELECT COUNT(*) AS n FROM payments WHERE user_id = ?1".into(),
        ),
    ];
    let db = env.d1(bind::DB)?;
    let mut stmts = vec![];
    for (_, sql) in &counts {
        stmts.push(db.prepare(sql).bind(&[b.user_id.clone().into()])?);
    }
    let mut out = serde_json::Map::new();
    for ((name, _), r) in counts.iter().zip(db.batch(stmts).await?) {
        let n = r
            .results::<serde_json::Value>()?
            .first()
            .and_then(|v| v["n"].as_f64())
            .unwrap_or(0.0);
        out.insert(name.to_string(), json!(n));
    }
    let bucket = env.bucket(bind::BLOBS)?;
    let mut objects = 0usize;
    for g in &b.generation_ids {
        objects += bucket
            .list()
            .prefix(format!("outputs/{g}/"))
            .execute()
            .await?
            .objects()
            .len();
    }
    for h in &b.hashes {
        objects += bucket.head(crate::assets::r2_key(h)).await?.is_some() as usize;
    }
    objects += bucket.head(avatar_key(&b.user_id)).await?.is_some() as usize;
    out.insert("r2_objects".into(), json!(objects));
    json(200, &out)
}
