//! Webhooks for API predictions: when a prediction with `?webhook_url=` ends, its status-shaped
//! body is POSTed there. A non-2xx answer or a network error is retried up to 5 times with
//! backoff (10, 20, 40, 80, 160 s: about 5 minutes) through delayed queue messages. A receiver
//! that has not answered within [`DELIVERY_TIMEOUT_SECS`] counts as failed (the request is
//! aborted); the prediction itself is never affected by its webhook.
//!
//! Each delivery carries `x-atelier-webhook-timestamp` and `x-atelier-webhook-signature:
//! sha256=<hex>`, an HMAC-SHA256 over `"{timestamp}.{body}"` keyed with the hex SHA-256 of the
//! API key that created the prediction. Receivers may verify it; ones that ignore it still work.

use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, MessageBuilder, Method, Request, RequestInit};

use crate::bind;
use crate::http::now_secs;
use crate::queue::JobMessage;

pub const MAX_RETRIES: u32 = 5;

/// How long one delivery waits for the receiver's answer (FASHN's docs ask receivers for a fast
/// 2xx). `WEBHOOK_TIMEOUT_SECS` overrides it (the tests' slow receiver).
pub const DELIVERY_TIMEOUT_SECS: u64 = 10;

/// Checks a `webhook_url`: http(s) only; loopback and private hosts only on a local instance.
pub fn check_url(url: &str, local: bool) -> Result<(), String> {
    atelier_core::ssrf::check_webhook_text(url)?;
    let u = worker::Url::parse(url).map_err(|_| "webhook_url is not a valid URL.".to_string())?;
    atelier_core::ssrf::check_webhook_target(u.scheme(), u.host_str(), local)
}

/// Whether a URL's host is this machine (`localhost`, a loopback literal).
fn loopback(url: &str) -> bool {
    let Ok(u) = worker::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Queues the first delivery.
pub async fn schedule(env: &Env, generation_id: &str) {
    let msg = JobMessage {
        generation_id: generation_id.into(),
        webhook_attempt: Some(0),
        requeues: 0,
    };
    match env.queue(bind::JOBS) {
        Ok(q) => {
            if let Err(e) = q.send(msg).await {
                worker::console_error!("webhook enqueue failed for {generation_id}: {e}");
            }
        }
        Err(e) => worker::console_error!("webhook queue: {e}"),
    }
}

/// Delivers one attempt; on failure queues the next one with backoff.
pub async fn deliver(env: &Env, generation_id: &str, attempt: u32) {
    let target: Option<(String, String, Value)> = async {
        let (url, key_hash) = crate::store::generations::webhook_target(env, generation_id)
            .await
            .ok()??;
        let body = crate::predictions::status_body(env, generation_id)
            .await
            .ok()?;
        Some((url, key_hash, body))
    }
    .await;
    let Some((url, key_hash, body)) = target else {
        return;
    };
    // EGRESS=loopback (the test stacks): nothing is sent beyond this machine, whatever URL a
    // test (or schemathesis) gave.
    if env.var("EGRESS").is_ok_and(|v| v.to_string() == "loopback") && !loopback(&url) {
        worker::console_warn!(
            "webhook for {generation_id} not sent: {url} is beyond loopback (EGRESS=loopback)"
        );
        return;
    }
    let body = body.to_string();
    let ts = now_secs();
    let sig = atelier_core::sign::webhook_signature(&key_hash, ts, body.as_bytes());
    let ok = async {
        let h = Headers::new();
        h.set("Content-Type", "application/json").ok()?;
        use atelier_core::openapi::{
            WEBHOOK_SIGNATURE_HEADER, WEBHOOK_SIGNATURE_PREFIX, WEBHOOK_TIMESTAMP_HEADER,
        };
        h.set(WEBHOOK_TIMESTAMP_HEADER, &ts.to_string()).ok()?;
        h.set(
            WEBHOOK_SIGNATURE_HEADER,
            &format!("{WEBHOOK_SIGNATURE_PREFIX}{sig}"),
        )
        .ok()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(JsValue::from_str(&body)));
        let timeout = env
            .var("WEBHOOK_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(DELIVERY_TIMEOUT_SECS);
        let abort = worker::AbortController::default();
        let signal = abort.signal();
        let fetch = Fetch::Request(Request::new_with_init(&url, &init).ok()?);
        let call = Box::pin(fetch.send_with_signal(&signal));
        let late = Box::pin(worker::Delay::from(std::time::Duration::from_secs(timeout)));
        let resp = match futures_util::future::select(call, late).await {
            futures_util::future::Either::Left((r, _)) => r.ok()?,
            futures_util::future::Either::Right(_) => {
                abort.abort();
                worker::console_warn!(
                    "webhook for {generation_id}: no answer in {timeout} s (attempt {attempt})"
                );
                return None;
            }
        };
        Some((200..300).contains(&resp.status_code()))
    }
    .await
    .unwrap_or(false);
    if ok || attempt >= MAX_RETRIES {
        if !ok {
            worker::console_warn!("webhook for {generation_id} gave up after {attempt} retries");
        }
        return;
    }
    let base: u32 = env
        .var("WEBHOOK_RETRY_BASE_SECS")
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(10);
    let delay = base * 2u32.pow(attempt);
    let msg = JobMessage {
        generation_id: generation_id.into(),
        webhook_attempt: Some(attempt + 1),
        requeues: 0,
    };
    if let Ok(q) = env.queue(bind::JOBS) {
        if let Err(e) = q
            .send(MessageBuilder::new(msg).delay_seconds(delay).build())
            .await
        {
            worker::console_error!("webhook retry enqueue failed for {generation_id}: {e}");
        }
    }
}
