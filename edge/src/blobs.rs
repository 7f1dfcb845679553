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
    if let Some(id) = key.split('/').nth(1) {
        if let Some(row) = crate::store::generations::load(env, id).await? {
            if row.status().is_terminal() {
                return Err(ApiError::new(
                    409,
                    "generation_ended",
                    format!("Refused: the generation is {}.", row.status),
                ));
            }
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
