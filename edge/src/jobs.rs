//! Dispatch and completion. The queue consumer sends each generation to an inference node as a
//! signed job with short-lived signed URLs for its input and outputs; the node reports back to
//! the signed callback. Failed dispatches are retried by the queue, then dead-lettered and
//! reported as failed. A failed output is never charged.

use atelier_core::catalog::{self, Context};
use atelier_core::job::{InputRef, JobEvent, JobRequest, OutputSlot};
use atelier_core::pricing::Surface;
use atelier_core::sign;
use atelier_core::tool::request_from_params;
use atelier_core::Tool;
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{
    Env, Fetch, Headers, Message, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder,
    Request, RequestInit, Response,
};

use crate::bind;
use crate::events;
use crate::generations::{self, output_key, StoredOutput};
use crate::http::{json, now_ms, now_secs, ApiError, ApiResult};

/// Queue names (see wrangler.toml).
pub const DEAD_LETTER_QUEUE: &str = "atelier-jobs-dlq";
/// How long a signed input or output URL stays valid.
const URL_TTL_SECS: u64 = 15 * 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub generation_id: String,
    /// Set for a webhook delivery (0 = first try) instead of a dispatch.
    #[serde(default)]
    pub webhook_attempt: Option<u32>,
}

pub fn secret(env: &Env) -> worker::Result<Vec<u8>> {
    Ok(env.secret(bind::JOB_SECRET)?.to_string().into_bytes())
}

fn edge_url(env: &Env) -> worker::Result<String> {
    Ok(env
        .var(bind::EDGE_URL)?
        .to_string()
        .trim_end_matches('/')
        .to_string())
}

pub fn signed_url(env: &Env, method: &str, path: &str) -> worker::Result<String> {
    let exp = now_secs() + URL_TTL_SECS;
    let sig = sign::sign_url(&secret(env)?, method, path, exp);
    Ok(format!(
        "{}{}?exp={}&sig={}",
        edge_url(env)?,
        path,
        exp,
        sig
    ))
}

pub async fn consume(batch: MessageBatch<JobMessage>, env: &Env) {
    let dead = batch.queue() == DEAD_LETTER_QUEUE;
    let messages = match batch.messages() {
        Ok(m) => m,
        Err(e) => {
            worker::console_error!("unreadable batch: {e}");
            batch.ack_all();
            return;
        }
    };
    for m in messages {
        if let Some(attempt) = m.body().webhook_attempt {
            crate::webhooks::deliver(env, &m.body().generation_id, attempt).await;
            m.ack();
            continue;
        }
        if dead {
            give_up(env, &m).await;
            m.ack();
            continue;
        }
        match dispatch(env, &m.body().generation_id).await {
            Ok(()) => m.ack(),
            Err(e) => {
                worker::console_warn!(
                    "dispatch of {} failed, will retry: {e}",
                    m.body().generation_id
                );
                m.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(1)
                        .build(),
                );
            }
        }
    }
}

async fn give_up(env: &Env, m: &Message<JobMessage>) {
    let id = &m.body().generation_id;
    let event = JobEvent::Failed {
        job_id: id.clone(),
        error: atelier_core::ErrorName::InternalServerError,
        message:
            "No inference node could take the job. Nothing was charged; try again in a moment."
                .into(),
    };
    if let Err(e) = apply(env, id, &event).await {
        worker::console_error!("could not fail {id}: {}", e.message);
    }
}

/// Sends one generation to the inference node. Err means: retry later.
async fn dispatch(env: &Env, id: &str) -> Result<(), String> {
    let row = generations::load(env, id)
        .await
        .map_err(|e| e.message)?
        .ok_or("no such generation")?;
    if row.status().is_terminal() {
        return Ok(());
    }
    let tool = Tool::from_id(&row.tool).ok_or("unknown tool")?;
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.params).map_err(|e| e.to_string())?;
    let inputs: serde_json::Value = serde_json::from_str(&row.inputs).map_err(|e| e.to_string())?;
    // An API prediction may name its image by URL: the node fetches it (SSRF-checked) and
    // its size is unknown until then.
    let (input, mut request) = if tool.main_slot().is_none() {
        // A prompt-only tool: references at most.
        (None, request_from_params(tool, &params, 0, 0))
    } else if let Some(u) = inputs["image_url"].as_str() {
        let mut request = request_from_params(tool, &params, 0, 0);
        for i in request.images.values_mut().flatten() {
            (i.width, i.height) = (None, None);
        }
        let input = InputRef {
            name: "image".into(),
            url: u.to_string(),
            remote: true,
        };
        (Some(input), request)
    } else {
        let hash = inputs["image"].as_str().ok_or("no input image")?;
        let asset = crate::assets::find(env, &row.user_id, hash)
            .await
            .map_err(|e| e.message)?
            .ok_or("the input asset is gone")?;
        let input = InputRef {
            name: "image".into(),
            url: signed_url(env, "GET", &format!("/api/blobs/assets/{hash}"))
                .map_err(|e| e.to_string())?,
            remote: false,
        };
        let request = request_from_params(tool, &params, asset.width as u32, asset.height as u32);
        (Some(input), request)
    };
    let mut job_inputs: Vec<InputRef> = input.into_iter().collect();
    for (field, slot) in tool.studio_refs() {
        if let Some(u) = inputs[format!("{field}_url")].as_str() {
            // Given by URL through the API: the node fetches it (SSRF-checked).
            request
                .images
                .entry(*slot)
                .or_default()
                .push(Default::default());
            job_inputs.push(InputRef {
                name: field.to_string(),
                url: u.to_string(),
                remote: true,
            });
            continue;
        }
        let Some(hash) = inputs[*field].as_str() else {
            continue;
        };
        let asset = crate::assets::find(env, &row.user_id, hash)
            .await
            .map_err(|e| e.message)?
            .ok_or("a reference asset is gone")?;
        atelier_core::tool::add_reference(
            &mut request,
            *slot,
            asset.width as u32,
            asset.height as u32,
        );
        job_inputs.push(InputRef {
            name: field.to_string(),
            url: signed_url(env, "GET", &format!("/api/blobs/assets/{hash}"))
                .map_err(|e| e.to_string())?,
            remote: false,
        });
    }
    // Gates and lists were checked when the generation was created (App or API); here the
    // options are only resolved, so the API's wider choices (e.g. 21:9) pass.
    let ctx = Context {
        surface: Surface::Api,
        plan: None,
    };
    let options = match catalog::validate(tool, &request, ctx) {
        Ok(o) => o,
        Err(errors) => {
            let message = atelier_core::tool::messages(&errors);
            let event = JobEvent::Failed {
                job_id: id.to_string(),
                error: atelier_core::ErrorName::InputValidationError,
                message,
            };
            apply(env, id, &event).await.map_err(|e| e.message)?;
            return Ok(());
        }
    };
    let db = env.d1(bind::DB).map_err(|e| e.to_string())?;
    db.prepare("UPDATE generations SET dispatch_attempts = dispatch_attempts + 1 WHERE id = ?1")
        .bind(&[id.into()])
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())?;
    let mut outputs = vec![];
    for index in 0..u32::from(options.outputs.max(1)) {
        outputs.push(OutputSlot {
            index,
            upload_url: signed_url(env, "PUT", &format!("/api/blobs/{}", output_key(id, index)))
                .map_err(|e| e.to_string())?,
        });
    }
    let job = JobRequest {
        job_id: id.to_string(),
        tool,
        prompt: request.prompt.clone(),
        options,
        inputs: job_inputs,
        outputs,
        callback_url: format!(
            "{}/api/internal/jobs/{id}/events",
            edge_url(env).map_err(|e| e.to_string())?
        ),
        attempt: row.dispatch_attempts as u32 + 1,
        output_format: params
            .get("output_format")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
    };
    let body = serde_json::to_string(&job).map_err(|e| e.to_string())?;
    let mut resp = post_to_node(env, "/v1/jobs", &body).await?;
    let status = resp.status_code();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    if (400..500).contains(&status) {
        // The node refused this job for good: report it instead of retrying.
        let event = JobEvent::Failed {
            job_id: id.to_string(),
            error: atelier_core::ErrorName::InternalServerError,
            message: format!("The inference node refused the job ({status})."),
        };
        worker::console_error!("node refused {id}: {status} {text}");
        apply(env, id, &event).await.map_err(|e| e.message)?;
        return Ok(());
    }
    Err(format!("inference node answered {status}: {text}"))
}

/// A signed POST of `body` to the inference node's `path`.
pub async fn post_to_node(env: &Env, path: &str, body: &str) -> Result<worker::Response, String> {
    let node = env
        .var(bind::INFERENCE_URL)
        .map_err(|e| e.to_string())?
        .to_string();
    let ts = now_secs();
    let sig = sign::sign_request(
        &secret(env).map_err(|e| e.to_string())?,
        "POST",
        path,
        ts,
        body.as_bytes(),
    );
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
    let url = format!("{}{path}", node.trim_end_matches('/'));
    let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    Fetch::Request(req)
        .send()
        .await
        .map_err(|e| format!("inference node unreachable: {e}"))
}

/// Whether the inference node has an engine for `tool` (its own, or the upstream it forwards
/// to), from its capabilities; false when it cannot be asked.
pub async fn node_has_engine(env: &Env, tool: atelier_core::Tool) -> bool {
    let Ok(node) = env.var(bind::INFERENCE_URL).map(|v| v.to_string()) else {
        return false;
    };
    let url = format!("{}/v1/capabilities", node.trim_end_matches('/'));
    let Ok(url) = url.parse() else {
        return false;
    };
    let Ok(mut r) = Fetch::Url(url).send().await else {
        return false;
    };
    if r.status_code() != 200 {
        return false;
    }
    let Ok(v) = r.json::<serde_json::Value>().await else {
        return false;
    };
    v["tools"].as_array().is_some_and(|ts| {
        ts.iter()
            .any(|t| t["tool"] == tool.id() && t["available"] == true)
    })
}

/// Tells the inference node to drop a canceled job (waiting for a slot: it never runs; running:
/// its outputs are not uploaded). Best effort: the edge has already marked it canceled.
pub async fn cancel_on_node(env: &Env, id: &str) {
    let path = format!("/v1/jobs/{id}/cancel");
    match post_to_node(env, &path, "{}").await {
        Ok(r) if (200..300).contains(&r.status_code()) || r.status_code() == 404 => {}
        Ok(r) => worker::console_warn!("node cancel of {id} answered {}", r.status_code()),
        Err(e) => worker::console_warn!("node cancel of {id} failed: {e}"),
    }
}

/// Queues a new generation for dispatch. If the queue refuses it, the generation is failed
/// through [`apply`] (which releases its credits) and false is returned.
pub async fn enqueue(env: &Env, id: &str) -> bool {
    let sent = match env.queue(bind::JOBS) {
        Ok(q) => {
            q.send(JobMessage {
                generation_id: id.to_string(),
                webhook_attempt: None,
            })
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        worker::console_error!("enqueue failed for {id}: {e}");
        let ev = JobEvent::Failed {
            job_id: id.to_string(),
            error: atelier_core::ErrorName::InternalServerError,
            message: "The job queue is unavailable. Nothing was charged; try again.".into(),
        };
        if let Err(e) = apply(env, id, &ev).await {
            worker::console_error!("could not fail {id}: {}", e.message);
        }
        return false;
    }
    true
}

/// Applies a node's event to the generation, then pushes it to the user's open pages.
pub async fn apply(env: &Env, id: &str, event: &JobEvent) -> ApiResult<serde_json::Value> {
    let row = generations::load(env, id)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "no such job"))?;
    let next = event.status();
    if !row.status().can_become(next) {
        return Err(ApiError::new(
            409,
            "invalid_transition",
            format!("job is {} and cannot become {}", row.status, next.as_str()),
        ));
    }
    let now = now_ms() as f64;
    let db = env.d1(bind::DB)?;
    let stmt = match event {
        JobEvent::Processing { progress, stage, .. } => db
            .prepare("UPDATE generations SET status = 'processing', progress = ?2, stage = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?5")
            .bind(&[id.into(), (progress.clamp(0.0, 1.0) as f64).into(), stage.clone().into(), now.into(), row.status.clone().into()])?,
        JobEvent::Completed { outputs, run_ms, engine, .. } => {
            let stored: Vec<StoredOutput> = outputs
                .iter()
                .map(|o| StoredOutput { index: o.index, content_type: o.content_type.clone(), width: o.width, height: o.height, bytes: o.bytes })
                .collect();
            // Every reported output must really be in storage before the job counts as done.
            let bucket = env.bucket(bind::BLOBS)?;
            for o in &stored {
                if bucket.head(output_key(id, o.index)).await?.is_none() {
                    return Err(ApiError::new(422, "missing_output", format!("output {} was not uploaded", o.index)));
                }
            }
            db.prepare("UPDATE generations SET status = 'completed', progress = 1, stage = NULL, outputs = ?2, engine = ?3, run_ms = ?4, updated_at = ?5, completed_at = ?5 WHERE id = ?1 AND status = ?6")
                .bind(&[id.into(), serde_json::to_string(&stored).unwrap_or_default().into(), engine.clone().into(), (*run_ms as f64).into(), now.into(), row.status.clone().into()])?
        }
        JobEvent::Failed { error, message, .. } => db
            .prepare("UPDATE generations SET status = 'failed', stage = NULL, error_name = ?2, error_message = ?3, updated_at = ?4, completed_at = ?4 WHERE id = ?1 AND status = ?5")
            .bind(&[id.into(), error.as_str().into(), message.clone().into(), now.into(), row.status.clone().into()])?,
    };
    stmt.run().await?;
    let updated = generations::load(env, id)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "gone"))?;
    let surface = updated.surface();
    // The Studio's live updates are for Studio runs; API predictions show on the Developer page.
    if surface == Surface::App {
        events::publish(env, &updated.user_id, &updated.to_json()).await;
    }
    if next.is_terminal() {
        let succeeded: Vec<u32> = match event {
            JobEvent::Completed { outputs, .. } => outputs.iter().map(|o| o.index).collect(),
            _ => vec![],
        };
        crate::credits::settle(env, &updated.user_id, surface, id, &succeeded).await;
        let hook: Option<String> = db
            .prepare("SELECT webhook_url FROM generations WHERE id = ?1")
            .bind(&[id.into()])?
            .first(Some("webhook_url"))
            .await
            .unwrap_or(None);
        if hook.is_some() {
            crate::webhooks::schedule(env, id).await;
        }
    }
    Ok(updated.to_json())
}

/// `POST /api/internal/jobs/{id}/events`, signed by the node.
pub async fn callback(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    let event: JobEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_event", format!("The event is malformed: {e}.")))?;
    if event.job_id() != id {
        return Err(ApiError::new(
            400,
            "bad_event",
            "The event is for another job.",
        ));
    }
    let g = apply(env, id, &event).await?;
    json(200, &json!({"ok": true, "status": g["status"]}))
}
