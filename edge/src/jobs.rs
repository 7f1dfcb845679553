//! Dispatch and completion. The queue consumer sends each generation to an inference node as a
//! signed job with short-lived signed URLs for its input and outputs; the node reports back to
//! the signed callback. Failed dispatches are retried by the queue, then dead-lettered and
//! reported as failed. A failed output is never charged.

use atelier_core::catalog::{self, Resolved};
use atelier_core::job::{InputRef, JobEvent, JobRequest, JobStatus, OutputSlot};
use atelier_core::pricing::Surface;
use atelier_core::Tool;
use serde_json::json;
use worker::{Env, Message, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Request, Response};

use crate::bind;
use crate::blobs::signed_url;
use crate::config::Config;
use crate::events;
use crate::http::{json, now_ms, ApiError, ApiResult};
use crate::queue::JobMessage;
use crate::store::generations::{self as store, output_key, thumb_key, StoredOutput};

/// Queue names (see wrangler.toml).
pub const DEAD_LETTER_QUEUE: &str = "atelier-jobs-dlq";

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
        match dispatch(env, &m.body().generation_id, m.body().requeues).await {
            Ok(Dispatched::Sent) => m.ack(),
            Ok(Dispatched::Waiting) => {
                // All the plan's simultaneous generations are running: look again in a second,
                // as a new message (a retry would count towards the dead-letter limit).
                let again = worker::MessageBuilder::new(JobMessage::dispatch(
                    &m.body().generation_id,
                    m.body().requeues,
                ))
                .delay_seconds(1)
                .build();
                match env.queue(bind::JOBS) {
                    Ok(q) if q.send(again).await.is_ok() => m.ack(),
                    _ => m.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(1)
                            .build(),
                    ),
                }
            }
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

/// Fails a generation at once (nothing is charged: its hold is released).
async fn fail(
    env: &Env,
    id: &str,
    error: atelier_core::ErrorName,
    message: String,
) -> Result<(), String> {
    let event = JobEvent::Failed {
        job_id: id.to_string(),
        error,
        message,
    };
    apply(env, id, &event)
        .await
        .map(|_| ())
        .map_err(|e| e.message)
}

/// A signed GET of an asset the organization owns, for the node.
async fn asset_input(env: &Env, org_id: &str, name: &str, hash: &str) -> Result<InputRef, String> {
    crate::assets::find(env, org_id, hash)
        .await
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("the {name} asset is gone"))?;
    Ok(InputRef {
        name: name.to_string(),
        url: signed_url(env, "GET", &format!("/api/blobs/assets/{hash}"))
            .map_err(|e| e.to_string())?,
        remote: false,
    })
}

/// What a dispatch did.
enum Dispatched {
    /// Sent to the node, or nothing left to do.
    Sent,
    /// Waits for one of the account's running generations to end (the plan's limit).
    Waiting,
}

/// Sends one generation to the inference node. Err means: retry later. The options go as
/// they were resolved when the generation was made (core's `catalog::Resolved`): nothing is
/// parsed or defaulted again here. A Studio generation first takes one of the plan's
/// simultaneous-generation slots (`store::claim_slot`, one atomic statement).
async fn dispatch(env: &Env, id: &str, requeues: u32) -> Result<Dispatched, String> {
    let row = store::load(env, id)
        .await
        .map_err(|e| e.message)?
        .ok_or("no such generation")?;
    // Ended, or re-sent as lost since this message was sent (the requeue sent its own).
    if row.status().is_terminal() || f64::from(requeues) < row.requeues {
        return Ok(Dispatched::Sent);
    }
    if row.source == "app" {
        let plan = crate::credits::app_plan(env, &row.user_id)
            .await
            .map_err(|e| e.message)?;
        let limit = plan.info().simultaneous_generations;
        if !store::claim_slot(env, id, &row.user_id, limit)
            .await
            .map_err(|e| e.message)?
        {
            return Ok(Dispatched::Waiting);
        }
    } else {
        store::count_dispatch(env, id)
            .await
            .map_err(|e| e.message)?;
    }
    dispatch_claimed(env, id, row)
        .await
        .map(|()| Dispatched::Sent)
}

async fn dispatch_claimed(env: &Env, id: &str, row: store::Row) -> Result<(), String> {
    let tool = Tool::from_id(&row.tool).ok_or("unknown tool")?;
    let options = row
        .options
        .as_deref()
        .and_then(|o| serde_json::from_str::<Resolved>(o).ok())
        .filter(|o| o.tool() == tool);
    let Some(options) = options else {
        return fail(
            env,
            id,
            atelier_core::ErrorName::InputValidationError,
            "This generation was stored without its resolved options (it was made before an upgrade). Nothing was charged; run it again.".into(),
        )
        .await;
    };
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.params).map_err(|e| e.to_string())?;
    let inputs: serde_json::Value = serde_json::from_str(&row.inputs).map_err(|e| e.to_string())?;
    // The main image (none for prompt-only tools), then the references by field. An API
    // prediction may name an image by URL: the node fetches it (SSRF-checked).
    let mut job_inputs: Vec<InputRef> = vec![];
    let names = tool
        .main_slot()
        .map(|_| "image")
        .into_iter()
        .chain(tool.studio_refs().iter().map(|(f, _)| *f));
    for name in names {
        if let Some(u) = inputs[format!("{name}_url")].as_str() {
            job_inputs.push(InputRef {
                name: name.to_string(),
                url: u.to_string(),
                remote: true,
            });
        } else if let Some(blob) = inputs[format!("{name}_blob")]
            .as_str()
            .filter(|b| b.starts_with("widget/"))
        {
            // A storefront shopper's photo, stored for this run alone.
            job_inputs.push(InputRef {
                name: name.to_string(),
                url: signed_url(env, "GET", &format!("/api/blobs/{blob}"))
                    .map_err(|e| e.to_string())?,
                remote: false,
            });
        } else if let Some(hash) = inputs[name].as_str() {
            job_inputs.push(asset_input(env, row.org(), name, hash).await?);
        } else if name == "image" {
            return Err("no input image".into());
        }
    }
    let output_format: catalog::OutputFormat = params
        .get("output_format")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    // Each output's key carries its real extension (a video's `.mp4`).
    let mime = atelier_core::job::output_mime(tool, output_format);
    let mut outputs = vec![];
    for index in 0..u32::from(options.outputs.max(1)) {
        let key = atelier_core::job::output_key(id, index, mime);
        // Every output gets a Gallery thumbnail, made once by the node with the output (a
        // video's is its poster frame).
        let thumb = atelier_core::job::thumb_key(id, index);
        let thumb_url = Some(
            signed_url(env, "PUT", &format!("/api/blobs/{thumb}")).map_err(|e| e.to_string())?,
        );
        outputs.push(OutputSlot {
            index,
            upload_url: signed_url(env, "PUT", &format!("/api/blobs/{key}"))
                .map_err(|e| e.to_string())?,
            thumb_url,
        });
    }
    let job = JobRequest {
        job_id: id.to_string(),
        tool,
        prompt: params
            .get("prompt")
            .and_then(|p| p.as_str())
            .filter(|p| !p.trim().is_empty())
            .map(str::to_string),
        options,
        inputs: job_inputs,
        outputs,
        callback_url: format!(
            "{}/api/internal/jobs/{id}/events",
            Config::from_env(env).map_err(|e| e.to_string())?.edge_url
        ),
        attempt: row.dispatch_attempts as u32 + 1,
        output_format,
    };
    let body = serde_json::to_string(&job).map_err(|e| e.to_string())?;
    // Only a node whose engine delivers these options and reads these inputs is offered it.
    let given: Vec<&str> = job.inputs.iter().map(|i| i.name.as_str()).collect();
    let deliverable =
        |t: &atelier_core::job::ToolCapability| t.undeliverable(&job.options, &given).is_empty();
    let mut resp = crate::node::dispatch(env, tool, deliverable, &body).await?;
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

/// How many times a generation is sent to a node (or put back in the queue) before a lost one
/// times out instead.
pub const MAX_DISPATCHES: f64 = 3.0;

/// A generation without news for `Config::stale_ms` is lost: its node died with it, or its queue
/// message went with a restarted edge. While it has dispatches left it is queued again (a
/// restarted node, or another one, runs it: the same id, so it is charged once, and its outputs
/// go to the same keys); else it times out, its hold released. Called wherever a generation is
/// read (history, the Gallery, `/v1/status`) and by the cron's sweep. Returns it as it is now.
pub async fn recover_if_stale(env: &Env, row: store::Row) -> ApiResult<store::Row> {
    if row.status().is_terminal()
        || now_ms().saturating_sub(row.updated_at as u64) < Config::from_env(env)?.stale_ms
    {
        return Ok(row);
    }
    if row.dispatch_attempts < MAX_DISPATCHES && row.requeues < MAX_DISPATCHES {
        if store::requeue(env, &row).await? {
            worker::console_warn!(
                "{} had no news for too long ({}, {} dispatches): queued again",
                row.id,
                row.status,
                row.dispatch_attempts
            );
            send(env, &row.id, row.requeues as u32 + 1).await;
        }
        return Ok(store::load(env, &row.id).await?.unwrap_or(row));
    }
    store::end(
        env,
        &row.id,
        &row.status,
        JobStatus::TimeOut,
        Some((
            atelier_core::ErrorName::InternalServerError,
            "The job did not finish in time. Nothing was charged; run it again.",
        )),
    )
    .await?;
    discard_outputs(env, &row.id).await;
    crate::credits::settle(env, &row.user_id, row.surface(), &row.id, &[]).await;
    let row = store::load(env, &row.id).await?.unwrap_or(row);
    ended(env, &row).await;
    Ok(row)
}

/// The cron's pass over lost generations nobody reads (an API client waiting for its webhook):
/// at most 100 a run, oldest first. Returns how many it looked at.
pub async fn sweep_stale(env: &Env) -> ApiResult<usize> {
    let before = now_ms().saturating_sub(Config::from_env(env)?.stale_ms) as f64;
    let rows = store::stale(env, before, 100).await?;
    let n = rows.len();
    for row in rows {
        recover_if_stale(env, row).await?;
    }
    Ok(n)
}

/// Deletes what a generation that did not complete had stored before it ended (the first
/// outputs of a run whose later one failed, thumbnails): nothing half-written stays behind.
/// Best effort: it is never listed, as only a completed generation lists outputs.
async fn discard_outputs(env: &Env, id: &str) {
    let Ok(bucket) = env.bucket(bind::BLOBS) else {
        return;
    };
    let listed = bucket
        .list()
        .prefix(format!("outputs/{id}/"))
        .execute()
        .await;
    match listed {
        Ok(list) => {
            for o in list.objects() {
                if let Err(e) = bucket.delete(o.key()).await {
                    worker::console_warn!("could not delete {}: {e}", o.key());
                }
            }
        }
        Err(e) => worker::console_warn!("could not list the outputs of {id}: {e}"),
    }
}

/// Queues a new generation for dispatch. If the queue refuses it, the generation is failed
/// through [`apply`] (which releases its credits) and false is returned.
pub async fn enqueue(env: &Env, id: &str) -> bool {
    send(env, id, 0).await
}

/// Queues a dispatch of generation `id` as of its `requeues`-th requeue; see [`enqueue`].
async fn send(env: &Env, id: &str, requeues: u32) -> bool {
    let sent = match env.queue(bind::JOBS) {
        Ok(q) => q.send(JobMessage::dispatch(id, requeues)).await,
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

/// What runs when a generation ends (completed, failed, canceled, timed out) besides its
/// credits and webhook: the Assistant's chains. The Worker's entry registers it (`on_ended`),
/// so this service does not import the module it serves (no import cycle).
pub type Ended = for<'a> fn(
    &'a Env,
    &'a store::Row,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

thread_local! {
    static ON_ENDED: std::cell::Cell<Option<Ended>> = const { std::cell::Cell::new(None) };
}

/// Registers what runs when a generation ends.
pub fn on_ended(f: Ended) {
    ON_ENDED.with(|c| c.set(Some(f)));
}

/// Tells the registered follower (if any) that a generation ended.
pub async fn ended(env: &Env, row: &store::Row) {
    if let Some(f) = ON_ENDED.with(|c| c.get()) {
        f(env, row).await;
    }
}

/// Applies a node's event to the generation, then pushes it to the user's open pages.
pub async fn apply(env: &Env, id: &str, event: &JobEvent) -> ApiResult<serde_json::Value> {
    let row = store::load(env, id)
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
    match event {
        JobEvent::Processing {
            progress, stage, ..
        } => store::progress(env, id, &row.status, *progress, stage).await?,
        JobEvent::Completed {
            outputs,
            run_ms,
            engine,
            ..
        } => {
            let mut stored: Vec<StoredOutput> = outputs
                .iter()
                .map(|o| StoredOutput {
                    // Counted below, once it is really stored.
                    thumb: false,
                    ..o.clone()
                })
                .collect();
            // Every reported output must really be in storage before the job counts as done.
            let bucket = env.bucket(bind::BLOBS)?;
            for (o, reported) in stored.iter_mut().zip(outputs) {
                if bucket.head(output_key(id, o)).await?.is_none() {
                    return Err(ApiError::new(
                        422,
                        "missing_output",
                        format!("output {} was not uploaded", o.index),
                    ));
                }
                // A thumbnail counts only once it is really stored (else the grid shows the file).
                o.thumb = reported.thumb && bucket.head(thumb_key(id, o)).await?.is_some();
            }
            store::complete(env, id, &row.status, &stored, engine, *run_ms).await?
        }
        JobEvent::Failed { error, message, .. } => {
            store::end(
                env,
                id,
                &row.status,
                JobStatus::Failed,
                Some((*error, message)),
            )
            .await?;
        }
    }
    let updated = store::load(env, id)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "gone"))?;
    let surface = updated.surface();
    // The Studio's live updates are for Studio runs; API predictions show on the Developer page.
    if surface == Surface::App {
        events::publish(env, updated.org(), &updated.to_json()).await;
    }
    if next.is_terminal() {
        if next != JobStatus::Completed {
            discard_outputs(env, id).await;
        }
        let succeeded: Vec<u32> = match event {
            JobEvent::Completed { outputs, .. } => outputs.iter().map(|o| o.index).collect(),
            _ => vec![],
        };
        crate::credits::settle(env, &updated.user_id, surface, id, &succeeded).await;
        if updated.webhook_url.is_some() {
            crate::webhooks::schedule(env, id).await;
        }
        ended(env, &updated).await;
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
