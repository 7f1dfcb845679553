//! The one client of the inference nodes: signed POSTs (jobs, cancels, exports) and their
//! capabilities, the edge's only answer to "can this tool run here, and up to what".
//! `INFERENCE_URL` lists one or more nodes (in a real cluster, one address per node class:
//! see ARCHITECTURE.md). A job goes only to a node that runs its tool, the freest first; a node
//! that is down, draining or full passes it to the next, and the queue retries what none took.

use atelier_core::job::{dispatch_order, Capabilities, ToolCapability};
use atelier_core::{sign, Tool};
use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::config::Config;
use crate::http::now_secs;

/// Why a tool is unavailable when the node cannot be asked.
const UNREACHABLE: &str = "the inference service is not reachable right now";

/// A signed POST of `body` to one node's `path`.
async fn post_to(
    c: &Config,
    base: &str,
    path: &str,
    body: &str,
) -> Result<worker::Response, String> {
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
    let url = format!("{base}{path}");
    let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    Fetch::Request(req)
        .send()
        .await
        .map_err(|e| format!("inference node {base} unreachable: {e}"))
}

/// A signed POST of `body` to `path` of the first node that takes it (work any node does:
/// exports, image analysis). A node that cannot be reached or answers 5xx (503 while it
/// drains) passes it to the next; the last answer or error is returned.
pub async fn post(env: &Env, path: &str, body: &str) -> Result<worker::Response, String> {
    let c = Config::from_env(env).map_err(|e| e.to_string())?;
    let mut last = Err("no inference node is configured".to_string());
    for base in &c.inference_urls {
        match post_to(&c, base, path, body).await {
            Ok(r) if r.status_code() < 500 => return Ok(r),
            other => last = other,
        }
    }
    last
}

/// Sends a job (`body`, a `JobRequest` for `tool`) to a node that runs the tool: with one node,
/// to it; with several, in core's [`dispatch_order`] (only nodes whose capabilities say they run
/// the tool and `deliverable` accepts, the freest first and equals in turn, unreachable ones
/// last). A node that
/// cannot be reached, refuses the job or answers 5xx passes it to the next. Returns the first
/// 2xx, else the last answer (a 4xx there fails the job) or error (the queue retries it).
pub async fn dispatch(
    env: &Env,
    tool: Tool,
    deliverable: impl Fn(&ToolCapability) -> bool,
    body: &str,
) -> Result<worker::Response, String> {
    let c = Config::from_env(env).map_err(|e| e.to_string())?;
    if let [only] = c.inference_urls.as_slice() {
        return post_to(&c, only, "/v1/jobs", body).await;
    }
    let caps = each(&c).await;
    let mut last = Err(format!(
        "none of the {} inference nodes runs {} just now",
        c.inference_urls.len(),
        tool.id()
    ));
    // Between equally free nodes, a different one first each millisecond.
    let rotate = crate::http::now_ms() as usize;
    for i in dispatch_order(&caps, tool, rotate, deliverable) {
        let base = &c.inference_urls[i];
        match post_to(&c, base, "/v1/jobs", body).await {
            Ok(r) if (200..300).contains(&r.status_code()) => return Ok(r),
            Ok(r) => {
                worker::console_warn!(
                    "node {base} answered {} to a job: next node",
                    r.status_code()
                );
                last = Ok(r);
            }
            Err(e) => {
                worker::console_warn!("{e}: next node");
                last = Err(e);
            }
        }
    }
    last
}

/// One node's capabilities, or None when it cannot be asked right now.
async fn one(base: &str) -> Option<Capabilities> {
    let url = format!("{base}/v1/capabilities");
    let mut r = Fetch::Url(url.parse().ok()?).send().await.ok()?;
    if r.status_code() != 200 {
        return None;
    }
    r.json::<Capabilities>().await.ok()
}

/// Every configured node's capabilities (asked at once), in the configured order.
async fn each(c: &Config) -> Vec<Option<Capabilities>> {
    futures_util::future::join_all(c.inference_urls.iter().map(|u| one(u))).await
}

/// What the nodes run together (core's [`Capabilities::merge`]), or None when none can be
/// asked right now.
pub async fn capabilities(env: &Env) -> Option<Capabilities> {
    let c = Config::from_env(env).ok()?;
    Capabilities::merge(&each(&c).await)
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
        running: 0,
    })
}

/// Tells the nodes to drop a canceled job (waiting for a slot: it never runs; running: its
/// outputs are not uploaded). Every node is told, as any may hold it (those that do not answer
/// 404). Best effort: the edge has already marked it canceled.
pub async fn cancel(env: &Env, id: &str) {
    let Ok(c) = Config::from_env(env) else { return };
    let path = format!("/v1/jobs/{id}/cancel");
    let told = c
        .inference_urls
        .iter()
        .map(|base| post_to(&c, base, &path, "{}"));
    for (base, r) in c
        .inference_urls
        .iter()
        .zip(futures_util::future::join_all(told).await)
    {
        match r {
            Ok(r) if (200..300).contains(&r.status_code()) || r.status_code() == 404 => {}
            Ok(r) => {
                worker::console_warn!("node {base}: cancel of {id} answered {}", r.status_code())
            }
            Err(e) => worker::console_warn!("node cancel of {id} failed: {e}"),
        }
    }
}
