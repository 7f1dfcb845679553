//! Short-lived signed URLs for inference nodes: `GET /api/blobs/assets/<hash>` to read an input,
//! `PUT /api/blobs/outputs/<generation>/<index>.<ext>` to write an output (its extension the
//! output's real type: `.png`, `.jpg`, `.mp4`; bytes of another type are refused). No session; the
//! signature (method, path, expiry) is the only authority.

use atelier_core::image::{inspect, UploadLimits};
use atelier_core::sign;
use worker::{Env, HttpMetadata, Request, Response};

use crate::bind;
use crate::http::{now_secs, r2_response, ApiError, ApiResult};

/// How long a signed input or output URL stays valid.
const URL_TTL_SECS: u64 = 15 * 60;

/// A short-lived signed URL a node uses to read an input or write an output (`path` is
/// `/api/blobs/<key>`).
pub fn signed_url(env: &worker::Env, method: &str, path: &str) -> worker::Result<String> {
    let c = crate::config::Config::from_env(env)?;
    let exp = now_secs() + URL_TTL_SECS;
    let sig = sign::sign_url(&c.job_secret, method, path, exp);
    Ok(format!("{}{}?exp={}&sig={}", c.edge_url, path, exp, sig))
}

/// Outputs may be larger than uploads (an upscale of a large photo).
const OUTPUT_LIMITS: UploadLimits = UploadLimits {
    max_bytes: 96 * 1024 * 1024,
    max_side: 16384,
    min_side: 1,
    max_pixels: 120_000_000,
};

fn check(req: &Request, env: &Env, method: &str) -> ApiResult<String> {
    let url = req.url()?;
    let path = url.path().to_string();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    sign::verify_url(
        &crate::config::Config::from_env(env)?.job_secret,
        method,
        &path,
        q.get("exp").map(String::as_str),
        q.get("sig").map(String::as_str),
        now_secs(),
    )
    .map_err(|e| ApiError::new(403, "bad_signature", format!("Refused: {e}.")))?;
    let key = path.trim_start_matches("/api/blobs/").to_string();
    if key.contains("..") || key.is_empty() {
        return Err(ApiError::new(400, "bad_key", "Bad blob key."));
    }
    Ok(key)
}

pub async fn get(req: &Request, env: &Env) -> ApiResult<Response> {
    let key = check(req, env, "GET")?;
    let mut r = r2_response(env, key, "No such blob.").await?;
    r.headers_mut().set("Cache-Control", "no-store")?;
    Ok(r)
}

pub async fn put(mut req: Request, env: &Env) -> ApiResult<Response> {
    let key = check(&req, env, "PUT")?;
    if !key.starts_with("outputs/") {
        return Err(ApiError::new(
            403,
            "read_only",
            "Only outputs can be written.",
        ));
    }
    // A generation that already ended (canceled, failed, timed out) takes no more outputs.
    let mut owner = None;
    if let Some(id) = key.split('/').nth(1) {
        if let Some(row) = crate::store::generations::load(env, id).await? {
            if row.status().is_terminal() {
                return Err(ApiError::new(
                    409,
                    "generation_ended",
                    format!("Refused: the generation is {}.", row.status),
                ));
            }
            owner = Some(row.user_id);
        }
    }
    let video = req
        .headers()
        .get("content-type")?
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("video/mp4"));
    let bytes = req.bytes().await?;
    // A video output is checked as an MP4 (boxes, moov, mdat, a video track); an image as an
    // image. Either way nothing is stored unless it is well formed.
    let mime = if video {
        atelier_core::video::inspect_mp4(&bytes, OUTPUT_LIMITS.max_bytes)
            .map_err(|p| ApiError::new(422, "bad_video", format!("Refused: {p}.")))?;
        "video/mp4"
    } else {
        inspect(&bytes, &OUTPUT_LIMITS)
            .map_err(|p| ApiError::new(p.http_status(), p.code(), p.to_string()))?
            .format
            .mime()
    };
    if !key.ends_with(&format!(".{}", atelier_core::job::extension(mime))) {
        return Err(ApiError::new(
            422,
            "wrong_type",
            format!("Refused: this output is {mime}, which is not what {key} holds."),
        ));
    }
    // A store that fails (full, unavailable), as a test injects it on a local instance.
    if let Some(user) = owner.filter(|_| !key.ends_with(".thumb.webp")) {
        if injected(env, R2_PUT, &user).await? {
            return Err(ApiError::new(
                503,
                "storage_unavailable",
                "The output could not be stored (the store refused the write). Try again.",
            ));
        }
    }
    env.bucket(bind::BLOBS)?
        .put(key, bytes)
        .http_metadata(HttpMetadata {
            content_type: Some(mime.into()),
            ..Default::default()
        })
        .execute()
        .await?;
    Ok(Response::empty()?.with_status(201))
}

/// The injected fault of output writes (see [`admin_fault`]).
const R2_PUT: &str = "r2_put";

/// Whether an injected fault makes this write of `user`'s fail: only on a local instance, where
/// a test set one up; each matching write first uses up a `skip`, then a `count`.
async fn injected(env: &Env, name: &str, user: &str) -> ApiResult<bool> {
    if !crate::config::Config::from_env(env)?.local_instance {
        return Ok(false);
    }
    let db = env.d1(bind::DB)?;
    let take = |column: &str| {
        db.prepare(format!(
            "UPDATE faults SET {column} = {column} - 1 WHERE name = ?1 AND user_id = ?2 AND {column} > 0"
        ))
        .bind(&[name.into(), user.into()])
    };
    if crate::store::changes(take("skip")?).await? == 1 {
        return Ok(false);
    }
    Ok(crate::store::changes(take("count")?).await? == 1)
}

#[derive(serde::Deserialize)]
struct Fault {
    /// `r2_put`: output writes to R2.
    name: String,
    email: String,
    #[serde(default)]
    skip: u32,
    count: u32,
}

/// `POST /api/internal/admin/faults {name, email, skip, count}` (signed; local instances only):
/// of that user's generations' output writes, the next `skip` succeed and the `count` after
/// them fail with 503, as a full or failing store would. `count: 0` clears it.
pub async fn admin_fault(mut req: Request, env: &Env) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    if !crate::config::Config::from_env(env)?.local_instance {
        return Err(ApiError::new(
            403,
            "not_local",
            "Faults are injected on local instances only.",
        ));
    }
    let f: Fault = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_request", format!("The fault is malformed: {e}.")))?;
    if f.name != R2_PUT {
        return Err(ApiError::new(
            400,
            "unknown_fault",
            format!(
                "No fault is named {:?}; the one there is: {R2_PUT}.",
                f.name
            ),
        ));
    }
    let db = env.d1(bind::DB)?;
    let user: Option<String> = db
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[f.email.trim().to_lowercase().into()])?
        .first(Some("id"))
        .await?;
    let user = user.ok_or_else(|| ApiError::new(404, "not_found", "No user has that email."))?;
    db.prepare(
        "INSERT INTO faults (name, user_id, skip, count) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (name, user_id) DO UPDATE SET skip = excluded.skip, count = excluded.count",
    )
    .bind(&[
        f.name.into(),
        user.into(),
        (f.skip as f64).into(),
        (f.count as f64).into(),
    ])?
    .run()
    .await?;
    crate::http::json(200, &serde_json::json!({"ok": true}))
}
