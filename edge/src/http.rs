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

/// Reads a JSON body, answering 415/400 with a clear message when it is not JSON.
pub async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let ct = header(req, "Content-Type").unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        ));
    }
    let bytes = req.bytes().await?;
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
