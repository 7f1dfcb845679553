//! Input images: `POST /api/assets` stores an image once in R2 under its content hash and records
//! it for the user in D1. Every check happens before anything is written.

use atelier_core::image::{check_len, inspect, ImageFormat, UploadLimits};
use serde::{Deserialize, Serialize};

use wasm_bindgen::JsValue;
use worker::{Env, HttpMetadata, Request, Response};

use crate::auth::{acting, require_user};
use crate::bind;
use crate::http::{
    header, json, now_ms, r2_response, same_origin, set_headers, ApiError, ApiResult,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Asset {
    pub hash: String,
    pub content_type: String,
    pub bytes: f64,
    pub width: f64,
    pub height: f64,
}

pub fn r2_key(hash: &str) -> String {
    format!("assets/{hash}")
}

pub async fn upload(mut req: Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(&req, env).await?;
    same_origin(&req)?;
    let (bytes, info) = read_image(&mut req).await?;
    let asset = store(env, &actor.org, Some(&actor.user.id), &bytes, &info).await?;
    json(201, &serde_json::json!({"asset": asset}))
}

/// Reads an uploaded image (raw bytes with `Content-Type` image/png, image/jpeg or image/webp)
/// and checks it against the upload limits and its declared type: an upload, or an image
/// imported into the Gallery.
pub async fn read_image(req: &mut Request) -> ApiResult<(Vec<u8>, atelier_core::ImageInfo)> {
    let limits = UploadLimits::DEFAULT;
    let ct = header(req, "Content-Type").unwrap_or_default();
    let declared = ImageFormat::from_mime(&ct).ok_or_else(|| {
        let what = if ct.is_empty() { "no Content-Type".to_string() } else { format!("Content-Type {ct:?}") };
        ApiError::new(
            415,
            "unsupported_media_type",
            format!("The upload has {what}. Send the image bytes with Content-Type image/png, image/jpeg or image/webp."),
        )
    })?;
    // Refuse an oversized body from its declared length before reading it.
    if let Some(len) = header(req, "Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        check_len(len, &limits)
            .map_err(|p| ApiError::new(p.http_status(), p.code(), p.to_string()))?;
    }
    let bytes = req.bytes().await?;
    let info = inspect(&bytes, &limits)
        .map_err(|p| ApiError::new(p.http_status(), p.code(), p.to_string()))?;
    if info.format != declared {
        return Err(ApiError::new(
            415,
            "content_type_mismatch",
            format!(
                "The upload says {} but the file is a {} image. Send it with Content-Type {}.",
                declared.mime(),
                info.format.name(),
                info.format.mime()
            ),
        ));
    }
    Ok((bytes, info))
}

/// Stores checked image bytes once in R2 under their content hash; returns the hash.
pub async fn put_blob(
    env: &Env,
    bytes: &[u8],
    info: &atelier_core::ImageInfo,
) -> ApiResult<String> {
    let hash = atelier_core::sign::sha256_hex(bytes);
    let bucket = env.bucket(bind::BLOBS)?;
    let key = r2_key(&hash);
    if bucket.head(key.clone()).await?.is_none() {
        bucket
            .put(key, bytes.to_vec())
            .http_metadata(HttpMetadata {
                content_type: Some(info.format.mime().into()),
                ..Default::default()
            })
            .execute()
            .await?;
    }
    Ok(hash)
}

/// Records an image already in R2 as one of the user's assets (an upload, a carried-over
/// result, or a starter-library pick).
pub async fn record(env: &Env, org_id: &str, by: Option<&str>, asset: &Asset) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare(
            "INSERT OR IGNORE INTO assets (org_id, hash, content_type, bytes, width, height, created_at, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            org_id.into(),
            asset.hash.clone().into(),
            asset.content_type.clone().into(),
            asset.bytes.into(),
            asset.width.into(),
            asset.height.into(),
            (now_ms() as f64).into(),
            by.map(JsValue::from).unwrap_or(JsValue::NULL),
        ])?
        .run()
        .await?;
    Ok(())
}

/// Stores checked image bytes once in R2 (by content hash) and records them as the
/// organization's asset (`by`: the member who uploaded it; None for an API key).
pub async fn store(
    env: &Env,
    org_id: &str,
    by: Option<&str>,
    bytes: &[u8],
    info: &atelier_core::ImageInfo,
) -> ApiResult<Asset> {
    let hash = put_blob(env, bytes, info).await?;
    let asset = Asset {
        hash: hash.clone(),
        content_type: info.format.mime().into(),
        bytes: bytes.len() as f64,
        width: info.width as f64,
        height: info.height as f64,
    };
    record(env, org_id, by, &asset).await?;
    Ok(asset)
}

#[derive(Deserialize)]
struct FromOutput {
    generation_id: String,
    #[serde(default)]
    index: u32,
}

/// `POST /api/assets/from-output {generation_id, index}`: a completed result of yours becomes an
/// input asset (no download, no re-upload) — how the suggestion bar carries a result into the
/// next tool.
pub async fn from_output(mut req: Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(&req, env).await?;
    same_origin(&req)?;
    let body: FromOutput = crate::http::json_body(&mut req).await?;
    let asset = carry(env, &actor, &body.generation_id, body.index).await?;
    json(201, &serde_json::json!({"asset": asset}))
}

/// Output `index` of a completed Studio generation of the organization as one of its assets
/// (the same bytes; stored once by content hash): how a result becomes the next tool's input.
pub async fn carry(
    env: &Env,
    actor: &crate::auth::Actor,
    generation_id: &str,
    index: u32,
) -> ApiResult<Asset> {
    let missing = || ApiError::new(404, "not_found", "There is no such result of yours.");
    let g = crate::store::generations::load(env, generation_id)
        .await?
        .filter(|g| g.org() == actor.org && g.source != "api")
        .ok_or_else(missing)?;
    if g.status() != atelier_core::JobStatus::Completed {
        return Err(ApiError::new(
            409,
            "not_completed",
            "This generation has no result yet; wait until it completes.",
        ));
    }
    let outputs: Vec<crate::store::generations::StoredOutput> =
        serde_json::from_str(&g.outputs).unwrap_or_default();
    let out = outputs
        .iter()
        .find(|o| o.index == index)
        .ok_or_else(missing)?;
    let obj = env
        .bucket(bind::BLOBS)?
        .get(crate::store::generations::output_key(&g.id, out))
        .execute()
        .await?
        .ok_or_else(missing)?;
    let bytes = match obj.body() {
        Some(b) => b.bytes().await?,
        None => return Err(missing()),
    };
    let info = inspect(&bytes, &UploadLimits::DEFAULT).map_err(|p| {
        ApiError::new(
            p.http_status(),
            p.code(),
            format!("This result cannot be used as an input: {p}"),
        )
    })?;
    store(env, &actor.org, Some(&actor.user.id), &bytes, &info).await
}

/// `GET /api/capabilities`: which tools the inference service runs now, and up to what, from
/// the node's own `/v1/capabilities`; when it cannot be reached every tool is unavailable with
/// that reason.
pub async fn capabilities(req: &Request, env: &Env) -> ApiResult<Response> {
    require_user(req, env).await?;
    let caps = crate::node::or_unreachable(crate::node::capabilities(env).await);
    json(200, &caps)
}

#[derive(Serialize, Deserialize)]
struct ListedAsset {
    hash: String,
    content_type: String,
    bytes: f64,
    width: f64,
    height: f64,
    created_at: f64,
}

/// `GET /api/assets?limit=&before=`: your uploads (and carried-over results), newest first —
/// the quick-pick for inputs and references.
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(req, env).await?;
    let (limit, before) = crate::http::page_params(req, 24, 100)?;
    let rows: Vec<ListedAsset> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT hash, content_type, bytes, width, height, created_at FROM assets \
             WHERE org_id = ?1 AND created_at < ?2 ORDER BY created_at DESC LIMIT ?3",
        )
        .bind(&[actor.org.into(), before.into(), (limit as f64 + 1.0).into()])?
        .all()
        .await?
        .results()?;
    let page = atelier_core::views::Page::from_rows(rows, limit, |r| r.created_at);
    json(
        200,
        &serde_json::json!({"assets": page.items, "next_before": page.next_before}),
    )
}

/// The organization's asset, or None.
pub async fn find(env: &Env, org_id: &str, hash: &str) -> ApiResult<Option<Asset>> {
    Ok(env
        .d1(bind::DB)?
        .prepare("SELECT hash, content_type, bytes, width, height FROM assets WHERE org_id = ?1 AND hash = ?2")
        .bind(&[org_id.into(), hash.into()])?
        .first(None)
        .await?)
}

pub async fn get(req: &Request, env: &Env, hash: &str) -> ApiResult<Response> {
    let actor = acting(req, env).await?;
    let asset = find(env, &actor.org, hash).await?.ok_or_else(|| {
        ApiError::new(404, "not_found", "There is no such image in your uploads.")
    })?;
    let mut r = r2_response(env, r2_key(hash), "The image's bytes are missing.").await?;
    set_headers(
        &mut r,
        &[
            ("Content-Type", &asset.content_type),
            ("Cache-Control", "private, max-age=31536000, immutable"),
        ],
    )?;
    Ok(r)
}
