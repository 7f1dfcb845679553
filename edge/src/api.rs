//! The Developer API, wire-compatible with FASHN's: `POST /v1/run`, `GET /v1/status/{id}`, and
//! signed output URLs. Keys (`Authorization: Bearer …`) are stored as SHA-256 hashes. Errors keep
//! FASHN's shape `{"error": Name, "message"}`; runtime problems (an image that cannot be loaded, a
//! model without an engine here) are accepted and reported as a failed prediction.
//!
//! Not yet here (issue #6): fetching image URLs (SSRF-safe), webhooks, rate limits, /v1/credits
//! with the ledger, key management UI, OpenAPI.

use atelier_core::catalog::{self, fashn_bad_request, resolve_api, Context};
use atelier_core::image::{inspect, UploadLimits};
use atelier_core::pricing::Surface;
use atelier_core::sign;
use atelier_core::tool::request_from_params;
use atelier_core::{ErrorName, Tool};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::bind;
use crate::credits;
use crate::crypto;
use crate::generations::{self, StoredOutput};
use crate::http::{header, json, now_ms, now_secs, r2_response, ApiError, ApiResult};
use crate::jobs::secret;
use crate::ratelimit::Route;

/// Output URLs live 72 hours, as FASHN's CDN URLs do.
const OUTPUT_URL_TTL_SECS: u64 = 72 * 3600;

fn fashn(status: u16, name: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, name, message)
}

/// A key, its organization and who pays for it (the organization's owner's API ledger).
#[derive(Deserialize)]
struct KeyRow {
    id: String,
    user_id: String,
    org_id: String,
    rate_limit_scale: f64,
}

/// In-flight predictions an organization may have at once (the contract's default), times the
/// key's scale.
const CONCURRENCY_LIMIT: u32 = 6;

pub fn key_hash(key: &str) -> String {
    sign::sha256_hex(key.as_bytes())
}

/// The key of a request, counted against its rate limit on `route`.
async fn authenticate(req: &Request, env: &Env, route: Route) -> ApiResult<KeyRow> {
    let invalid = || fashn(401, "UnauthorizedAccess", "Unauthorized: Invalid token");
    let auth = header(req, "Authorization").ok_or_else(invalid)?;
    let key = auth
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(invalid)?;
    let row: Option<KeyRow> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT k.id, o.owner_id AS user_id, k.org_id, k.rate_limit_scale FROM api_keys k \
             JOIN organizations o ON o.id = k.org_id WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
        )
        .bind(&[key_hash(key).into()])?
        .first(None)
        .await?;
    let row = row.ok_or_else(invalid)?;
    crate::ratelimit::check(env, &row.id, route, row.rate_limit_scale).await?;
    Ok(row)
}

/// Models this installation runs, and the Studio params they become.
fn engine_params(tool: Tool, r: &catalog::Resolved) -> Option<Value> {
    match tool {
        Tool::BackgroundRemove => Some(match r.background {
            Some(atelier_core::Background::Solid { color }) => {
                json!({"background": "solid", "color": color.to_hex()})
            }
            _ => json!({"background": "transparent"}),
        }),
        Tool::Upscale => Some(
            json!({"factor": r.upscale.map(|f| serde_json::to_value(f).unwrap_or(json!("2x"))).unwrap_or(json!("2x"))}),
        ),
        Tool::Reframe => r.aspect_ratio.map(|a| json!({"aspect_ratio": a.label()})),
        Tool::Packshot => Some(generic_params(r)),
        Tool::ImageToVideo => Some(json!({
            "duration": r.duration,
            "video_resolution": r.video_resolution,
        })),
        Tool::FaceSwap => Some(json!({
            "face_match": r.face_match.unwrap_or(catalog::FaceMatch::MatchReference),
        })),
        Tool::TryOn => Some(generic_params(r)),
        _ => None,
    }
}

/// The generic Studio params of a resolved request (Packshot, Try-On, and the tools the node
/// forwards to its upstream engine).
fn generic_params(r: &catalog::Resolved) -> Value {
    let mut p = json!({"num_images": r.outputs});
    if let Some(a) = r.aspect_ratio {
        p["aspect_ratio"] = json!(a.label());
    }
    if let Some(res) = r.resolution {
        p["resolution"] = json!(res);
    }
    if let Some(m) = r.mode {
        p["generation_mode"] = json!(m);
    }
    if let Some(f) = r.face_match {
        p["face_match"] = json!(f);
    }
    if let Some(c) = r.category {
        p["category"] = json!(c);
    }
    p
}

#[allow(clippy::too_many_arguments)]
async fn insert_prediction(
    env: &Env,
    id: String,
    key: &KeyRow,
    model: &str,
    tool: Tool,
    inputs: Value,
    params: Value,
    status: &str,
    error: Option<(ErrorName, String)>,
    quote: (u32, u32),
    return_base64: bool,
    webhook_url: Option<String>,
) -> ApiResult<String> {
    let now = now_ms() as f64;
    // A prediction that fails at once is terminal now: its webhook goes out now too.
    let hook = webhook_url.is_some() && error.is_some();
    let (error_name, error_message) = match &error {
        Some((n, m)) => (JsValue::from_str(n.as_str()), JsValue::from_str(m)),
        None => (JsValue::NULL, JsValue::NULL),
    };
    let completed = if error.is_some() {
        JsValue::from_f64(now)
    } else {
        JsValue::NULL
    };
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO generations (id, user_id, tool, inputs, params, status, error_name, error_message, \
             created_at, updated_at, completed_at, credits_quoted, credits_per_output, source, api_key_id, \
             model_name, return_base64, webhook_url, org_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, 'api', ?13, ?14, ?15, ?16, ?17)",
        )
        .bind(&[
            id.clone().into(),
            key.user_id.clone().into(),
            tool.id().into(),
            inputs.to_string().into(),
            params.to_string().into(),
            status.into(),
            error_name,
            error_message,
            now.into(),
            completed,
            (quote.0 as f64).into(),
            (quote.1 as f64).into(),
            key.id.clone().into(),
            model.into(),
            (return_base64 as i32).into(),
            webhook_url.map(JsValue::from).unwrap_or(JsValue::NULL),
            key.org_id.clone().into(),
        ])?
        .run()
        .await?;
    if hook {
        crate::webhooks::schedule(env, &id).await;
    }
    Ok(id)
}

/// An image input as given.
enum Loaded {
    Url(String),
    Bytes(Vec<u8>),
}

/// An image input ready to run: a URL the node will fetch, or checked bytes.
enum Source {
    Url(String),
    Bytes(Vec<u8>, atelier_core::ImageInfo),
}

/// Reads an image input: an http(s) URL (its scheme and any literal address checked here, what
/// a host name resolves to checked by the node that fetches it) or a `data:image/…;base64,` URI.
fn load_image(v: &str) -> Result<Loaded, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("Error loading image: the image is empty; give an https URL or a data:image/…;base64,… URI".into());
    }
    if !v.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
        let url = worker::Url::parse(v).map_err(|e| {
            format!("Error loading image: {v:?} is neither a URL nor a data URI ({e})")
        })?;
        atelier_core::ssrf::check_url_shape(url.scheme(), url.host_str())
            .map_err(|m| format!("Error loading image: {m}"))?;
        return Ok(Loaded::Url(url.to_string()));
    }
    let (_, b64) = v
        .split_once(";base64,")
        .ok_or("Error loading image: Invalid data URI (expected data:image/…;base64,…)")?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(Loaded::Bytes)
        .map_err(|e| format!("Error loading image: the base64 data is invalid ({e})"))
}

/// Stores an input image in R2 (by content) and as the user's asset; returns its hash.
async fn store_input(
    env: &Env,
    user_id: &str,
    img: &[u8],
    info: &atelier_core::ImageInfo,
) -> ApiResult<String> {
    Ok(crate::assets::store(env, user_id, img, info).await?.hash)
}

/// 429 ConcurrencyLimitExceeded when the organization already has its limit of predictions in
/// flight; also marks the key used.
async fn check_concurrency(env: &Env, key: &KeyRow) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    db.prepare("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")
        .bind(&[(now_ms() as f64).into(), key.id.clone().into()])?
        .run()
        .await?;
    let n: f64 = db
        .prepare(
            "SELECT COUNT(*) AS n FROM generations WHERE org_id = ?1 AND source = 'api' \
             AND status IN ('starting', 'in_queue', 'processing')",
        )
        .bind(&[key.org_id.clone().into()])?
        .first(Some("n"))
        .await?
        .unwrap_or(0.0);
    let limit = (CONCURRENCY_LIMIT as f64 * key.rate_limit_scale.max(0.0)).ceil();
    if n >= limit {
        return Err(fashn(
            429,
            "ConcurrencyLimitExceeded",
            format!(
                "Concurrency limit exceeded: {limit} predictions are already in flight for this organization; wait for one to finish."
            ),
        )
        .with_header("Retry-After", "2".into()));
    }
    Ok(())
}

/// An accepted `/v1/run` on its way: what every outcome records.
struct Submission<'a> {
    env: &'a Env,
    key: &'a KeyRow,
    model: String,
    tool: Tool,
    return_base64: bool,
    webhook_url: Option<String>,
}

impl Submission<'_> {
    /// Records a prediction that fails at once (nothing charged) and answers like any accepted
    /// run, as FASHN reports runtime problems.
    async fn fail_now(
        &self,
        params: Value,
        name: ErrorName,
        message: String,
    ) -> ApiResult<Response> {
        let id = insert_prediction(
            self.env,
            crypto::new_id(),
            self.key,
            &self.model,
            self.tool,
            json!({}),
            params,
            "failed",
            Some((name, message)),
            (0, 0),
            self.return_base64,
            self.webhook_url.clone(),
        )
        .await?;
        json(200, &json!({"id": id, "error": null}))
    }
}

/// `POST /v1/run`
pub async fn run(mut req: Request, env: &Env) -> ApiResult<Response> {
    let key = authenticate(&req, env, Route::Run).await?;
    let url = req.url()?;
    let webhook_url = url
        .query_pairs()
        .find(|(k, _)| k == "webhook_url")
        .map(|(_, v)| v.to_string());
    if let Some(u) = &webhook_url {
        let local = env
            .var("LOCAL_INSTANCE")
            .map(|v| v.to_string() == "true")
            .unwrap_or(false);
        crate::webhooks::check_url(u, local).map_err(|m| fashn(400, "BadRequest", m))?;
    }
    // Sent by another Atelier's node forwarding a job: run it on this installation's own
    // engines only (the loop guard for two installations that forward to each other).
    let forwarded = crate::http::header(&req, "x-atelier-forwarded").is_some();
    let bytes = req.bytes().await?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        fashn(
            400,
            "BadRequest",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    let model = body.get("model_name").and_then(Value::as_str).ok_or_else(|| {
        fashn(400, "BadRequest", "model_name is required, e.g. {\"model_name\": \"background-remove\", \"inputs\": {...}}.")
    })?;
    let inputs: Map<String, Value> = match body.get("inputs") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(fashn(
                400,
                "BadRequest",
                "inputs is required and must be an object.",
            ))
        }
    };
    let (api_model, resolved) = match resolve_api(
        model,
        &inputs,
        Context {
            surface: Surface::Api,
            plan: None,
        },
    ) {
        Ok(r) => r,
        Err(errors) => {
            let b = fashn_bad_request(&errors);
            let mut r = json(400, &b)?;
            r.headers_mut().set("x-should-retry", "false")?;
            return Ok(r);
        }
    };
    let tool = resolved.tool;
    let model = api_model.name();
    let return_base64 = inputs
        .get("return_base64")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let quote = catalog::quote(Surface::Api, &resolved);
    let sub = Submission {
        env,
        key: &key,
        model: model.clone(),
        tool,
        return_base64,
        webhook_url: webhook_url.clone(),
    };
    // A model without an engine here is accepted and fails at once, costing nothing.
    let engine = if tool.runnable() {
        engine_params(tool, &resolved)
    } else if !forwarded && crate::jobs::node_has_engine(env, tool).await {
        // Forwarded upstream by the node: the generic options travel as the Studio's do.
        Some(generic_params(&resolved))
    } else {
        None
    };
    let Some(mut params) = engine.filter(|_| api_model != catalog::ApiModel::BackgroundChange)
    else {
        let msg = if forwarded && !tool.runnable() {
            format!(
                "{model} has no engine on this installation, and a job another Atelier forwarded here is never forwarded again (so two installations cannot pass it back and forth). Run it where an engine is configured. Nothing was charged."
            )
        } else {
            format!(
                "{model} has no engine on this installation: generative models need an upstream engine (a FASHN-compatible API configured on the inference node). Nothing was charged."
            )
        };
        return sub.fail_now(json!({}), ErrorName::PipelineError, msg).await;
    };
    if inputs.get("output_format").and_then(Value::as_str) == Some("jpeg") {
        params["output_format"] = json!("jpeg");
    }
    if let Some(p) = inputs.get("prompt").and_then(Value::as_str) {
        if !p.trim().is_empty() && catalog::spec(tool).prompt != catalog::PromptSupport::None {
            params["prompt"] = json!(p);
        }
    }
    let read = |raw: &str| match load_image(raw) {
        Ok(Loaded::Url(u)) => Ok(Source::Url(u)),
        Ok(Loaded::Bytes(b)) => inspect(&b, &UploadLimits::DEFAULT)
            .map(|i| Source::Bytes(b, i))
            .map_err(|p| format!("Error loading image: {p}")),
        Err(e) => Err(e),
    };
    // The model's main image field (`image`, Packshot's `product_image`), then the reference
    // images this installation's engines use (End Image, Image Context, Face Reference).
    let main_field = catalog::api_image_fields(api_model)
        .first()
        .map(|(f, _)| *f)
        .unwrap_or("image");
    let raw = inputs
        .get(main_field)
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Prompt-only tools (Create Model, Create Face) have no main image, only references.
    let source = if tool.main_slot().is_some() {
        match read(raw) {
            Ok(s) => Some(s),
            Err(message) => {
                return sub
                    .fail_now(params, ErrorName::ImageLoadError, message)
                    .await;
            }
        }
    } else {
        None
    };
    let mut refs = vec![];
    for (field, slot) in tool.studio_refs() {
        // The Studio's extra images in the main slot (Product to Model's 2nd and 3rd
        // products) have no API field.
        if tool.main_slot() == Some(*slot) {
            continue;
        }
        // The model's own name for the slot (tryon-v1.6's `garment_image`), stored under the
        // Studio's.
        let api_field = catalog::api_image_fields(api_model)
            .iter()
            .find(|(_, s)| s == slot)
            .map(|(f, _)| *f)
            .unwrap_or(field);
        let Some(raw) = inputs
            .get(api_field)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
        else {
            continue;
        };
        match read(raw) {
            Ok(s) => refs.push((*field, *slot, s)),
            Err(message) => {
                let message = format!("{api_field}: {message}");
                return sub
                    .fail_now(params, ErrorName::ImageLoadError, message)
                    .await;
            }
        }
    }
    // The same rules decide the run (and refuse, e.g., a Reframe to the ratio it already has);
    // for a URL the size is known only when the node has fetched it.
    let dims = match &source {
        Some(Source::Bytes(_, info)) => Some((info.width, info.height)),
        Some(Source::Url(_)) => None,
        None => Some((0, 0)),
    };
    if let Some((width, height)) = dims {
        let params_map = params.as_object().cloned().unwrap_or_default();
        let mut request = request_from_params(tool, &params_map, width, height);
        for (_, slot, r) in &refs {
            if let Source::Bytes(_, i) = r {
                atelier_core::tool::add_reference(&mut request, *slot, i.width, i.height);
            }
        }
        if let Err(errors) = catalog::validate(
            tool,
            &request,
            Context {
                surface: Surface::Api,
                plan: None,
            },
        ) {
            let message = atelier_core::tool::messages(&errors);
            return sub
                .fail_now(params, ErrorName::InputValidationError, message)
                .await;
        }
    }
    check_concurrency(env, &key).await?;
    let id = crypto::new_id();
    if let Err(message) = credits::hold(
        env,
        &key.user_id,
        Surface::Api,
        &id,
        quote.per_output,
        quote.outputs,
    )
    .await?
    {
        let mut r = json(429, &json!({"error": "OutOfCredits", "message": message}))?;
        r.headers_mut().set("x-should-retry", "false")?;
        return Ok(r);
    }
    // Store the input and the row; if either fails, the hold is released.
    let stored: ApiResult<String> = async {
        let mut stored_inputs = serde_json::Map::new();
        for (field, s) in source
            .iter()
            .map(|s| ("image", s))
            .chain(refs.iter().map(|(f, _, s)| (*f, s)))
        {
            match s {
                Source::Url(u) => stored_inputs.insert(format!("{field}_url"), json!(u)),
                Source::Bytes(img, info) => stored_inputs.insert(
                    field.to_string(),
                    json!(store_input(env, &key.user_id, img, info).await?),
                ),
            };
        }
        let stored_inputs = Value::Object(stored_inputs);
        insert_prediction(
            env,
            id.clone(),
            &key,
            &model,
            tool,
            stored_inputs,
            params,
            "in_queue",
            None,
            (quote.credits, quote.per_output),
            return_base64,
            webhook_url,
        )
        .await
    }
    .await;
    let id = match stored {
        Ok(stored_id) => stored_id,
        Err(e) => {
            credits::settle(env, &key.user_id, Surface::Api, &id, &[]).await;
            return Err(e);
        }
    };
    // A queue failure fails the prediction (credits released); the id still answers.
    crate::jobs::enqueue(env, &id).await;
    json(200, &json!({"id": id, "error": null}))
}

#[derive(Deserialize)]
struct ApiRow {
    return_base64: f64,
    source: String,
    org_id: Option<String>,
}

/// `GET /v1/status/{id}`
pub async fn status(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let key = authenticate(req, env, Route::Status).await?;
    let not_found = || {
        fashn(
            404,
            "NotFound",
            format!("Prediction {id} was not found (or is no longer tracked)."),
        )
    };
    let row = generations::load(env, id).await?.ok_or_else(not_found)?;
    let origin = req.url()?.origin().ascii_serialization();
    // Another organization's prediction is as unknown as a made-up id.
    let (body, used) = match status_of(env, &row, &origin, Some(&key.org_id)).await? {
        Some(x) => x,
        None => return Err(not_found()),
    };
    let mut r = json(200, &body)?;
    if let Some(used) = used {
        r.headers_mut()
            .set("x-fashn-credits-used", &used.to_string())?;
    }
    Ok(r)
}

/// The status body of an API prediction (for webhooks; output URLs on `EDGE_URL`).
pub async fn status_body(env: &Env, id: &str) -> ApiResult<Value> {
    let row = generations::load(env, id)
        .await?
        .ok_or_else(|| fashn(404, "NotFound", "gone"))?;
    let origin = env
        .var(bind::EDGE_URL)?
        .to_string()
        .trim_end_matches('/')
        .to_string();
    Ok(status_of(env, &row, &origin, None)
        .await?
        .ok_or_else(|| fashn(404, "NotFound", "not an API prediction"))?
        .0)
}

/// FASHN's status body and, on terminal states, the credits used; None if not an API prediction.
///
/// With `org`, only that organization's predictions are found.
async fn status_of(
    env: &Env,
    row: &generations::Row,
    origin: &str,
    org: Option<&str>,
) -> ApiResult<Option<(Value, Option<u64>)>> {
    let extra: Option<ApiRow> = env
        .d1(bind::DB)?
        .prepare("SELECT return_base64, source, org_id FROM generations WHERE id = ?1")
        .bind(&[row.id.clone().into()])?
        .first(None)
        .await?;
    let Some(extra) =
        extra.filter(|e| e.source == "api" && org.is_none_or(|o| e.org_id.as_deref() == Some(o)))
    else {
        return Ok(None);
    };
    let st = row.status();
    let mut body = json!({"id": row.id, "status": row.status, "error": null});
    if let Some(name) = &row.error_name {
        body["error"] =
            json!({"name": name, "message": row.error_message.clone().unwrap_or_default()});
    }
    let outputs: Vec<StoredOutput> = serde_json::from_str(&row.outputs).unwrap_or_default();
    if st == atelier_core::JobStatus::Completed {
        let mut urls = vec![];
        for o in &outputs {
            let path = format!("/v1/outputs/{}/{}", row.id, o.index);
            if extra.return_base64 != 0.0 {
                let obj = env
                    .bucket(bind::BLOBS)?
                    .get(generations::output_key(&row.id, o.index))
                    .execute()
                    .await?;
                let bytes = match obj.as_ref().and_then(|o| o.body()) {
                    Some(b) => b.bytes().await?,
                    None => vec![],
                };
                urls.push(format!(
                    "data:{};base64,{}",
                    o.content_type,
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                ));
            } else {
                let exp = now_secs() + OUTPUT_URL_TTL_SECS;
                let sig = sign::sign_url(&secret(env)?, "GET", &path, exp);
                urls.push(format!("{origin}{path}?exp={exp}&sig={sig}"));
            }
        }
        body["output"] = json!(urls);
    }
    let used = st.is_terminal().then(|| {
        if st == atelier_core::JobStatus::Completed {
            (row.credits_per_output * outputs.len() as f64) as u64
        } else {
            0
        }
    });
    Ok(Some((body, used)))
}

/// `GET /v1/outputs/{id}/{i}?exp=&sig=`: an output through its signed, expiring URL.
pub async fn output(req: &Request, env: &Env, id: &str, index: &str) -> ApiResult<Response> {
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    sign::verify_url(
        &secret(env)?,
        "GET",
        url.path(),
        q.get("exp").map(String::as_str),
        q.get("sig").map(String::as_str),
        now_secs(),
    )
    .map_err(|e| match e {
        sign::SignError::Expired => fashn(
            403,
            "Forbidden",
            format!("This output URL has expired (output URLs are valid for 72 hours); GET /v1/status/{id} gives fresh ones."),
        ),
        e => fashn(
            403,
            "Forbidden",
            format!("This output URL is not valid: {e}."),
        ),
    })?;
    let index: u32 = index
        .parse()
        .map_err(|_| fashn(404, "NotFound", "No such output."))?;
    let mut r = r2_response(
        env,
        generations::output_key(id, index),
        "The output does not exist.",
    )
    .await?;
    r.headers_mut()
        .set("Cache-Control", "private, max-age=3600")?;
    Ok(r)
}

/// `GET /v1/credits`: `{"credits": {"total", "subscription", "on_demand"}}` — subscription is
/// the daily and monthly buckets (spent first), on_demand the top-ups.
pub async fn credits_balance(req: &Request, env: &Env) -> ApiResult<Response> {
    let key = authenticate(req, env, Route::Credits).await?;
    let l = credits::available(env, &key.user_id, Surface::Api).await?;
    use atelier_core::ledger::BucketKind;
    let sub = l.available_by_kind(BucketKind::Daily) + l.available_by_kind(BucketKind::Monthly);
    let on_demand = l.available_by_kind(BucketKind::TopUp);
    json(
        200,
        &json!({"credits": {"total": sub + on_demand, "subscription": sub, "on_demand": on_demand}}),
    )
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document, generated from core's catalog.
pub fn openapi(req: &Request) -> ApiResult<Response> {
    let origin = req.url()?.origin().ascii_serialization();
    let mut r = json(200, &atelier_core::openapi::document(&origin))?;
    r.headers_mut().set("Access-Control-Allow-Origin", "*")?;
    r.headers_mut()
        .set("Cache-Control", "public, max-age=300")?;
    Ok(r)
}

/// A `/v1` path that does not exist.
pub fn not_found(path: &str) -> ApiError {
    fashn(404, "NotFound", format!("There is no endpoint {path}."))
}

#[derive(Deserialize)]
struct AdminKey {
    email: String,
    key: Option<String>,
    name: Option<String>,
    fixture_prediction: Option<String>,
    api_credits: Option<u64>,
    app_credits: Option<u64>,
    /// Only create the account / set credits; no key.
    #[serde(default)]
    no_key: bool,
    /// The key's rate and concurrency limits are the contract's times this (default 1).
    rate_limit_scale: Option<f64>,
}

/// `POST /api/internal/admin/keys` (signed with the job secret, for `cargo xtask admin`):
/// creates the account if needed and an API key; on a local instance the key value may be
/// chosen (the SDK tests use "My API Key") and a completed fixture prediction may be seeded.
pub async fn admin_key(mut req: Request, env: &Env) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    let a: AdminKey = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_request", e.to_string()))?;
    let local = env
        .var("LOCAL_INSTANCE")
        .map(|v| v.to_string() == "true")
        .unwrap_or(false);
    if (a.key.is_some() || a.fixture_prediction.is_some()) && !local {
        return Err(ApiError::new(
            403,
            "not_local",
            "Chosen keys and fixtures are for local instances only.",
        ));
    }
    let email = a.email.trim().to_lowercase();
    if !atelier_core::account::valid_email(&email) {
        return Err(ApiError::new(400, "invalid_email", "Give a valid email."));
    }
    let db = env.d1(bind::DB)?;
    let existing: Option<String> = db
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[email.clone().into()])?
        .first(Some("id"))
        .await?;
    let user_id = match existing {
        Some(id) => id,
        None => {
            let id = crypto::new_id();
            let pw = crypto::hash_password(&hex::encode(crypto::random_bytes::<24>()))
                .map_err(|e| ApiError::new(500, "internal_error", e))?;
            db.prepare(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&[
                id.clone().into(),
                email.clone().into(),
                pw.into(),
                (now_ms() as f64).into(),
            ])?
            .run()
            .await?;
            id
        }
    };
    if let Some(n) = a.api_credits {
        credits::set(env, &user_id, Surface::Api, n).await?;
    }
    if let Some(n) = a.app_credits {
        credits::set(env, &user_id, Surface::App, n).await?;
    }
    let org = crate::orgs::personal(env, &user_id, &email).await?;
    if a.no_key {
        return json(200, &json!({"user_id": user_id, "org_id": org}));
    }
    let scale = a.rate_limit_scale.unwrap_or(1.0);
    if !(0.0..=1000.0).contains(&scale) {
        return Err(ApiError::new(
            400,
            "bad_request",
            "rate_limit_scale is between 0 and 1000.",
        ));
    }
    let key = a.key.unwrap_or_else(crate::orgs::new_key_value);
    let name = a.name.unwrap_or_else(|| "default".into());
    crate::orgs::insert_key(env, &org, &user_id, &name, &key, scale).await?;
    // A chosen key that already existed keeps its row; its scale follows this call.
    db.prepare("UPDATE api_keys SET rate_limit_scale = ?1 WHERE key_hash = ?2")
        .bind(&[scale.into(), key_hash(&key).into()])?
        .run()
        .await?;
    let key_id: Option<String> = db
        .prepare("SELECT id FROM api_keys WHERE key_hash = ?1")
        .bind(&[key_hash(&key).into()])?
        .first(Some("id"))
        .await?;
    if let Some(fid) = a.fixture_prediction {
        let now = now_ms() as f64;
        db.prepare(
            "INSERT OR IGNORE INTO generations (id, user_id, tool, inputs, params, status, progress, outputs, created_at, updated_at, completed_at, source, model_name, org_id, api_key_id) \
             VALUES (?1, ?2, 'background-remove', '{}', '{}', 'completed', 1, '[]', ?3, ?3, ?3, 'api', 'background-remove', ?4, ?5)",
        )
        .bind(&[fid.into(), user_id.clone().into(), now.into(), org.clone().into(), key_id.map(JsValue::from).unwrap_or(JsValue::NULL)])?
        .run()
        .await?;
    }
    json(201, &json!({"key": key, "user_id": user_id, "org_id": org}))
}
