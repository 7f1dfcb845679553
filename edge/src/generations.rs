//! Generations: create (validate with core, record, enqueue), list (history), get, outputs.

use atelier_core::catalog::{self, Context};
use atelier_core::job::JobStatus;
use atelier_core::pricing::Surface;
use atelier_core::tool::GenerationRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::assets;
use crate::auth::require_user;
use crate::bind;
use crate::credits;
use crate::crypto;
use crate::events;
use crate::http::{
    json, json_body, now_ms, r2_response, same_origin, set_headers, ApiError, ApiResult,
};

/// A job that has not moved for this long is reported as timed out.
pub const STALE_MS: u64 = 10 * 60 * 1000;

/// How long a job may go without news before it counts as lost: `JOB_STALE_SECS`, else
/// [`STALE_MS`]. (A node that is killed sends nothing more; this is how its jobs end.)
fn stale_ms(env: &Env) -> u64 {
    env.var("JOB_STALE_SECS")
        .ok()
        .and_then(|v| v.to_string().parse::<u64>().ok())
        .map(|s| s.max(5) * 1000)
        .unwrap_or(STALE_MS)
}

/// A generation row as stored in D1.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub id: String,
    pub user_id: String,
    pub tool: String,
    pub inputs: String,
    pub params: String,
    pub status: String,
    pub progress: f64,
    pub stage: Option<String>,
    pub outputs: String,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub engine: Option<String>,
    pub run_ms: Option<f64>,
    pub dispatch_attempts: f64,
    pub created_at: f64,
    pub updated_at: f64,
    pub completed_at: Option<f64>,
    pub credits_quoted: f64,
    pub credits_per_output: f64,
    /// 'app' (Studio) or 'api'.
    pub source: String,
}

/// A stored output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredOutput {
    pub index: u32,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

pub const COLUMNS: &str =
    "id, user_id, tool, inputs, params, status, progress, stage, outputs, error_name, \
    error_message, engine, run_ms, dispatch_attempts, created_at, updated_at, completed_at, \
    credits_quoted, credits_per_output, source";

impl Row {
    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }

    /// The generation as the app sees it.
    /// Which balance the generation uses: App (Studio) or API.
    pub fn surface(&self) -> Surface {
        if self.source == "api" {
            Surface::Api
        } else {
            Surface::App
        }
    }

    pub fn to_json(&self) -> Value {
        let outputs: Vec<StoredOutput> = serde_json::from_str(&self.outputs).unwrap_or_default();
        let error = self
            .error_name
            .as_ref()
            .map(|n| json!({"name": n, "message": self.error_message}));
        json!({
            "id": self.id,
            "tool": self.tool,
            "status": self.status,
            "progress": self.progress,
            "stage": self.stage,
            "inputs": serde_json::from_str::<Value>(&self.inputs).unwrap_or(Value::Null),
            "params": serde_json::from_str::<Value>(&self.params).unwrap_or(Value::Null),
            "outputs": outputs.iter().map(|o| json!({
                "index": o.index,
                "url": format!("/api/generations/{}/outputs/{}", self.id, o.index),
                "content_type": o.content_type,
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
            })).collect::<Vec<_>>(),
            "error": error,
            "engine": self.engine,
            "run_ms": self.run_ms,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
            "credits_quoted": self.credits_quoted,
            // Charged per successful output; failed or unfinished outputs cost nothing.
            "credits_used": if self.status() == JobStatus::Completed {
                self.credits_per_output * outputs.len() as f64
            } else {
                0.0
            },
        })
    }
}

pub async fn load(env: &Env, id: &str) -> ApiResult<Option<Row>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!("SELECT {COLUMNS} FROM generations WHERE id = ?1"))
        .bind(&[id.into()])?
        .first(None)
        .await?)
}

/// Marks a generation that has not moved for [`stale_ms`] as timed out (releasing its credits).
async fn expire_if_stale(env: &Env, row: Row) -> ApiResult<Row> {
    let st = row.status();
    if st.is_terminal() || now_ms().saturating_sub(row.updated_at as u64) < stale_ms(env) {
        return Ok(row);
    }
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(
            "UPDATE generations SET status = 'time_out', error_name = 'InternalServerError', \
             error_message = ?2, updated_at = ?3, completed_at = ?3 WHERE id = ?1 AND status = ?4",
        )
        .bind(&[
            row.id.clone().into(),
            "The job did not finish in time. Nothing was charged; run it again.".into(),
            now.into(),
            row.status.clone().into(),
        ])?
        .run()
        .await?;
    let surface = row.surface();
    credits::settle(env, &row.user_id, surface, &row.id, &[]).await;
    Ok(load(env, &row.id).await?.unwrap_or(row))
}

pub async fn create(mut req: Request, env: &Env) -> ApiResult<Response> {
    let user = require_user(&req, env).await?;
    same_origin(&req)?;
    let body: GenerationRequest = json_body(&mut req).await?;
    // A tool without a local engine runs when the node forwards it upstream.
    let upstream = match atelier_core::Tool::from_id(&body.tool) {
        Some(t) if !t.runnable() => crate::jobs::node_has_engine(env, t).await,
        _ => false,
    };
    let valid = atelier_core::tool::validate_generation_with(&body, &|t| t.runnable() || upstream)
        .map_err(ApiError::validation)?;
    // Forwarded to a FASHN-compatible API: references it has no field for are refused now,
    // before anything is held (Product to Model's 2nd product, its Background reference).
    if upstream {
        let order = |f: &str| valid.tool.studio_refs().iter().position(|(n, _)| *n == f);
        let mut names: Vec<&str> = valid.refs.iter().map(|(f, _, _)| f.as_str()).collect();
        names.sort_by_key(|f| order(f));
        let problems = catalog::upstream_ref_problems(valid.tool, valid.image.is_some(), &names);
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
    }
    let mut inputs = serde_json::Map::new();
    // Prompt-only tools (Create Model, Create Face) have no main image.
    let (w, h) = match &valid.image {
        Some(hash) => {
            let Some(asset) = assets::find(env, &user.id, hash).await? else {
                return Err(ApiError::validation(vec![atelier_core::FieldError::new(
                    "inputs.image",
                    "unknown_asset",
                    "That image is not among your uploads. Upload it again.",
                )]));
            };
            inputs.insert("image".into(), json!(hash));
            (asset.width as u32, asset.height as u32)
        }
        None => (0, 0),
    };
    let mut treq = valid.request(w, h);
    for (field, slot, hash) in &valid.refs {
        let Some(a) = assets::find(env, &user.id, hash).await? else {
            return Err(ApiError::validation(vec![atelier_core::FieldError::new(
                &format!("inputs.{field}"),
                "unknown_asset",
                format!(
                    "That {} is not among your uploads. Upload it again.",
                    slot.label()
                ),
            )]));
        };
        // A face from the starter library is not "your own" (no Agency plan needed).
        let source = match catalog::LibraryKind::for_slot(valid.tool, *slot) {
            Some(k) if crate::library::contains(env, k, hash).await? => {
                catalog::ImageSource::Library
            }
            _ => catalog::ImageSource::Upload,
        };
        atelier_core::tool::add_reference_from(
            &mut treq,
            *slot,
            a.width as u32,
            a.height as u32,
            source,
        );
        inputs.insert(field.clone(), json!(hash));
    }
    let ctx = Context {
        surface: Surface::App,
        plan: None,
    };
    let resolved = catalog::validate(valid.tool, &treq, ctx).map_err(ApiError::validation)?;
    let q = catalog::quote(Surface::App, &resolved);
    let id = crypto::new_id();
    // Hold the full quote first: no run starts without its credits.
    if let Err(message) =
        credits::hold(env, &user.id, Surface::App, &id, q.per_output, q.outputs).await?
    {
        return Err(ApiError::new(402, "out_of_credits", message));
    }
    let now = now_ms() as f64;
    let inputs = Value::Object(inputs).to_string();
    let params = serde_json::to_string(&valid.params)
        .map_err(|_| ApiError::new(500, "internal_error", "params"))?;
    let db = env.d1(bind::DB)?;
    let inserted = db.prepare(
        "INSERT INTO generations (id, user_id, tool, inputs, params, status, created_at, updated_at, \
         credits_quoted, credits_per_output) VALUES (?1, ?2, ?3, ?4, ?5, 'in_queue', ?6, ?6, ?7, ?8)",
    )
    .bind(&[
        id.clone().into(),
        user.id.clone().into(),
        valid.tool.id().into(),
        inputs.into(),
        params.into(),
        now.into(),
        (q.credits as f64).into(),
        (q.per_output as f64).into(),
    ])?
    .run()
    .await;
    if let Err(e) = inserted {
        credits::settle(env, &user.id, Surface::App, &id, &[]).await;
        return Err(e.into());
    }
    if !crate::jobs::enqueue(env, &id).await {
        return Err(ApiError::new(
            503,
            "queue_unavailable",
            "The job queue is unavailable. Nothing was charged; try again in a moment.",
        ));
    }
    let row = load(env, &id)
        .await?
        .ok_or_else(|| ApiError::new(500, "internal_error", "lost row"))?;
    let g = row.to_json();
    events::publish(env, &user.id, &g).await;
    json(202, &json!({"generation": g}))
}

pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let user = require_user(req, env).await?;
    let (limit, before) = crate::http::page_params(req, 20, 100)?;
    let rows: Vec<Row> = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE user_id = ?1 AND source = 'app' AND created_at < ?2 \
             ORDER BY created_at DESC LIMIT ?3"
        ))
        .bind(&[user.id.into(), before.into(), (limit as f64).into()])?
        .all()
        .await?
        .results()?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(expire_if_stale(env, r).await?);
    }
    let next = if out.len() as u32 == limit {
        out.last().map(|r| r.created_at)
    } else {
        None
    };
    json(
        200,
        &json!({"generations": out.iter().map(Row::to_json).collect::<Vec<_>>(), "next_before": next}),
    )
}

/// `GET /api/gallery?limit=&before=&tool=&media=`: your completed Studio results as one item per
/// output, newest first — what the Studio's "From Gallery" picker shows. `limit` counts
/// generations (each has 1–4 outputs); `tool` keeps one tool's results (e.g. `create-face` for
/// the Face Reference's recently created faces); `media` is `image` (default), `video` or `all`.
pub async fn gallery(req: &Request, env: &Env) -> ApiResult<Response> {
    let user = require_user(req, env).await?;
    let (limit, before) = crate::http::page_params(req, 24, 100)?;
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let mut errors = vec![];
    let tool = match q.get("tool").map(String::as_str) {
        None | Some("") => None,
        Some(t) => match atelier_core::Tool::from_id(t) {
            Some(t) => Some(t),
            None => {
                errors.push(atelier_core::FieldError::new(
                    "tool",
                    "unknown_tool",
                    format!(
                        "tool: there is no tool '{t}'; use one of {}.",
                        atelier_core::Tool::ALL.map(|t| t.id()).join(", ")
                    ),
                ));
                None
            }
        },
    };
    let media = q.get("media").map_or("image", String::as_str);
    if !matches!(media, "image" | "video" | "all") {
        errors.push(atelier_core::FieldError::new(
            "media",
            "invalid",
            format!("media: '{media}' is not a kind of result; use image, video or all."),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rows: Vec<Row> = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE user_id = ?1 AND source = 'app' \
             AND status = 'completed' AND created_at < ?2 AND (?3 = '' OR tool = ?3) \
             ORDER BY created_at DESC LIMIT ?4"
        ))
        .bind(&[
            user.id.into(),
            before.into(),
            tool.map_or("", |t| t.id()).into(),
            (limit as f64).into(),
        ])?
        .all()
        .await?
        .results()?;
    let next = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|r| r.created_at))
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .flat_map(|r| {
            let outputs: Vec<StoredOutput> = serde_json::from_str(&r.outputs).unwrap_or_default();
            let label = atelier_core::Tool::from_id(&r.tool).map_or(r.tool.as_str(), |t| t.label());
            outputs
                .into_iter()
                .filter(|o| match media {
                    "image" => o.content_type.starts_with("image/"),
                    "video" => o.content_type.starts_with("video/"),
                    _ => true,
                })
                .map(|o| {
                    json!({
                        "generation_id": r.id,
                        "index": o.index,
                        "tool": r.tool,
                        "tool_label": label,
                        "url": format!("/api/generations/{}/outputs/{}", r.id, o.index),
                        "content_type": o.content_type,
                        "width": o.width,
                        "height": o.height,
                        "created_at": r.created_at,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    json(200, &json!({"items": items, "next_before": next}))
}

async fn owned(req: &Request, env: &Env, id: &str) -> ApiResult<Row> {
    let user = require_user(req, env).await?;
    match load(env, id).await? {
        Some(r) if r.user_id == user.id => expire_if_stale(env, r).await,
        _ => Err(ApiError::new(
            404,
            "not_found",
            "There is no such generation in your history.",
        )),
    }
}

pub async fn get(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let row = owned(req, env, id).await?;
    let mut g = row.to_json();
    // While it waits for a node: how many waiting jobs are ahead of it (all users, oldest first).
    if matches!(row.status(), JobStatus::InQueue | JobStatus::Starting) {
        let ahead: f64 = env
            .d1(bind::DB)?
            .prepare(
                "SELECT COUNT(*) AS n FROM generations WHERE status IN ('starting', 'in_queue') \
                 AND created_at < ?1",
            )
            .bind(&[row.created_at.into()])?
            .first(Some("n"))
            .await?
            .unwrap_or(0.0);
        g["queue_position"] = json!(ahead as u64);
    }
    json(200, &json!({"generation": g}))
}

/// `POST /api/generations/{id}/cancel`: stops a run that has not finished. The generation becomes
/// `canceled` at once, its held credits are released (nothing is charged), open pages hear of it,
/// and the inference node is told to drop the job (best effort: a node that already finished
/// finds its events refused, since a terminal state is final). 409 when it already finished.
pub async fn cancel(req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let row = owned(&req, env, id).await?;
    let not_cancelable = |status: &str| {
        ApiError::new(
            409,
            "not_cancelable",
            format!(
                "This generation is already {status}; only queued or running ones can be canceled."
            ),
        )
    };
    if row.status().is_terminal() {
        return Err(not_cancelable(&row.status));
    }
    let now = now_ms() as f64;
    let res = env
        .d1(bind::DB)?
        .prepare(
            "UPDATE generations SET status = 'canceled', stage = NULL, updated_at = ?2, \
             completed_at = ?2 WHERE id = ?1 AND status = ?3",
        )
        .bind(&[id.into(), now.into(), row.status.clone().into()])?
        .run()
        .await?;
    if res.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
        // It moved on meanwhile (finished or failed): say what it is now.
        let now = load(env, id).await?.unwrap_or(row);
        return Err(not_cancelable(&now.status));
    }
    let surface = row.surface();
    credits::settle(env, &row.user_id, surface, id, &[]).await;
    let updated = load(env, id).await?.unwrap_or(row);
    if surface == Surface::App {
        events::publish(env, &updated.user_id, &updated.to_json()).await;
    }
    crate::jobs::cancel_on_node(env, id).await;
    json(200, &json!({"generation": updated.to_json()}))
}

pub fn output_key(id: &str, index: u32) -> String {
    format!("outputs/{id}/{index}.png")
}

/// Output `index` (as in the URL) of a generation: 404 when it has none by that number.
fn stored_output(row: &Row, index: &str) -> ApiResult<(u32, StoredOutput)> {
    let index: u32 = index
        .parse()
        .map_err(|_| ApiError::new(404, "not_found", "No such output."))?;
    let outputs: Vec<StoredOutput> = serde_json::from_str(&row.outputs).unwrap_or_default();
    let out = outputs
        .into_iter()
        .find(|o| o.index == index)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "not_found",
                "This generation has no such output (yet).",
            )
        })?;
    Ok((index, out))
}

/// `POST /api/generations/{id}/outputs/{i}/export` `{format, quality}` (owner, same origin):
/// Export for Web. The inference node re-encodes the stored output (JPEG flattened on white,
/// PNG, or lossy WebP with its transparency) and the file comes back as a download, its size in
/// `X-Export-Bytes` for the dialog's estimate. Original is the plain download, not this.
pub async fn export(mut req: Request, env: &Env, id: &str, index: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let row = owned(&req, env, id).await?;
    let (index, out) = stored_output(&row, index)?;
    if !out.content_type.starts_with("image/") {
        return Err(ApiError::new(
            409,
            "not_an_image",
            "Export for Web re-encodes images; download the video as it is.",
        ));
    }
    let body: Value = json_body(&mut req).await?;
    let spec = atelier_core::export::parse_export(&body).map_err(ApiError::validation)?;
    let source_url =
        crate::jobs::signed_url(env, "GET", &format!("/api/blobs/{}", output_key(id, index)))?;
    let node_body =
        json!({"source_url": source_url, "format": spec.format, "quality": spec.quality})
            .to_string();
    let mut resp = crate::jobs::post_to_node(env, "/v1/export", &node_body)
        .await
        .map_err(|e| {
            ApiError::new(
                503,
                "export_unavailable",
                format!(
                    "Export for Web needs the inference service, which did not answer ({e}). \
                     Try again shortly; Download still gives the original."
                ),
            )
        })?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the inference service answered {}", resp.status_code()));
        return Err(ApiError::new(
            502,
            "export_failed",
            format!("The export failed: {message}"),
        ));
    }
    let width = resp.headers().get("x-image-width")?.unwrap_or_default();
    let height = resp.headers().get("x-image-height")?.unwrap_or_default();
    let bytes = resp.bytes().await?;
    let name = atelier_core::export::file_name(&row.tool, &row.id, index, spec.format);
    let size = bytes.len().to_string();
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut r = Response::from_bytes(bytes)?;
    set_headers(
        &mut r,
        &[
            ("Content-Type", spec.format.mime()),
            ("Content-Disposition", &disposition),
            ("Cache-Control", "no-store"),
            ("X-Export-Bytes", &size),
            ("X-Export-Width", &width),
            ("X-Export-Height", &height),
        ],
    )?;
    Ok(r)
}

pub async fn output(req: &Request, env: &Env, id: &str, index: &str) -> ApiResult<Response> {
    let row = owned(req, env, id).await?;
    let (index, out) = stored_output(&row, index)?;
    let mut r = r2_response(
        env,
        output_key(id, index),
        "The output's bytes are missing.",
    )
    .await?;
    let download = req
        .url()?
        .query_pairs()
        .any(|(k, v)| k == "download" && v != "0");
    let disposition = format!(
        "{}; filename=\"atelier-{}-{}-{}.png\"",
        if download { "attachment" } else { "inline" },
        row.tool,
        &row.id[..8.min(row.id.len())],
        index
    );
    set_headers(
        &mut r,
        &[
            ("Content-Type", &out.content_type),
            ("Content-Disposition", &disposition),
            ("Cache-Control", "private, max-age=31536000, immutable"),
        ],
    )?;
    Ok(r)
}
