//! The Studio's generations: create (the node's capabilities, core's parser and rules, then
//! `submit`), list (history), the Gallery's results, get, cancel, outputs and Export for Web.
//! Storage is `store::generations`.

use atelier_core::catalog::{self, Context};
use atelier_core::job::JobStatus;
use atelier_core::pricing::Surface;
use atelier_core::studio::GenerationRequest;
use atelier_core::views::{GalleryItemView, Page};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::assets;
use crate::auth::{acting, Actor};
use crate::credits;
use crate::crypto;
use crate::events;
use crate::http::{json, json_body, r2_response, same_origin, set_headers, ApiError, ApiResult};
use crate::store::generations::{
    self as store, output_key, preview_url, thumb_key, NewGeneration, StoredOutput,
};
use crate::submit::{self, Started};

pub async fn create(mut req: Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(&req, env).await?;
    same_origin(&req)?;
    let body: GenerationRequest = json_body(&mut req).await?;
    let row = create_for(env, &actor, &crypto::new_id(), &body).await?;
    json(202, &json!({"generation": row.to_json()}))
}

/// Starts a Studio generation `id` for `actor` from a Studio body: the node's capabilities,
/// core's parser and rules, the hold (on the organization's balance), then the queue. What the
/// Studio's Run and the Assistant's chains (`chains`) both do; the organization's open pages
/// are told.
pub async fn create_for(
    env: &Env,
    actor: &Actor,
    id: &str,
    body: &GenerationRequest,
) -> ApiResult<store::Row> {
    // Whether the tool runs here is the node's answer (its engines, or its upstream).
    let caps = crate::node::capabilities(env).await;
    let valid = atelier_core::studio::validate_generation_with(body, &|t| {
        crate::node::may_queue(caps.as_ref(), t, false)
    })
    .map_err(ApiError::validation)?;
    let upstream = caps
        .as_ref()
        .and_then(|c| c.tool(valid.tool))
        .is_some_and(|t| t.upstream);
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
            let Some(asset) = assets::find(env, &actor.org, hash).await? else {
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
        let Some(a) = assets::find(env, &actor.org, hash).await? else {
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
        atelier_core::studio::add_reference_from(
            &mut treq,
            *slot,
            a.width as u32,
            a.height as u32,
            source,
        );
        inputs.insert(field.clone(), json!(hash));
    }
    // The plan's gates (Quality mode, 1080p, End Image, Create Face, own Face References).
    let ctx = Context {
        surface: Surface::App,
        plan: Some(credits::app_plan(env, &actor.payer).await?),
    };
    // The catalog's problems under the Studio body's own paths (one path per field).
    let resolved = catalog::validate(valid.tool, &treq, ctx)
        .map_err(|e| ApiError::validation(catalog::in_studio(e)))?;
    // Charged only for what is delivered: a tier, an output count or an input the engine would
    // not honour is refused now, before anything is held.
    if let Some(cap) = caps.as_ref().and_then(|c| c.tool(valid.tool)) {
        let given: Vec<&str> = inputs.keys().map(String::as_str).collect();
        let problems = cap.undeliverable(&resolved, &given);
        if !problems.is_empty() {
            return Err(ApiError::validation(catalog::in_studio(problems)));
        }
    }
    let q = catalog::quote(Surface::App, &resolved);
    // Hold the full quote first: no run starts without its credits.
    let held =
        match submit::hold(env, &actor.payer, Surface::App, id, q.per_output, q.outputs).await? {
            Ok(h) => h,
            Err(message) => return Err(ApiError::new(402, "out_of_credits", message)),
        };
    let (inputs, params) = (Value::Object(inputs), Value::Object(valid.params.clone()));
    let g = NewGeneration {
        id,
        user_id: &actor.payer,
        org_id: &actor.org,
        created_by: Some(&actor.user.id),
        tool: valid.tool,
        inputs: &inputs,
        params: &params,
        options: Some(&resolved),
        status: JobStatus::InQueue,
        error: None,
        quote: (q.credits, q.per_output),
        api: None,
    };
    if submit::start(env, held, g).await? == Started::QueueUnavailable {
        return Err(ApiError::new(
            503,
            "queue_unavailable",
            "The job queue is unavailable. Nothing was charged; try again in a moment.",
        ));
    }
    let row = store::load(env, id)
        .await?
        .ok_or_else(|| ApiError::new(500, "internal_error", "lost row"))?;
    events::publish(env, &actor.org, &row.to_json()).await;
    Ok(row)
}

pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(req, env).await?;
    let (limit, before) = crate::http::page_params(req, 20, 100)?;
    let rows = store::list_app(env, &actor.org, before, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.created_at);
    let mut out = Vec::with_capacity(page.items.len());
    for r in page.items {
        out.push(crate::jobs::recover_if_stale(env, r).await?.view());
    }
    json(
        200,
        &json!({"generations": out, "next_before": page.next_before}),
    )
}

/// `GET /api/gallery?limit=&before=&tool=&media=`: your completed Studio results as one item per
/// output, newest first — what the Studio's "From Gallery" picker shows. `limit` counts
/// generations (each has 1–4 outputs); `tool` keeps one tool's results (e.g. `create-face` for
/// the Face Reference's recently created faces); `media` is `image` (default), `video` or `all`.
pub async fn gallery(req: &Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(req, env).await?;
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
    let rows = store::completed_app(env, &actor.org, before, tool, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.created_at);
    let (rows, next) = (page.items, page.next_before);
    let items: Vec<GalleryItemView> = rows
        .iter()
        .flat_map(|r| {
            let entry = r.entry();
            r.outputs()
                .into_iter()
                .filter(|o| match media {
                    "image" => o.content_type.starts_with("image/"),
                    "video" => o.content_type.starts_with("video/"),
                    _ => true,
                })
                .map(move |o| GalleryItemView {
                    thumb_url: o.thumb.then(|| preview_url(&r.id, &o)),
                    generation_id: r.id.clone(),
                    index: o.index,
                    tool: entry.tool,
                    tool_label: entry.label().to_string(),
                    url: format!("/api/generations/{}/outputs/{}", r.id, o.index),
                    content_type: o.content_type,
                    width: o.width,
                    height: o.height,
                    created_at: r.created_at,
                })
        })
        .collect();
    json(200, &json!({"items": items, "next_before": next}))
}

async fn owned(req: &Request, env: &Env, id: &str) -> ApiResult<store::Row> {
    let actor = acting(req, env).await?;
    match store::load(env, id).await? {
        // The organization's API predictions are the Developer API page's (owners').
        Some(r)
            if r.org() == actor.org
                && (r.surface() == Surface::App
                    || atelier_core::org::allows(
                        actor.role,
                        atelier_core::org::Action::ApiKeys,
                    )) =>
        {
            crate::jobs::recover_if_stale(env, r).await
        }
        _ => Err(ApiError::new(
            404,
            "not_found",
            "There is no such generation in your history.",
        )),
    }
}

pub async fn get(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let row = owned(req, env, id).await?;
    if row.is_import() {
        // An imported image is a Gallery entry, not a run: GET /api/gallery/entries/{id}.
        return Err(ApiError::new(
            404,
            "not_found",
            "There is no such generation in your history.",
        ));
    }
    let mut g = row.to_json();
    // While it waits for a node: how many waiting jobs are ahead of it (all users, oldest first).
    if matches!(row.status(), JobStatus::InQueue | JobStatus::Starting) {
        g["queue_position"] = json!(store::waiting_before(env, row.created_at).await?);
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
    if !store::end(env, id, &row.status, JobStatus::Canceled, None).await? {
        // It moved on meanwhile (finished or failed): say what it is now.
        let now = store::load(env, id).await?.unwrap_or(row);
        return Err(not_cancelable(&now.status));
    }
    let surface = row.surface();
    credits::settle(env, &row.user_id, surface, id, &[]).await;
    let updated = store::load(env, id).await?.unwrap_or(row);
    if surface == Surface::App {
        events::publish(env, updated.org(), &updated.to_json()).await;
    }
    crate::node::cancel(env, id).await;
    crate::jobs::ended(env, &updated).await;
    json(200, &json!({"generation": updated.to_json()}))
}

/// Re-encodes a stored image (R2 `key`) for the web on the inference node: the file, its width
/// and height (as the node reports them).
pub async fn encode_for_web(
    env: &Env,
    key: &str,
    spec: atelier_core::export::ExportSpec,
) -> ApiResult<(Vec<u8>, String, String)> {
    node_export(
        env,
        key,
        json!({"format": spec.format, "quality": spec.quality}),
    )
    .await
}

/// The Gallery thumbnail of a stored image (R2 `key`), made by the node as it makes them for
/// every output.
pub async fn thumbnail(env: &Env, key: &str) -> ApiResult<Vec<u8>> {
    node_export(env, key, json!({"format": "webp", "thumbnail": true}))
        .await
        .map(|(b, _, _)| b)
}

/// The node's `POST /v1/export` of a stored image with `options`.
async fn node_export(
    env: &Env,
    key: &str,
    mut options: Value,
) -> ApiResult<(Vec<u8>, String, String)> {
    options["source_url"] = json!(crate::blobs::signed_url(
        env,
        "GET",
        &format!("/api/blobs/{key}")
    )?);
    let node_body = options.to_string();
    let mut resp = crate::node::post(env, "/v1/export", &node_body)
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
    Ok((resp.bytes().await?, width, height))
}

/// `GET /api/generations/{id}/outputs/{index}/thumb`: the output's Gallery thumbnail (WebP),
/// 404 when none was made (the grid then shows the file itself).
pub async fn thumb(req: &Request, env: &Env, id: &str, index: &str) -> ApiResult<Response> {
    let row = owned(req, env, id).await?;
    let (_, out) = stored_output(&row, index)?;
    if !out.thumb {
        return Err(ApiError::new(
            404,
            "not_found",
            "This output has no thumbnail.",
        ));
    }
    let mut r = r2_response(env, thumb_key(id, &out), "The thumbnail is missing.").await?;
    set_headers(
        &mut r,
        &[
            ("Content-Type", "image/webp"),
            ("Cache-Control", "private, max-age=31536000, immutable"),
        ],
    )?;
    Ok(r)
}

/// Output `index` (as in the URL) of a generation: 404 when it has none by that number.
fn stored_output(row: &store::Row, index: &str) -> ApiResult<(u32, StoredOutput)> {
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
    let (bytes, width, height) = encode_for_web(env, &output_key(id, &out), spec).await?;
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
    let mut r = r2_response(env, output_key(id, &out), "The output's bytes are missing.").await?;
    let download = req
        .url()?
        .query_pairs()
        .any(|(k, v)| k == "download" && v != "0");
    let disposition = format!(
        "{}; filename=\"{}\"",
        if download { "attachment" } else { "inline" },
        atelier_core::export::download_name(&row.tool, &row.id, index, &out.content_type)
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
