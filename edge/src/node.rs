//! The one client of the inference node: signed POSTs (jobs, cancels, exports) and its
//! capabilities, the edge's only answer to "can this tool run here, and up to what".

use atelier_core::job::{Capabilities, ToolCapability};
use atelier_core::{sign, Tool};
use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::config::Config;
use crate::http::now_secs;

/// Why a tool is unavailable when the node cannot be asked.
const UNREACHABLE: &str = "the inference service is not reachable right now";

/// A signed POST of `body` to the inference node's `path`.
pub async fn post(env: &Env, path: &str, body: &str) -> Result<worker::Response, String> {
    let c = Config::from_env(env).map_err(|e| e.to_string())?;
    let ts = now_secs();
    let sig = sign::sign_request(&c.job_secret, "POST", path, ts, body.as_bytes());
    let headers = Headers::new();
    for (k, v) in [
        ("Content-Type", "application/json".to_string()),
        (sign::TIMESTAMP_HEADER, ts.to_string()),
        (sign::SIGNATURE_HEADER, sig),
    ] {
        headers.set(k, &v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(body)));
    let url = format!("{}{path}", c.inference_url);
    let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    Fetch::Request(req)
        .send()
        .await
        .map_err(|e| format!("inference node unreachable: {e}"))
}

/// The node's capabilities, or None when it cannot be asked right now.
pub async fn capabilities(env: &Env) -> Option<Capabilities> {
    async {
        let c = Config::from_env(env).ok()?;
        let url = format!("{}/v1/capabilities", c.inference_url);
        let mut r = Fetch::Url(url.parse().ok()?).send().await.ok()?;
        if r.status_code() != 200 {
            return None;
        }
        r.json::<Capabilities>().await.ok()
    }
    .await
}

/// Whether a job for `tool` may be queued: the node says it has an engine for it (with
/// `local_only`, one of its own, not its upstream). While the node cannot be asked a job is
/// queued all the same (the queue retries it, then fails it, nothing charged) — except with
/// `local_only`, where an unknown engine could be an upstream.
pub fn may_queue(caps: Option<&Capabilities>, tool: Tool, local_only: bool) -> bool {
    match caps {
        Some(c) if local_only => c.local(tool),
        Some(c) => c.available(tool),
        None => !local_only,
    }
}

/// The capabilities as the app sees them: when the node cannot be asked, every tool is
/// unavailable with that reason.
pub fn or_unreachable(caps: Option<Capabilities>) -> Capabilities {
    caps.unwrap_or_else(|| Capabilities {
        version: String::new(),
        tools: Tool::ALL
            .iter()
            .map(|t| ToolCapability {
                tool: *t,
                available: false,
                engine: None,
                reason: Some(UNREACHABLE.into()),
                upstream: false,
                max_resolution: None,
                max_video_resolution: None,
                max_outputs: None,
                inputs: None,
            })
            .collect(),
        limits: serde_json::Value::Null,
        concurrency: 0,
    })
}

/// Tells the node to drop a canceled job (waiting for a slot: it never runs; running: its
/// outputs are not uploaded). Best effort: the edge has already marked it canceled.
pub async fn cancel(env: &Env, id: &str) {
    let path = format!("/v1/jobs/{id}/cancel");
    match post(env, &path, "{}").await {
        Ok(r) if (200..300).contains(&r.status_code()) || r.status_code() == 404 => {}
        Ok(r) => worker::console_warn!("node cancel of {id} answered {}", r.status_code()),
        Err(e) => worker::console_warn!("node cancel of {id} failed: {e}"),
    }
}
