//! Responses and errors: every failure is JSON `{error, message, errors?}` with a fitting status.

use atelier_core::FieldError;
use serde::Serialize;
use serde_json::json;
use worker::{Date, Env, Headers, Request, Response};

pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            errors: vec![],
            headers: vec![],
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "unauthorized", "Sign in to continue.")
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = atelier_core::tool::messages(&errors);
        ApiError {
            errors,
            ..ApiError::new(400, "validation_failed", message)
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn into_response(self) -> worker::Result<Response> {
        let mut body = json!({"error": self.code, "message": self.message});
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        let mut r = Response::from_json(&body)?.with_status(self.status);
        for (k, v) in &self.headers {
            r.headers_mut().set(k, v)?;
        }
        r.headers_mut().set("Cache-Control", "no-store")?;
        Ok(r)
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        worker::console_error!("internal error: {e}");
        ApiError::new(
            500,
            "internal_error",
            "Something went wrong on our side. Try again in a moment.",
        )
    }
}

pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}

pub fn json<T: Serialize>(status: u16, value: &T) -> ApiResult<Response> {
    let mut r = Response::from_json(value)?.with_status(status);
    r.headers_mut().set("Cache-Control", "no-store")?;
    Ok(r)
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

pub fn cookie(req: &Request, name: &str) -> Option<String> {
    let raw = header(req, "Cookie")?;
    raw.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

pub fn is_https(req: &Request) -> bool {
    req.url().map(|u| u.scheme() == "https").unwrap_or(false)
}

/// Refuses a state-changing browser request sent from another origin.
pub fn same_origin(req: &Request) -> ApiResult<()> {
    let Some(origin) = header(req, "Origin") else {
        return Ok(());
    };
    let url = req.url()?;
    let own = url.origin().ascii_serialization();
    if origin == own {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "cross_origin",
            "This request came from another site and was refused.",
        ))
    }
}

/// The most a JSON body of `/api` may be: every one names images by hash, so 1 MiB is far more
/// than any needs (500 ids for a bulk action are about 20 KB).
pub const MAX_JSON_BODY: u64 = 1024 * 1024;

/// The most a `/v1/run` body may be: its images may come inline as base64 (20 MiB each at
/// most); Cloudflare refuses request bodies over 100 MB before the Worker runs, so does this.
pub const MAX_RUN_BODY: u64 = 100 * 1024 * 1024;

/// Reads a body of at most `max` bytes: refused (413 `body_too_large`, or `FASHN`'s
/// `BadRequest` shape via `code`) from its declared length before reading, and while reading
/// when the length is not declared (chunked), so an oversized body is never held whole.
pub async fn read_capped(req: &mut Request, max: u64, code: &str) -> ApiResult<Vec<u8>> {
    use futures_util::StreamExt;
    let too_large = |n: String| {
        ApiError::new(
            413,
            code,
            format!(
                "The request body is {n}; this endpoint takes at most {}. Send less (images by upload or URL rather than inline).",
                size_label(max)
            ),
        )
    };
    if let Some(len) = header(req, "Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        if len > max {
            return Err(too_large(format!("{} ({len} bytes)", size_label(len))));
        }
    }
    let mut out = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(out);
    };
    let mut seen = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max {
            // Answering before a chunked body has been read leaves the rest of it on the
            // client's connection, and the client's next request on that connection hangs
            // (found with `wrangler dev`): read the rest and drop it, up to Cloudflare's own
            // limit on a request body.
            out.clear();
            out.shrink_to_fit();
            while seen <= MAX_RUN_BODY {
                match stream.next().await {
                    Some(Ok(c)) => seen += c.len() as u64,
                    _ => break,
                }
            }
            return Err(too_large(format!("over {}", size_label(max))));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn size_label(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Reads a JSON body, answering 415/400 with a clear message when it is not JSON, and 413
/// when it is over [`MAX_JSON_BODY`].
pub async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let ct = header(req, "Content-Type").unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        ));
    }
    let bytes = read_capped(req, MAX_JSON_BODY, "body_too_large").await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            400,
            "invalid_json",
            format!("The body is not valid JSON for this endpoint: {e}."),
        )
    })
}

pub fn set_headers(r: &mut Response, pairs: &[(&str, &str)]) -> ApiResult<()> {
    let h: &mut Headers = r.headers_mut();
    for (k, v) in pairs {
        h.set(k, v)?;
    }
    Ok(())
}

/// An R2 object as a response body with its stored Content-Type, or a 404 with `missing`.
pub async fn r2_response(env: &Env, key: String, missing: &str) -> ApiResult<Response> {
    let obj = env
        .bucket(crate::bind::BLOBS)?
        .get(key)
        .execute()
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", missing))?;
    let ct = obj
        .http_metadata()
        .content_type
        .unwrap_or_else(|| "application/octet-stream".into());
    let bytes = match obj.body() {
        Some(b) => b.bytes().await?,
        None => vec![],
    };
    let mut r = Response::from_bytes(bytes)?;
    r.headers_mut().set("Content-Type", &ct)?;
    Ok(r)
}

/// Reads a body signed with the job secret (inference callbacks, admin commands), or 401.
pub async fn signed_body(req: &mut Request, env: &Env) -> ApiResult<Vec<u8>> {
    use atelier_core::sign;
    let body = req.bytes().await?;
    sign::verify_request(
        &crate::config::Config::from_env(env)?.job_secret,
        "POST",
        &req.path(),
        header(req, sign::TIMESTAMP_HEADER).as_deref(),
        header(req, sign::SIGNATURE_HEADER).as_deref(),
        &body,
        now_secs(),
    )
    .map_err(|e| ApiError::new(401, "bad_signature", format!("Refused: {e}.")))?;
    Ok(body)
}

/// `?limit=&before=` of a newest-first list: the page size (1..=`max`, default `default`) and the
/// `created_at` to start below (none: from the newest).
pub fn page_params(req: &Request, default: u32, max: u32) -> ApiResult<(u32, f64)> {
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(default)
        .clamp(1, max);
    let before = q
        .get("before")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::MAX);
    Ok((limit, before))
}

/// A `name=value` token of a cron string: how tests hand the scheduled handler a fake clock
/// (`time=<ms>`) and a scope (`account=`, `widget-key=`) through `wrangler dev`'s
/// `/__scheduled?cron=…`. Callers honour it on a local instance only.
pub fn cron_token<'a>(cron: &'a str, name: &str) -> Option<&'a str> {
    cron.split(|c: char| c.is_whitespace() || c == '&' || c == '#')
        .find_map(|p| p.strip_prefix(name))
}
