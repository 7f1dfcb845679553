//! The starter libraries (Faces, Backgrounds, Packshot References, Models): what every account
//! can pick as a reference without uploading its own.
//!
//! - `GET /api/library?kind=face`: the items of one library, in the order they were added.
//! - `GET /api/library/{kind}/{hash}`: an item's image.
//! - `POST /api/library/{kind}/{hash}/use`: the item becomes one of your assets, to use as an
//!   input like an upload (a library face needs no Agency plan).
//! - `POST /api/internal/admin/library` (signed with the job secret): adds an item,
//!   `{kind, name, image: <base64>}`; the same image again only renames it.

use atelier_core::catalog::LibraryKind;
use atelier_core::image::{inspect, UploadLimits};
use base64::Engine;
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::assets::{self, Asset};
use crate::auth::require_user;
use crate::bind;
use crate::http::{json, now_ms, r2_response, same_origin, set_headers, ApiError, ApiResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    kind: String,
    hash: String,
    name: String,
    content_type: String,
    bytes: f64,
    width: f64,
    height: f64,
}

fn kind_of(id: Option<&str>) -> ApiResult<LibraryKind> {
    let kinds = LibraryKind::ALL.map(|k| k.id()).join(", ");
    match id {
        None | Some("") => Err(ApiError::validation(vec![atelier_core::FieldError::new(
            "kind",
            "required",
            format!("kind: say which library, one of {kinds}."),
        )])),
        Some(k) => LibraryKind::from_id(k).ok_or_else(|| {
            ApiError::validation(vec![atelier_core::FieldError::new(
                "kind",
                "unknown_library",
                format!("kind: there is no '{k}' library; use one of {kinds}."),
            )])
        }),
    }
}

async fn find(env: &Env, kind: LibraryKind, hash: &str) -> ApiResult<Option<Item>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT kind, hash, name, content_type, bytes, width, height FROM library_items \
             WHERE kind = ?1 AND hash = ?2",
        )
        .bind(&[kind.id().into(), hash.into()])?
        .first(None)
        .await?)
}

/// Whether the image is in the `kind` library (its bytes are a library item's).
pub async fn contains(env: &Env, kind: LibraryKind, hash: &str) -> ApiResult<bool> {
    Ok(find(env, kind, hash).await?.is_some())
}

fn missing(kind: LibraryKind) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!(
            "There is no such image in {}; pick one of GET /api/library?kind={}.",
            kind.label(),
            kind.id()
        ),
    )
}

pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    require_user(req, env).await?;
    let url = req.url()?;
    let kind = kind_of(
        url.query_pairs()
            .find(|(k, _)| k == "kind")
            .map(|(_, v)| v.into_owned())
            .as_deref(),
    )?;
    let items: Vec<Item> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT kind, hash, name, content_type, bytes, width, height FROM library_items \
             WHERE kind = ?1 ORDER BY created_at, name LIMIT 200",
        )
        .bind(&[kind.id().into()])?
        .all()
        .await?
        .results()?;
    let items: Vec<serde_json::Value> = items
        .into_iter()
        .map(|i| {
            serde_json::json!({
                "url": format!("/api/library/{}/{}", i.kind, i.hash),
                "kind": i.kind, "hash": i.hash, "name": i.name,
                "width": i.width, "height": i.height,
            })
        })
        .collect();
    json(
        200,
        &serde_json::json!({"kind": kind.id(), "label": kind.label(), "items": items}),
    )
}

pub async fn image(req: &Request, env: &Env, kind: &str, hash: &str) -> ApiResult<Response> {
    require_user(req, env).await?;
    let kind = kind_of(Some(kind))?;
    let item = find(env, kind, hash).await?.ok_or_else(|| missing(kind))?;
    let mut r = r2_response(env, assets::r2_key(hash), "The image's bytes are missing.").await?;
    set_headers(
        &mut r,
        &[
            ("Content-Type", &item.content_type),
            ("Cache-Control", "private, max-age=31536000, immutable"),
        ],
    )?;
    Ok(r)
}

pub async fn use_item(req: Request, env: &Env, kind: &str, hash: &str) -> ApiResult<Response> {
    let actor = crate::auth::acting(&req, env).await?;
    same_origin(&req)?;
    let kind = kind_of(Some(kind))?;
    let item = find(env, kind, hash).await?.ok_or_else(|| missing(kind))?;
    let asset = Asset {
        hash: item.hash,
        content_type: item.content_type,
        bytes: item.bytes,
        width: item.width,
        height: item.height,
    };
    assets::record(env, &actor.org, Some(&actor.user.id), &asset).await?;
    let mut body = serde_json::to_value(&asset).unwrap_or_default();
    body["library"] = serde_json::Value::Bool(true);
    json(201, &serde_json::json!({"asset": body}))
}

#[derive(Deserialize)]
struct AddItem {
    kind: String,
    name: String,
    /// The image file, base64.
    image: String,
}

pub async fn admin_add(mut req: Request, env: &Env) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    let a: AddItem = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_request", format!("The body: {e}.")))?;
    let kind = kind_of(Some(&a.kind))?;
    let name = a.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::validation(vec![atelier_core::FieldError::new(
            "name",
            "invalid",
            "name: give the item a name of 1 to 80 characters.",
        )]));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a.image.trim())
        .map_err(|e| {
            ApiError::validation(vec![atelier_core::FieldError::new(
                "image",
                "invalid_base64",
                format!("image: not base64 ({e}); send the file's bytes base64-encoded."),
            )])
        })?;
    let info = inspect(&bytes, &UploadLimits::DEFAULT)
        .map_err(|p| ApiError::new(p.http_status(), p.code(), format!("image: {p}")))?;
    let hash = assets::put_blob(env, &bytes, &info).await?;
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO library_items (kind, hash, name, content_type, bytes, width, height, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (kind, hash) DO UPDATE SET name = excluded.name",
        )
        .bind(&[
            kind.id().into(),
            hash.clone().into(),
            name.into(),
            info.format.mime().into(),
            (bytes.len() as f64).into(),
            (info.width as f64).into(),
            (info.height as f64).into(),
            (now_ms() as f64).into(),
        ])?
        .run()
        .await?;
    json(
        201,
        &serde_json::json!({"item": {"kind": kind.id(), "hash": hash, "name": name,
            "width": info.width, "height": info.height}}),
    )
}
