//! The Gallery page's API: the Library (every completed Studio result, one entry per run), likes,
//! deletes, Collections and the bulk ZIP download.
//!
//! - `GET /api/gallery/entries?tool=&media=&liked=&collection=&page=`: a Library page.
//! - `PATCH /api/generations/{id}` `{liked}`; `DELETE /api/generations/{id}`.
//! - `POST /api/gallery/delete` and `POST /api/gallery/download` take a selection: `{ids: […]}`,
//!   or `{all: true, tool, media, liked, collection}` for Select All (the filtered set). The
//!   download is also a plain form POST (`ids=a,b` or `all=1&tool=…`, optional `format` and
//!   `quality` for Export for Web): one ZIP streamed file by file.
//! - `GET|POST /api/collections`, `PATCH|DELETE /api/collections/{id}`,
//!   `POST /api/collections/{id}/items` (a selection), `DELETE /api/collections/{id}/items/{gid}`.
//!
//! Everything is scoped by [`store::Scope`]: another organization's ids are 404, never 403.

use atelier_core::export::{parse_export, ExportSpec};
use atelier_core::gallery::{self as rules, Filter, MAX_BULK, MAX_ZIP_ENTRIES};
use atelier_core::views::LibraryPage;
use atelier_core::zip::ZipStream;
use atelier_core::FieldError;
use futures_util::stream;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::auth::acting;
use crate::http::{json, json_body, same_origin, set_headers, ApiError, ApiResult};
use crate::store::gallery::{self as store, Scope};
use crate::store::generations::{output_key, thumb_key, Row, StoredOutput};

async fn scope(req: &Request, env: &Env) -> ApiResult<Scope> {
    let a = acting(req, env).await?;
    Ok(Scope {
        id: a.org,
        payer: a.payer,
        by: a.user.id,
    })
}

fn query_pairs(req: &Request) -> ApiResult<Vec<(String, String)>> {
    Ok(req.url()?.query_pairs().into_owned().collect())
}

fn filter_of(pairs: &[(String, String)]) -> ApiResult<Filter> {
    Filter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(ApiError::validation)
}

fn not_found() -> ApiError {
    ApiError::new(404, "not_found", "There is no such item in your Gallery.")
}

fn no_collection() -> ApiError {
    ApiError::new(
        404,
        "not_found",
        "There is no such Collection in your Gallery; see GET /api/collections.",
    )
}

pub async fn entries(req: &Request, env: &Env) -> ApiResult<Response> {
    let scope = scope(req, env).await?;
    let pairs = query_pairs(req)?;
    let filter = filter_of(&pairs)?;
    let page = match pairs
        .iter()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.as_str())
    {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or_else(|| {
                ApiError::validation(vec![FieldError::new(
                    "page",
                    "invalid",
                    format!("page: '{p}' is not a page number; pages count from 1."),
                )])
            })?,
    };
    if let Some(c) = &filter.collection {
        store::collection(env, &scope, c)
            .await?
            .ok_or_else(no_collection)?;
    }
    let (rows, total) = store::page(env, &scope, &filter, page).await?;
    json(
        200,
        &LibraryPage {
            entries: rows.iter().map(Row::entry).collect(),
            page,
            pages: rules::pages(total),
            total,
        },
    )
}

/// `GET /api/gallery/entries/{id}`: one entry (the detail view opened from its address).
pub async fn entry(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let scope = scope(req, env).await?;
    let rows = store::entries(env, &scope, &[id.to_string()]).await?;
    let row = rows.first().ok_or_else(not_found)?;
    json(200, &json!({"entry": row.entry()}))
}

/// `POST /api/gallery/import`: an image of your own (raw bytes with its Content-Type, as an
/// upload; `X-File-Name` optional) becomes a Library entry marked as imported, with its
/// thumbnail, so any Studio tool can take it ("Use in").
pub async fn import(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let (bytes, info) = crate::assets::read_image(&mut req).await?;
    let file_name: String = crate::http::header(&req, "X-File-Name")
        .map(|n| {
            let n =
                String::from(js_sys::decode_uri_component(&n).unwrap_or_else(|_| n.clone().into()));
            n.chars().filter(|c| !c.is_control()).take(120).collect()
        })
        .unwrap_or_default();
    let id = crate::crypto::new_id();
    let mut out = StoredOutput {
        index: 0,
        content_type: info.format.mime().to_string(),
        width: info.width,
        height: info.height,
        bytes: bytes.len() as u64,
        thumb: false,
    };
    let bucket = env.bucket(crate::bind::BLOBS)?;
    let key = output_key(&id, &out);
    bucket
        .put(key.as_str(), bytes)
        .http_metadata(worker::HttpMetadata {
            content_type: Some(out.content_type.clone()),
            ..Default::default()
        })
        .execute()
        .await?;
    // Its thumbnail, as for a result; without the node the grid shows the file itself.
    if let Ok(thumb) = crate::generations::thumbnail(env, &key).await {
        bucket
            .put(thumb_key(&id, &out), thumb)
            .http_metadata(worker::HttpMetadata {
                content_type: Some("image/webp".into()),
                ..Default::default()
            })
            .execute()
            .await?;
        out.thumb = true;
    }
    let outputs = serde_json::to_string(&[&out]).unwrap_or_default();
    let params = json!({ "file_name": file_name }).to_string();
    if let Err(e) = store::insert_import(env, &scope, &id, &outputs, &params).await {
        // No row, no files: nothing half-imported.
        let _ = bucket
            .delete_multiple(vec![key, thumb_key(&id, &out)])
            .await;
        return Err(e);
    }
    let row = store::entries(env, &scope, &[id]).await?;
    json(201, &json!({"entry": row.first().map(Row::entry)}))
}

/// `PATCH /api/generations/{id}` `{"liked": true|false}`.
pub async fn patch(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let liked = match body.get("liked") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "liked",
                "invalid",
                "liked: send true or false (the only field that can change).",
            )]))
        }
    };
    if !store::set_liked(env, &scope, id, liked).await? {
        return Err(not_found());
    }
    json(200, &json!({"id": id, "liked": liked}))
}

/// Which entries a bulk action takes.
enum Selection {
    Ids(Vec<String>),
    All(Filter),
}

fn selection_of(pairs: &[(String, String)], ids: Vec<String>) -> ApiResult<Selection> {
    let all = pairs
        .iter()
        .any(|(k, v)| k == "all" && matches!(v.as_str(), "1" | "true"));
    if all {
        return Ok(Selection::All(filter_of(pairs)?));
    }
    let ids: Vec<String> = ids
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::validation(vec![FieldError::new(
            "ids",
            "required",
            "ids: select at least one item (or send all: true for every item the filters show).",
        )]));
    }
    if ids.len() > MAX_BULK {
        return Err(ApiError::validation(vec![FieldError::new(
            "ids",
            "too_many",
            format!(
                "ids: {} items; one action takes up to {MAX_BULK} by id. Use all: true with \
                 filters for more.",
                ids.len()
            ),
        )]));
    }
    if ids.iter().any(|i| i.len() > 64) {
        return Err(ApiError::validation(vec![FieldError::new(
            "ids",
            "invalid",
            "ids: these are not Gallery item ids.",
        )]));
    }
    Ok(Selection::Ids(ids))
}

/// A JSON selection body: `{"ids": […]}` or `{"all": true, "tool": …}`.
async fn json_selection(req: &mut Request) -> ApiResult<Selection> {
    let body: Value = json_body(req).await?;
    let Some(obj) = body.as_object() else {
        return Err(ApiError::new(400, "invalid_json", "Send a JSON object."));
    };
    let mut pairs = vec![];
    let mut ids = vec![];
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("ids", Value::Array(a)) => {
                for v in a {
                    match v.as_str() {
                        Some(s) => ids.push(s.to_string()),
                        None => {
                            return Err(ApiError::validation(vec![FieldError::new(
                                "ids",
                                "invalid",
                                "ids: a list of item ids (strings).",
                            )]))
                        }
                    }
                }
            }
            (_, Value::String(s)) => pairs.push((k.clone(), s.clone())),
            (_, Value::Bool(b)) => pairs.push((k.clone(), b.to_string())),
            (_, Value::Null) => {}
            (_, v) => pairs.push((k.clone(), v.to_string())),
        }
    }
    selection_of(&pairs, ids)
}

async fn selected(env: &Env, scope: &Scope, sel: &Selection, limit: u32) -> ApiResult<Vec<Row>> {
    match sel {
        Selection::Ids(ids) => store::entries(env, scope, ids).await,
        Selection::All(f) => {
            if let Some(c) = &f.collection {
                store::collection(env, scope, c)
                    .await?
                    .ok_or_else(no_collection)?;
            }
            store::all(env, scope, f, limit).await
        }
    }
}

/// Removes generations for good: rows first (one batch), then their files, so a failure never
/// leaves a row whose file is gone. An output that was picked as an input elsewhere was copied
/// into that asset, so it stays usable there.
async fn remove(env: &Env, scope: &Scope, rows: &[Row]) -> ApiResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    store::delete(env, scope, &ids).await?;
    let keys: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.outputs().into_iter().flat_map(|o| {
                let mut k = vec![output_key(&r.id, &o)];
                if o.thumb {
                    k.push(thumb_key(&r.id, &o));
                }
                k
            })
        })
        .collect();
    let bucket = env.bucket(crate::bind::BLOBS)?;
    for chunk in keys.chunks(1000) {
        bucket.delete_multiple(chunk.to_vec()).await?;
    }
    Ok(())
}

fn still_running(rows: &[&Row]) -> ApiError {
    ApiError::new(
        409,
        "still_running",
        format!(
            "{} still running ({}); cancel it or wait until it ends, then delete.",
            if rows.len() == 1 {
                "This generation is"
            } else {
                "Some generations are"
            },
            rows.iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// `DELETE /api/generations/{id}`: any ended generation of yours (a Library entry, or a failed
/// or canceled run in the history).
pub async fn delete_one(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let scope = scope(req, env).await?;
    let rows = store::owned(env, &scope, &[id.to_string()]).await?;
    let row = rows.first().ok_or_else(not_found)?;
    if !row.status().is_terminal() {
        return Err(still_running(&[row]));
    }
    remove(env, &scope, &rows).await?;
    json(200, &json!({"deleted": [id]}))
}

/// `POST /api/gallery/delete`: a selection. Ids that are not yours are ignored (and not
/// reported as deleted).
pub async fn delete_many(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let sel = json_selection(&mut req).await?;
    let rows = match &sel {
        Selection::Ids(ids) => store::owned(env, &scope, ids).await?,
        Selection::All(_) => selected(env, &scope, &sel, MAX_ZIP_ENTRIES).await?,
    };
    let running: Vec<&Row> = rows.iter().filter(|r| !r.status().is_terminal()).collect();
    if !running.is_empty() {
        return Err(still_running(&running));
    }
    remove(env, &scope, &rows).await?;
    json(
        200,
        &json!({"deleted": rows.iter().map(|r| &r.id).collect::<Vec<_>>()}),
    )
}

pub async fn list_collections(req: &Request, env: &Env) -> ApiResult<Response> {
    let scope = scope(req, env).await?;
    json(
        200,
        &json!({"collections": store::collections(env, &scope).await?}),
    )
}

async fn name_of(req: &mut Request) -> ApiResult<String> {
    let body: Value = json_body(req).await?;
    let raw = body.get("name").and_then(Value::as_str).unwrap_or("");
    rules::collection_name(raw).map_err(|e| ApiError::validation(vec![e]))
}

pub async fn create_collection(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let name = name_of(&mut req).await?;
    if store::collection_count(env, &scope).await? >= store::MAX_COLLECTIONS {
        return Err(ApiError::new(
            409,
            "too_many_collections",
            format!(
                "You have {} Collections, the most a Gallery holds; delete one first.",
                store::MAX_COLLECTIONS
            ),
        ));
    }
    let id = crate::crypto::new_id();
    let created_at = store::create_collection(env, &scope, &id, &name).await?;
    json(
        201,
        &json!({"collection": {"id": id, "name": name, "count": 0, "cover": [], "created_at": created_at}}),
    )
}

pub async fn rename_collection(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let name = name_of(&mut req).await?;
    if !store::rename_collection(env, &scope, id, &name).await? {
        return Err(no_collection());
    }
    json(200, &json!({"id": id, "name": name}))
}

pub async fn delete_collection(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let scope = scope(req, env).await?;
    store::collection(env, &scope, id)
        .await?
        .ok_or_else(no_collection)?;
    store::delete_collection(env, &scope, id).await?;
    json(200, &json!({"deleted": id}))
}

pub async fn add_items(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    store::collection(env, &scope, id)
        .await?
        .ok_or_else(no_collection)?;
    let sel = json_selection(&mut req).await?;
    let ids: Vec<String> = match &sel {
        Selection::Ids(ids) => ids.clone(),
        Selection::All(_) => selected(env, &scope, &sel, MAX_ZIP_ENTRIES)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    };
    let mut count = 0;
    for chunk in ids.chunks(MAX_BULK) {
        count = store::add_items(env, &scope, id, chunk).await?;
    }
    json(200, &json!({"id": id, "count": count}))
}

pub async fn remove_item(
    req: &Request,
    env: &Env,
    id: &str,
    generation_id: &str,
) -> ApiResult<Response> {
    same_origin(req)?;
    let scope = scope(req, env).await?;
    store::collection(env, &scope, id)
        .await?
        .ok_or_else(no_collection)?;
    store::remove_item(env, &scope, id, generation_id).await?;
    json(200, &json!({"id": id, "removed": generation_id}))
}

/// One file of a ZIP: where its bytes are, its name in the archive, its date.
struct ZipFile {
    key: String,
    name: String,
    created_at: f64,
    image: bool,
}

/// `POST /api/gallery/download`: the selection's files in one ZIP, streamed: each file is read
/// from R2 (or re-encoded for the web when `format` is given), written to the response, and
/// dropped before the next. Form fields or JSON.
pub async fn download(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let scope = scope(&req, env).await?;
    let ct = crate::http::header(&req, "Content-Type").unwrap_or_default();
    let (sel, export) = if ct.starts_with("application/json") {
        (json_selection(&mut req).await?, None)
    } else {
        let body = crate::http::read_capped(&mut req, crate::http::MAX_JSON_BODY, "body_too_large")
            .await?;
        let body = String::from_utf8_lossy(&body);
        let pairs: Vec<(String, String)> = worker::Url::parse(&format!("http://form/?{body}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let ids = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .collect();
        let export = match pairs.iter().find(|(k, _)| k == "format") {
            Some((_, f)) if f != "original" && !f.is_empty() => {
                let mut spec = json!({"format": f});
                if let Some((_, q)) = pairs.iter().find(|(k, _)| k == "quality") {
                    spec["quality"] = q.parse::<u64>().map(Value::from).unwrap_or(json!(q));
                }
                Some(parse_export(&spec).map_err(ApiError::validation)?)
            }
            _ => None,
        };
        (selection_of(&pairs, ids)?, export)
    };
    let rows = selected(env, &scope, &sel, MAX_ZIP_ENTRIES).await?;
    if rows.is_empty() {
        return Err(ApiError::new(
            404,
            "nothing_selected",
            "None of the selected items is in your Gallery any more.",
        ));
    }
    let outputs: Vec<(&Row, StoredOutput)> = rows
        .iter()
        .flat_map(|r| r.outputs().into_iter().map(move |o| (r, o)))
        .collect();
    let total: u64 = outputs.iter().map(|(_, o)| o.bytes).sum();
    if !atelier_core::zip::fits(outputs.len(), total) {
        return Err(ApiError::new(
            413,
            "too_large",
            format!(
                "{} files of {:.1} GB in all are more than one ZIP holds (4 GB); select fewer items.",
                outputs.len(),
                total as f64 / 1e9
            ),
        ));
    }
    let files: Vec<ZipFile> = outputs
        .iter()
        .map(|(r, o)| {
            let name = match export {
                Some(spec) if o.content_type.starts_with("image/") => {
                    atelier_core::export::file_name(&r.tool, &r.id, o.index, spec.format)
                }
                _ => atelier_core::export::download_name(&r.tool, &r.id, o.index, &o.content_type),
            };
            ZipFile {
                key: output_key(&r.id, o),
                name,
                created_at: r.created_at,
                image: o.content_type.starts_with("image/"),
            }
        })
        .collect();
    let count = files.len();
    let env2 = env.clone();
    // State: the files still to send, the archive so far; None once the end record went out.
    let body = stream::unfold(Some((files.into_iter(), ZipStream::new())), move |state| {
        let env = env2.clone();
        async move {
            let (mut files, mut zip) = state?;
            match files.next() {
                Some(f) => {
                    let chunk = match zip_entry(&env, &mut zip, &f, export).await {
                        Ok(c) => Ok(c),
                        Err(e) => Err(worker::Error::RustError(format!("{}: {e}", f.name))),
                    };
                    Some((chunk, Some((files, zip))))
                }
                None => Some((Ok(zip.finish()), None)),
            }
        }
    });
    let mut r = Response::from_stream(body)?;
    let name = format!("atelier-gallery-{count}-files.zip");
    set_headers(
        &mut r,
        &[
            ("Content-Type", "application/zip"),
            (
                "Content-Disposition",
                &format!("attachment; filename=\"{name}\""),
            ),
            ("Cache-Control", "no-store"),
            ("X-Zip-Files", &count.to_string()),
        ],
    )?;
    Ok(r)
}

async fn zip_entry(
    env: &Env,
    zip: &mut ZipStream,
    f: &ZipFile,
    export: Option<ExportSpec>,
) -> Result<Vec<u8>, String> {
    let bytes = match export {
        Some(spec) if f.image => crate::generations::encode_for_web(env, &f.key, spec)
            .await
            .map(|(b, _, _)| b)
            .map_err(|e| e.message)?,
        _ => {
            let obj = env
                .bucket(crate::bind::BLOBS)
                .map_err(|e| e.to_string())?
                .get(f.key.as_str())
                .execute()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the file is missing")?;
            match obj.body() {
                Some(b) => b.bytes().await.map_err(|e| e.to_string())?,
                None => vec![],
            }
        }
    };
    zip.file(&f.name, f.created_at, &bytes)
}

/// `POST /api/internal/admin/seed-gallery` (signed with the job secret; a local instance only):
/// `{email, count (≤ 500), start, images: [<base64>…]}` records `count` synthetic completed
/// results for the account — real images (the given ones in turn), each with its thumbnail made
/// by the node, varied tools (no videos), dates going back 13 minutes per item from `start`,
/// one in five with two outputs, one in nine liked. What `cargo xtask admin seed-gallery` sends
/// for the Gallery benchmark.
pub async fn admin_seed(mut req: Request, env: &Env) -> ApiResult<Response> {
    use atelier_core::image::{inspect, UploadLimits};
    use base64::Engine;
    let body = crate::http::signed_body(&mut req, env).await?;
    if !crate::config::Config::from_env(env)?.local_instance {
        return Err(ApiError::new(
            403,
            "local_only",
            "Seeding a Gallery with synthetic results is for local instances (benchmarks).",
        ));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_request", format!("The body: {e}.")))?;
    let email = v["email"].as_str().unwrap_or_default();
    let count = v["count"].as_u64().unwrap_or(0).min(500) as usize;
    let start = v["start"].as_u64().unwrap_or(0);
    let user = store::user_id(env, email).await?.ok_or_else(|| {
        ApiError::new(
            404,
            "not_found",
            format!("There is no account {email}; sign up first."),
        )
    })?;
    // Each image once: stored, its thumbnail made by the node.
    let mut images = vec![];
    for b64 in v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ApiError::new(400, "invalid_base64", format!("images: {e}")))?;
        let info = inspect(&bytes, &UploadLimits::DEFAULT)
            .map_err(|p| ApiError::new(p.http_status(), p.code(), format!("images: {p}")))?;
        let hash = crate::assets::put_blob(env, &bytes, &info).await?;
        let thumb = crate::generations::thumbnail(env, &crate::assets::r2_key(&hash)).await?;
        images.push((bytes, info, thumb));
    }
    if images.is_empty() || count == 0 {
        return Err(ApiError::new(
            400,
            "bad_request",
            "Send count ≥ 1 and at least one image.",
        ));
    }
    let tools: Vec<atelier_core::Tool> = atelier_core::Tool::ALL
        .into_iter()
        .filter(|t| *t != atelier_core::Tool::ImageToVideo)
        .collect();
    let now = crate::http::now_ms() as f64;
    let bucket = env.bucket(crate::bind::BLOBS)?;
    let mut rows = vec![];
    for i in 0..count {
        let n = start + i as u64;
        let id = crate::crypto::new_id();
        let (bytes, info, thumb) = &images[n as usize % images.len()];
        let outputs: Vec<StoredOutput> = (0..if n.is_multiple_of(5) { 2 } else { 1 })
            .map(|index| StoredOutput {
                index,
                content_type: info.format.mime().to_string(),
                width: info.width,
                height: info.height,
                bytes: bytes.len() as u64,
                thumb: true,
            })
            .collect();
        for o in &outputs {
            bucket
                .put(output_key(&id, o), bytes.clone())
                .http_metadata(worker::HttpMetadata {
                    content_type: Some(o.content_type.clone()),
                    ..Default::default()
                })
                .execute()
                .await?;
            bucket
                .put(thumb_key(&id, o), thumb.clone())
                .http_metadata(worker::HttpMetadata {
                    content_type: Some("image/webp".into()),
                    ..Default::default()
                })
                .execute()
                .await?;
        }
        rows.push(json!({
            "id": id,
            "tool": tools[n as usize % tools.len()].id(),
            "outputs": outputs,
            "params": {"seeded": true},
            "at": now - n as f64 * 13.0 * 60_000.0,
            "liked": i32::from(n.is_multiple_of(9)),
        }));
    }
    store::insert_seeded(env, &user, &Value::Array(rows).to_string()).await?;
    json(201, &json!({"seeded": count, "start": start}))
}
