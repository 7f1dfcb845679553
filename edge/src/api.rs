//! The Developer API, wire-compatible with FASHN's: `POST /v1/run`, `GET /v1/status/{id}`, and
//! signed output URLs. Keys (`Authorization: Bearer …`) are stored as SHA-256 hashes. Errors keep
//! FASHN's shape `{"error": Name, "message"}`; runtime problems (an image that cannot be loaded, a
//! model without an engine here) are accepted and reported as a failed prediction.

use atelier_core::catalog::{self, fashn_bad_request, resolve_api, Context};
use atelier_core::image::{inspect, UploadLimits};
use atelier_core::job::JobStatus;
use atelier_core::pricing::Surface;
use atelier_core::sign;
use atelier_core::{ErrorName, Tool};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1PreparedStatement, D1Result, Env, Request, Response};

use crate::bind;
use crate::credits;
use crate::crypto;
use crate::http::{header, json, now_ms, now_secs, r2_response, ApiError, ApiResult};
use crate::ratelimit::Route;
use crate::store::generations::{self as store, NewGeneration};
use crate::submit;

fn fashn(status: u16, name: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, name, message)
}

/// A key, its organization and who pays for it (the organization's owner's API ledger).
#[derive(Deserialize)]
pub(crate) struct KeyRow {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) org_id: String,
    pub(crate) rate_limit_scale: f64,
    /// Set for a storefront widget's run (`id` is then the publishable key's).
    #[serde(skip)]
    pub(crate) widget: Option<WidgetRun>,
}

/// A run through the storefront widget: when its shopper data goes (ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WidgetRun {
    pub(crate) expires_at: f64,
}

/// In-flight predictions an organization may have at once (the contract's default), times the
/// key's scale.
const CONCURRENCY_LIMIT: u32 = 6;

/// The key of a request, counted against its rate limit on `route`.
pub(crate) async fn authenticate(req: &Request, env: &Env, route: Route) -> ApiResult<KeyRow> {
    Ok(authenticate_with(req, env, route, vec![]).await?.0)
}

/// [`authenticate`], with `more` statements run in the same D1 round trip (a batch: the rate
/// count, the key's lookup, then `more`); their results are returned in order.
pub(crate) async fn authenticate_with(
    req: &Request,
    env: &Env,
    route: Route,
    more: Vec<D1PreparedStatement>,
) -> ApiResult<(KeyRow, Vec<D1Result>)> {
    let invalid = || fashn(401, "UnauthorizedAccess", "Unauthorized: Invalid token");
    let auth = header(req, "Authorization").ok_or_else(invalid)?;
    let key = auth
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(invalid)?;
    let hash = crypto::key_hash(key);
    let db = env.d1(bind::DB)?;
    let mut stmts = vec![
        crate::ratelimit::count(&db, &hash, route)?,
        db.prepare(
            "SELECT k.id, o.owner_id AS user_id, k.org_id, k.rate_limit_scale FROM api_keys k \
             JOIN organizations o ON o.id = k.org_id WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
        )
        .bind(&[hash.into()])?,
    ];
    stmts.extend(more);
    let mut results = db.batch(stmts).await?.into_iter();
    #[derive(Deserialize)]
    struct Count {
        count: f64,
    }
    let count = match results.next() {
        Some(r) => r.results::<Count>()?.into_iter().next(),
        None => None,
    };
    let row = match results.next() {
        Some(r) => r.results::<KeyRow>()?.into_iter().next(),
        None => None,
    };
    let (Some(row), Some(Count { count })) = (row, count) else {
        return Err(invalid());
    };
    crate::ratelimit::judge(env, &row.id, route, row.rate_limit_scale, count).await?;
    Ok((row, results.collect()))
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
    atelier_core::image::decode_data_uri(v, MAX_INLINE_IMAGE_BYTES).map(Loaded::Bytes)
}

/// The most an inline (data URI) image may decode to; the upload limits then apply to what it is.
const MAX_INLINE_IMAGE_BYTES: u64 = 64 * 1024 * 1024;

/// Stores an input image in R2 (by content) and as the organization's asset; returns its hash.
async fn store_input(
    env: &Env,
    org_id: &str,
    img: &[u8],
    info: &atelier_core::ImageInfo,
) -> ApiResult<String> {
    Ok(crate::assets::store(env, org_id, None, img, info)
        .await?
        .hash)
}

/// 429 ConcurrencyLimitExceeded when the organization already has its limit of predictions in
/// flight; also marks the key used.
pub(crate) async fn check_concurrency(env: &Env, key: &KeyRow) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    let table = if key.widget.is_some() {
        "widget_keys"
    } else {
        "api_keys"
    };
    db.prepare(format!(
        "UPDATE {table} SET last_used_at = ?1 WHERE id = ?2"
    ))
    .bind(&[(now_ms() as f64).into(), key.id.clone().into()])?
    .run()
    .await?;
    let n = store::api_in_flight(env, &key.org_id).await? as f64;
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
    /// The prediction's API fields.
    fn api(&self) -> store::ApiFields<'_> {
        store::ApiFields {
            key_id: &self.key.id,
            widget: self.key.widget.map(|w| store::WidgetFields {
                key_id: &self.key.id,
                expires_at: w.expires_at,
            }),
            model: &self.model,
            return_base64: self.return_base64,
            webhook_url: self.webhook_url.as_deref(),
        }
    }

    /// Records a prediction that fails at once (nothing charged) and answers like any accepted
    /// run, as FASHN reports runtime problems; its webhook goes out now.
    async fn fail_now(
        &self,
        params: Value,
        name: ErrorName,
        message: String,
    ) -> ApiResult<Response> {
        let id = crypto::new_id();
        store::insert(
            self.env,
            &NewGeneration {
                id: &id,
                user_id: &self.key.user_id,
                org_id: &self.key.org_id,
                created_by: None,
                tool: self.tool,
                inputs: &json!({}),
                params: &params,
                options: None,
                status: JobStatus::Failed,
                error: Some((name, &message)),
                quote: (0, 0),
                api: Some(self.api()),
            },
        )
        .await?;
        if self.webhook_url.is_some() {
            crate::webhooks::schedule(self.env, &id).await;
        }
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
        let local = crate::config::Config::from_env(env)?.local_instance;
        crate::webhooks::check_url(u, local).map_err(|m| fashn(400, "BadRequest", m))?;
    }
    // Sent by another Atelier's node forwarding a job: run it on this installation's own
    // engines only (the loop guard for two installations that forward to each other).
    let forwarded = crate::http::header(&req, atelier_core::job::FORWARDED_HEADER).is_some();
    let bytes = crate::http::read_capped(&mut req, crate::http::MAX_RUN_BODY, "BadRequest").await?;
    run_as(env, &key, &bytes, webhook_url, forwarded).await
}

/// A `/v1/run` body, for `key` (an API key, or a storefront widget's publishable key: then the
/// shopper's images are stored under `widget/<id>/`, where the scheduled cleanup finds them).
pub(crate) async fn run_as(
    env: &Env,
    key: &KeyRow,
    bytes: &[u8],
    webhook_url: Option<String>,
    forwarded: bool,
) -> ApiResult<Response> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
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
    let tool = resolved.tool();
    let model = api_model.name();
    let return_base64 = inputs
        .get("return_base64")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let quote = catalog::quote(Surface::Api, &resolved);
    let sub = Submission {
        env,
        key,
        model: model.clone(),
        tool,
        return_base64,
        webhook_url: webhook_url.clone(),
    };
    // What travels besides the resolved options: the prompt and the output format.
    let mut params = json!({});
    if inputs.get("output_format").and_then(Value::as_str) == Some("jpeg") {
        params["output_format"] = json!("jpeg");
    }
    if let Some(p) = inputs.get("prompt").and_then(Value::as_str) {
        if !p.trim().is_empty() && catalog::spec(tool).prompt != catalog::PromptSupport::None {
            params["prompt"] = json!(p);
        }
    }
    // Whether the model runs here is the node's answer; a job another Atelier forwarded runs
    // on this node's own engines only. A model without an engine is accepted and fails at
    // once, costing nothing. (background-change has no engine of its own anywhere yet.)
    let caps = crate::node::capabilities(env).await;
    if api_model == catalog::ApiModel::BackgroundChange
        || !crate::node::may_queue(caps.as_ref(), tool, forwarded)
    {
        let msg = if forwarded {
            format!(
                "{model} has no engine on this installation, and a job another Atelier forwarded here is never forwarded again (so two installations cannot pass it back and forth). Run it where an engine is configured. Nothing was charged."
            )
        } else {
            format!(
                "{model} has no engine on this installation: generative models need an upstream engine (a FASHN-compatible API configured on the inference node). Nothing was charged."
            )
        };
        return sub.fail_now(params, ErrorName::PipelineError, msg).await;
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
    // Charged only for what is delivered: a tier, an output count or an input this engine
    // would not honour fails the prediction now, costing nothing.
    if let Some(cap) = caps.as_ref().and_then(|c| c.tool(tool)) {
        let mut given: Vec<&str> = vec![];
        if source.is_some() {
            given.push("image");
        }
        given.extend(refs.iter().map(|(f, _, _)| *f));
        let problems = cap.undeliverable(&resolved, &given);
        if !problems.is_empty() {
            let message = atelier_core::tool::messages(&problems);
            return sub
                .fail_now(params, ErrorName::InputValidationError, message)
                .await;
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
        let mut request = catalog::api_request(api_model, &inputs).unwrap_or_default();
        request.set_main_size(tool, width, height);
        for (_, slot, r) in &refs {
            if let Source::Bytes(_, i) = r {
                if let Some(img) = request
                    .images
                    .get_mut(slot)
                    .and_then(|v| v.iter_mut().find(|i| i.width.is_none()))
                {
                    (img.width, img.height) = (Some(i.width), Some(i.height));
                }
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
    check_concurrency(env, key).await?;
    let id = crypto::new_id();
    let held = match submit::hold(
        env,
        &key.user_id,
        Surface::Api,
        &id,
        quote.per_output,
        quote.outputs,
    )
    .await?
    {
        Ok(h) => h,
        Err(message) => {
            let mut r = json(429, &json!({"error": "OutOfCredits", "message": message}))?;
            r.headers_mut().set("x-should-retry", "false")?;
            return Ok(r);
        }
    };
    // Store the inputs, then the row; if either fails, the hold is released. A queue failure
    // fails the prediction (credits released); the id still answers.
    let mut written: Vec<String> = vec![];
    let stored: ApiResult<Value> = async {
        let mut stored_inputs = serde_json::Map::new();
        for (field, s) in source
            .iter()
            .map(|s| ("image", s))
            .chain(refs.iter().map(|(f, _, s)| (*f, s)))
        {
            match s {
                Source::Url(u) => stored_inputs.insert(format!("{field}_url"), json!(u)),
                // A shopper's photo is kept apart from the merchant's assets, and only for the
                // key's retention time.
                Source::Bytes(img, info) if key.widget.is_some() => {
                    let blob = format!("widget/{id}/{field}");
                    env.bucket(bind::BLOBS)?
                        .put(blob.clone(), img.clone())
                        .http_metadata(worker::HttpMetadata {
                            content_type: Some(info.format.mime().into()),
                            ..Default::default()
                        })
                        .execute()
                        .await?;
                    written.push(blob.clone());
                    stored_inputs.insert(format!("{field}_blob"), json!(blob))
                }
                Source::Bytes(img, info) => stored_inputs.insert(
                    field.to_string(),
                    json!(store_input(env, &key.org_id, img, info).await?),
                ),
            };
        }
        Ok(Value::Object(stored_inputs))
    }
    .await;
    let stored_inputs = match stored {
        Ok(v) => v,
        Err(e) => {
            held.release(env).await;
            if !written.is_empty() {
                if let Ok(bucket) = env.bucket(bind::BLOBS) {
                    let _ = bucket.delete_multiple(written).await;
                }
            }
            return Err(e);
        }
    };
    let g = NewGeneration {
        id: &id,
        user_id: &key.user_id,
        org_id: &key.org_id,
        created_by: None,
        tool,
        inputs: &stored_inputs,
        params: &params,
        options: Some(&resolved),
        status: JobStatus::InQueue,
        error: None,
        quote: (quote.credits, quote.per_output),
        api: Some(sub.api()),
    };
    if let Err(e) = submit::start(env, held, g).await {
        // No row was written: the shopper's files would be found by nothing.
        if !written.is_empty() {
            if let Ok(bucket) = env.bucket(bind::BLOBS) {
                let _ = bucket.delete_multiple(written).await;
            }
        }
        return Err(e);
    }
    json(200, &json!({"id": id, "error": null}))
}

/// `GET /v1/status/{id}`
pub async fn status(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    // The key, its rate count and the prediction in one D1 round trip.
    let db = env.d1(bind::DB)?;
    let (key, results) = authenticate_with(
        req,
        env,
        Route::Status,
        vec![store::load_statement(&db, id)?],
    )
    .await?;
    let not_found = || {
        fashn(
            404,
            "NotFound",
            format!("Prediction {id} was not found (or is no longer tracked)."),
        )
    };
    let row = match results.into_iter().next() {
        Some(r) => r.results::<store::Row>()?.into_iter().next(),
        None => None,
    }
    .ok_or_else(not_found)?;
    // A prediction lost with its node is sent again, or times out (never `processing` for good).
    let row = if row.org_id.as_deref() == Some(key.org_id.as_str()) {
        crate::jobs::recover_if_stale(env, row).await?
    } else {
        row
    };
    let origin = req.url()?.origin().ascii_serialization();
    // Another organization's prediction is as unknown as a made-up id.
    let (body, used) =
        match crate::predictions::status_of(env, &row, &origin, Some(&key.org_id)).await? {
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

/// `GET /v1/outputs/{id}/{i}?exp=&sig=`: an output through its signed, expiring URL.
pub async fn output(req: &Request, env: &Env, id: &str, index: &str) -> ApiResult<Response> {
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    sign::verify_url(
        &crate::config::Config::from_env(env)?.job_secret,
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
    let missing = || fashn(404, "NotFound", "The output does not exist.");
    let row = store::load(env, id).await?.ok_or_else(missing)?;
    let out = row.output(index).ok_or_else(missing)?;
    let mut r = r2_response(
        env,
        store::output_key(id, &out),
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

/// A `/v1` request no route took: 405 with `Allow` when the path exists for other methods (the
/// OpenAPI document's), else 404.
pub fn no_route(method: &str, path: &str, segs: &[&str]) -> ApiError {
    let allow = match segs {
        ["v1", "run"] => Some("POST"),
        ["v1", "status", _]
        | ["v1", "credits"]
        | ["v1", "openapi.json"]
        | ["v1", "outputs", _, _] => Some("GET"),
        _ => None,
    };
    match allow {
        Some(allow) => fashn(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {path}; it takes {allow}."),
        )
        .with_header("Allow", allow.to_string()),
        None => fashn(404, "NotFound", format!("There is no endpoint {path}.")),
    }
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
    let local = crate::config::Config::from_env(env)?.local_instance;
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
    let org = crate::store::orgs::personal(env, &user_id, &email).await?;
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
    let key = a.key.unwrap_or_else(crate::store::orgs::new_key_value);
    let name = a.name.unwrap_or_else(|| "default".into());
    crate::store::orgs::insert_key(env, &org, &user_id, &name, &key, scale).await?;
    // A chosen key that already existed keeps its row; its scale follows this call.
    db.prepare("UPDATE api_keys SET rate_limit_scale = ?1 WHERE key_hash = ?2")
        .bind(&[scale.into(), crypto::key_hash(&key).into()])?
        .run()
        .await?;
    let key_id: Option<String> = db
        .prepare("SELECT id FROM api_keys WHERE key_hash = ?1")
        .bind(&[crypto::key_hash(&key).into()])?
        .first(Some("id"))
        .await?;
    if let Some(fid) = a.fixture_prediction {
        store::insert_fixture(env, &fid, &user_id, &org, key_id).await?;
    }
    json(201, &json!({"key": key, "user_id": user_id, "org_id": org}))
}
