//! The storefront try-on widget (#20): publishable keys (made on the Developer page or by
//! `cargo xtask admin create-widget-key`), the widget page merchants frame
//! (`GET /embed/try-on?key=…`), the two calls its script makes (`POST /api/widget/run`,
//! `GET /api/widget/runs/{id}`), and the scheduled cleanup of shoppers' data.
//!
//! The rules (origins, retention, limits, the session, the CSP) are core's `widget`. A widget
//! run is an API prediction of `tryon-v1.6` made through `api::run_as` (the merchant's API
//! credits pay, its request history lists it under the key), with the shopper's photo stored
//! under `widget/<id>/` instead of the merchant's assets.

use atelier_core::views::WidgetKeyView;
use atelier_core::widget::{self as rules, Limit};
use atelier_core::FieldError;
use serde::Deserialize;
use serde_json::json;
use worker::{Env, Request, Response};

use crate::bind;
use crate::crypto;
use crate::http::{header, json, json_body, now_ms, now_secs, ApiError, ApiResult};
use crate::store::generations::{self as gens, Row, COLUMNS};

/// A publishable key as stored.
#[derive(Debug, Clone, Deserialize)]
struct KeyRow {
    id: String,
    org_id: String,
    name: String,
    key: String,
    /// JSON list of exact origins.
    origins: String,
    retention_hours: f64,
    created_at: f64,
    last_used_at: Option<f64>,
    revoked_at: Option<f64>,
    /// The organization's owner of record (whose API credits pay).
    #[serde(default)]
    owner_id: Option<String>,
}

impl KeyRow {
    fn origins(&self) -> Vec<String> {
        serde_json::from_str(&self.origins).unwrap_or_default()
    }
}

fn view(k: KeyRow, base: &str) -> WidgetKeyView {
    let (snippet_script, snippet_iframe) = rules::snippets(base, &k.key);
    WidgetKeyView {
        origins: k.origins(),
        id: k.id,
        name: k.name,
        key: k.key,
        retention_hours: k.retention_hours as u32,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        snippet_script,
        snippet_iframe,
    }
}

const SELECT_KEY: &str = "SELECT w.id, w.org_id, w.name, w.key, w.origins, w.retention_hours, \
     w.created_at, w.last_used_at, w.revoked_at, o.owner_id FROM widget_keys w \
     JOIN organizations o ON o.id = w.org_id";

async fn key_where(env: &Env, cond: &str, value: &str) -> ApiResult<Option<KeyRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!("{SELECT_KEY} WHERE {cond} = ?1"))
        .bind(&[value.into()])?
        .first(None)
        .await?)
}

// ---- Management: the Developer page (owners and admins) and the operator's command ----------

#[derive(Deserialize)]
struct NewKey {
    name: Option<String>,
    #[serde(default)]
    origins: Vec<String>,
    retention_hours: Option<f64>,
}

/// Checks a new key's fields; returns (name, origins, retention hours).
fn check_new(body: &NewKey) -> ApiResult<(String, Vec<String>, u32)> {
    let mut errors: Vec<FieldError> = vec![];
    let name = body.name.as_deref().unwrap_or("").trim();
    let name = if name.is_empty() { "Storefront" } else { name };
    if name.chars().count() > 60 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "A key name is at most 60 characters, without control characters.",
        ));
    }
    let origins = rules::parse_origins(&body.origins).unwrap_or_else(|e| {
        errors.extend(e);
        vec![]
    });
    let hours = rules::retention_hours(body.retention_hours).unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    if errors.is_empty() {
        Ok((name.to_string(), origins, hours))
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Inserts a key for `org` (at most `MAX_ACTIVE_KEYS` active); returns it.
async fn insert(env: &Env, org: &str, by: Option<&str>, body: &NewKey) -> ApiResult<KeyRow> {
    let (name, origins, hours) = check_new(body)?;
    let db = env.d1(bind::DB)?;
    let live: f64 = db
        .prepare("SELECT COUNT(*) AS n FROM widget_keys WHERE org_id = ?1 AND revoked_at IS NULL")
        .bind(&[org.into()])?
        .first(Some("n"))
        .await?
        .unwrap_or(0.0);
    if live >= rules::MAX_ACTIVE_KEYS as f64 {
        return Err(ApiError::new(
            409,
            "too_many_keys",
            format!(
                "An organization has at most {} active publishable keys; revoke one first.",
                rules::MAX_ACTIVE_KEYS
            ),
        ));
    }
    let id = crypto::new_id();
    let key = format!(
        "{}{}",
        rules::KEY_PREFIX,
        hex::encode(crypto::random_bytes::<16>())
    );
    let origins = serde_json::to_string(&origins).unwrap_or_else(|_| "[]".into());
    let now = now_ms() as f64;
    db.prepare(
        "INSERT INTO widget_keys (id, org_id, created_by, name, key, origins, retention_hours, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[
        id.clone().into(),
        org.into(),
        by.map(Into::into).unwrap_or(wasm_bindgen::JsValue::NULL),
        name.clone().into(),
        key.clone().into(),
        origins.clone().into(),
        (hours as f64).into(),
        now.into(),
    ])?
    .run()
    .await?;
    Ok(KeyRow {
        id,
        org_id: org.into(),
        name,
        key,
        origins,
        retention_hours: hours as f64,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        owner_id: None,
    })
}

fn base_of(req: &Request) -> ApiResult<String> {
    Ok(req.url()?.origin().ascii_serialization())
}

/// `POST /api/widget-keys {name, origins: [..], retention_hours}` → 201 with the key.
pub async fn create(mut req: Request, env: &Env) -> ApiResult<Response> {
    let a = crate::auth::acting(&req, env).await?;
    a.require(atelier_core::org::Action::ApiKeys)?;
    let body: NewKey = json_body(&mut req).await?;
    let k = insert(env, &a.org, Some(&a.user.id), &body).await?;
    json(201, &json!({"key": view(k, &base_of(&req)?)}))
}

/// `GET /api/widget-keys`: the organization's publishable keys, newest first.
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let a = crate::auth::acting(req, env).await?;
    a.require(atelier_core::org::Action::ApiKeys)?;
    let rows: Vec<KeyRow> = env
        .d1(bind::DB)?
        .prepare(format!(
            "{SELECT_KEY} WHERE w.org_id = ?1 ORDER BY w.created_at DESC"
        ))
        .bind(&[a.org.into()])?
        .all()
        .await?
        .results()?;
    let base = base_of(req)?;
    let keys: Vec<WidgetKeyView> = rows.into_iter().map(|k| view(k, &base)).collect();
    json(200, &json!({"keys": keys}))
}

fn no_active_key() -> ApiError {
    ApiError::new(404, "not_found", "There is no such active publishable key.")
}

/// `PATCH /api/widget-keys/{id} {name, origins, retention_hours}`: changes an active key in
/// place (a shop adds a domain without pasting a new snippet). Every field is given again, as
/// on create; a new retention applies to the try-ons made from now on.
pub async fn update(mut req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    let a = crate::auth::acting(&req, env).await?;
    a.require(atelier_core::org::Action::ApiKeys)?;
    let body: NewKey = json_body(&mut req).await?;
    let (name, origins, hours) = check_new(&body)?;
    let origins = serde_json::to_string(&origins).unwrap_or_else(|_| "[]".into());
    let changed = crate::store::changes(
        env.d1(bind::DB)?
            .prepare(
                "UPDATE widget_keys SET name = ?1, origins = ?2, retention_hours = ?3 \
                 WHERE id = ?4 AND org_id = ?5 AND revoked_at IS NULL",
            )
            .bind(&[
                name.into(),
                origins.into(),
                (hours as f64).into(),
                id.into(),
                a.org.into(),
            ])?,
    )
    .await?;
    if changed == 0 {
        return Err(no_active_key());
    }
    let k = key_where(env, "w.id", id)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "There is no such key."))?;
    json(200, &json!({"key": view(k, &base_of(&req)?)}))
}

/// `DELETE /api/widget-keys/{id}`: revokes at once — the widget stops loading and running on
/// every shop that embeds it.
pub async fn revoke(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let a = crate::auth::acting(req, env).await?;
    a.require(atelier_core::org::Action::ApiKeys)?;
    let changed = crate::store::changes(
        env.d1(bind::DB)?
            .prepare(
                "UPDATE widget_keys SET revoked_at = ?1 WHERE id = ?2 AND org_id = ?3 AND revoked_at IS NULL",
            )
            .bind(&[(now_ms() as f64).into(), id.into(), a.org.into()])?,
    )
    .await?;
    if changed == 0 {
        return Err(no_active_key());
    }
    json(200, &json!({"id": id, "revoked": true}))
}

#[derive(Deserialize)]
struct AdminBody {
    email: String,
    #[serde(flatten)]
    key: NewKey,
}

/// `POST /api/internal/admin/widget-keys {email, origins, retention_hours?, name?}` (signed
/// with the job secret, for `cargo xtask admin create-widget-key`): a key for the account's
/// personal organization.
pub async fn admin_create(mut req: Request, env: &Env) -> ApiResult<Response> {
    let body = crate::http::signed_body(&mut req, env).await?;
    let a: AdminBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "bad_request", e.to_string()))?;
    let email = a.email.trim().to_lowercase();
    let user: Option<String> = env
        .d1(bind::DB)?
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[email.clone().into()])?
        .first(Some("id"))
        .await?;
    let user = user.ok_or_else(|| {
        ApiError::new(
            404,
            "no_account",
            format!("There is no account for {email}; sign up (or `cargo xtask admin create-key --email {email}`) first."),
        )
    })?;
    let org = crate::store::orgs::personal(env, &user, &email).await?;
    let k = insert(env, &org, Some(&user), &a.key).await?;
    json(201, &json!({"key": k.key, "id": k.id, "org_id": org}))
}

/// The most a widget run's body may be: the shopper's photo arrives downscaled (≤ 2048 px
/// JPEG), the product as a URL or an image of the shop's; far under a Worker's memory.
const MAX_RUN_BODY: u64 = 24 * 1024 * 1024;

// ---- Rate limits ----------------------------------------------------------------------------

/// The shopper behind a request: their address (Cloudflare's `CF-Connecting-IP`).
/// IPv6 addresses count by their /64 (one household or host has a whole /64 to pick from).
fn shopper(req: &Request) -> String {
    let ip = header(req, "CF-Connecting-IP").unwrap_or_else(|| "unknown".into());
    match ip.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip,
    }
}

/// Counts one request against each `(limit, who)` (in one D1 round trip); 429 with
/// `Retry-After` when one is over.
async fn limit(env: &Env, key_id: &str, limits: &[(Limit, Option<&str>)]) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    let now = now_secs();
    let mut stmts = vec![];
    let mut names = vec![];
    for (l, who) in limits {
        let (window, _) = l.window(now);
        let name = match who {
            Some(w) => format!("{key_id}:{}:{w}", l.name),
            None => format!("{key_id}:{}", l.name),
        };
        stmts.push(
            db.prepare(
                "INSERT INTO rate_windows (key, window, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (key, window) DO UPDATE SET count = count + 1 RETURNING count",
            )
            .bind(&[name.clone().into(), (window as f64).into()])?,
        );
        names.push((name, window));
    }
    #[derive(Deserialize)]
    struct Count {
        count: f64,
    }
    let results = db.batch(stmts).await?;
    for (((l, who), (name, window)), r) in limits.iter().zip(&names).zip(results) {
        let count = r
            .results::<Count>()?
            .first()
            .map(|c| c.count)
            .unwrap_or(0.0);
        if count <= 1.0 {
            db.prepare("DELETE FROM rate_windows WHERE key = ?1 AND window < ?2")
                .bind(&[name.clone().into(), (*window as f64).into()])?
                .run()
                .await?;
        }
        if count > l.requests as f64 {
            let (_, retry) = l.window(now);
            let whom = if who.is_some() {
                "from this device"
            } else {
                "on this shop right now"
            };
            let minutes = l.window_secs / 60;
            return Err(ApiError::new(
                429,
                "rate_limited",
                format!(
                    "Too many try-ons {whom} ({} per {minutes} min). Try again in {} s.",
                    l.requests, retry
                ),
            )
            .with_header("Retry-After", retry.max(1).to_string()));
        }
    }
    Ok(())
}

// ---- The widget page ------------------------------------------------------------------------

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page that says why the widget does not load (framable anywhere: it carries nothing).
fn refusal(status: u16, title: &str, detail: &str) -> ApiResult<Response> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Try-on unavailable</title><link rel=\"stylesheet\" href=\"/embed/try-on.css\"></head>\
         <body><main class=\"refused\" data-testid=\"widget-refused\"><h1>{}</h1><p>{}</p></main></body></html>",
        escape(title),
        escape(detail)
    );
    let mut r = Response::from_html(html)?.with_status(status);
    crate::http::set_headers(
        &mut r,
        &[
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'",
            ),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )?;
    Ok(r)
}

/// `GET /embed/try-on?key=K[&category=…][&product=<image URL>]`: the widget page, framable only
/// by the key's origins.
pub async fn page(req: &Request, env: &Env) -> ApiResult<Response> {
    let url = req.url()?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let value = q.get("key").map(|k| k.trim()).unwrap_or_default();
    if !rules::is_publishable(value) {
        return refusal(
            404,
            "This try-on is not set up",
            "The page embedding it gives no publishable key (pk_…). The shop's owner can copy the embed snippet from Atelier's Developer page.",
        );
    }
    let Some(k) = key_where(env, "w.key", value).await? else {
        return refusal(
            404,
            "This try-on is not set up",
            "Its publishable key is unknown. The shop's owner can copy a current embed snippet from Atelier's Developer page.",
        );
    };
    if k.revoked_at.is_some() {
        return refusal(
            403,
            "This try-on has been switched off",
            "The shop's publishable key was revoked. The shop's owner can make a new one on Atelier's Developer page.",
        );
    }
    let origins = k.origins();
    let own = url.origin().ascii_serialization();
    // A page that sends no Referer is still framed only by the key's origins (frame-ancestors);
    // one that sends a Referer must be one of them (one that is no origin of a list is refused).
    let parent = match header(req, "Referer") {
        None => String::new(),
        Some(r) => rules::referer_origin(&r).unwrap_or_else(|| "(unknown)".into()),
    };
    if !parent.is_empty() && parent != own && !origins.contains(&parent) {
        let site = if parent == "(unknown)" {
            "The page embedding it".to_string()
        } else {
            parent.clone()
        };
        return refusal(
            403,
            "This try-on is not enabled here",
            &format!("{site} is not one of the sites this shop's publishable key allows. The shop's owner can add it on Atelier's Developer page."),
        );
    }
    if header(req, "Sec-Fetch-Dest").as_deref() == Some("document") {
        return refusal(
            403,
            "This try-on opens inside a shop's page",
            "Embed it with the snippet from Atelier's Developer page; opened on its own it does nothing.",
        );
    }
    limit(env, &k.id, &[(rules::SHOPPER_READS, Some(&shopper(req)))]).await?;
    let secret = crate::config::Config::from_env(env)?.job_secret;
    let parent_for_session = if parent == own { "" } else { parent.as_str() };
    let session = rules::session_token(
        &secret,
        &k.id,
        parent_for_session,
        now_secs() + rules::SESSION_TTL_SECS,
    );
    let category = q
        .get("category")
        .map(String::as_str)
        .filter(|c| ["auto", "tops", "bottoms", "one-pieces"].contains(c))
        .unwrap_or("auto");
    let product = q
        .get("product")
        .filter(|p| p.starts_with("https://") || p.starts_with("http://"))
        .cloned();
    let kept = rules::retention_words(k.retention_hours as u32);
    let cfg = json!({
        "session": session,
        "origins": origins,
        "category": category,
        "product": product,
        "kept": kept,
    });
    // JSON inside a <script> element: no "<" may close it early.
    let cfg = cfg.to_string().replace('<', "\\u003c");
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Virtual try-on</title>
<link rel="stylesheet" href="/embed/try-on.css">
</head><body>
<main class="widget" data-testid="widget">
<h1>Try it on</h1>
<div class="pair">
<figure class="slot"><div class="frame" id="product-frame"><img id="product" alt="The product" hidden><p class="empty" id="product-empty">Waiting for the shop to choose a product…</p></div><figcaption>The product</figcaption></figure>
<figure class="slot"><div class="frame" id="photo-frame"><img id="photo" alt="Your photo" hidden><p class="empty" id="photo-empty">Add a photo of yourself: facing the camera, full body or waist up, in good light.</p></div><figcaption>You</figcaption></figure>
</div>
<div class="choose">
<label class="button" id="take-label">Take a photo<input id="take" type="file" accept="image/*" capture="user" data-testid="take-photo"></label>
<label class="button">Choose a photo<input id="pick" type="file" accept="image/png,image/jpeg,image/webp" data-testid="choose-photo"></label>
</div>
<button id="run" class="primary" type="button" disabled data-testid="run">See it on me</button>
<p id="status" class="status" role="status" aria-live="polite"></p>
<figure id="result-box" class="result" hidden><img id="result" alt="You wearing the product" data-testid="result"><figcaption><a id="download" class="button" download="try-on.jpg" data-testid="download">Download</a></figcaption></figure>
<p class="privacy" data-testid="retention">Your photo and the result are deleted after {kept}. They are used only for this try-on.</p>
</main>
<script type="application/json" id="config">{cfg}</script>
<script src="/embed/try-on.js" defer></script>
</body></html>"#,
        kept = escape(&kept),
    );
    let mut r = Response::from_html(html)?;
    let csp = rules::page_csp(&origins);
    crate::http::set_headers(
        &mut r,
        &[
            ("Content-Security-Policy", csp.as_str()),
            // The session inside is this visit's.
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ],
    )?;
    Ok(r)
}

/// The session a widget request carries, and its key (403 when revoked or the framing origin
/// is no longer allowed).
async fn session(req: &Request, env: &Env) -> ApiResult<(rules::Session, KeyRow)> {
    let token = header(req, "x-widget-session").unwrap_or_default();
    let secret = crate::config::Config::from_env(env)?.job_secret;
    let s = rules::verify_session(&secret, &token, now_secs())
        .map_err(|e| ApiError::new(401, "widget_session", format!("Refused: {e}.")))?;
    let k = key_where(env, "w.id", &s.key_id)
        .await?
        .ok_or_else(|| ApiError::new(401, "widget_session", "Refused: the key is gone."))?;
    if k.revoked_at.is_some() {
        return Err(ApiError::new(
            403,
            "key_revoked",
            "This try-on has been switched off by the shop.",
        ));
    }
    if !s.parent.is_empty() && !k.origins().contains(&s.parent) {
        return Err(ApiError::new(
            403,
            "origin_not_allowed",
            format!("This try-on is no longer enabled on {}.", s.parent),
        ));
    }
    Ok((s, k))
}

#[derive(Deserialize)]
struct RunBody {
    model_image: Option<String>,
    garment_image: Option<String>,
    category: Option<String>,
}

/// `POST /api/widget/run {model_image, garment_image, category?}` (the shopper's photo as a
/// data URI; the product as a data URI or an https URL) → FASHN's `{id, error}`.
pub async fn run(mut req: Request, env: &Env) -> ApiResult<Response> {
    let (_, k) = session(&req, env).await?;
    let bytes = crate::http::read_capped(&mut req, MAX_RUN_BODY, "body_too_large").await?;
    let body: RunBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            400,
            "bad_request",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    let mut errors = vec![];
    let model = body.model_image.filter(|s| !s.trim().is_empty());
    let garment = body.garment_image.filter(|s| !s.trim().is_empty());
    if model.is_none() {
        errors.push(FieldError::new(
            "model_image",
            "required",
            "Add a photo of yourself first.",
        ));
    }
    if garment.is_none() {
        errors.push(FieldError::new(
            "garment_image",
            "required",
            "The shop has not chosen a product to try on yet.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let owner = k
        .owner_id
        .clone()
        .ok_or_else(|| ApiError::new(403, "key_revoked", "This shop's account is gone."))?;
    let expires_at = now_ms() as f64 + k.retention_hours * 3_600_000.0;
    let key = crate::api::KeyRow {
        id: k.id.clone(),
        user_id: owner,
        org_id: k.org_id.clone(),
        rate_limit_scale: 1.0,
        widget: Some(crate::api::WidgetRun { expires_at }),
    };
    // A shopper who waits for a free place at a busy shop is not counted while waiting; the
    // shop-wide count takes only what the shopper's own limit let through.
    crate::api::check_concurrency(env, &key).await?;
    limit(env, &k.id, &[(rules::SHOPPER_RUNS, Some(&shopper(&req)))]).await?;
    limit(env, &k.id, &[(rules::KEY_RUNS, None)]).await?;
    let fashn = json!({
        "model_name": rules::MODEL,
        "inputs": {
            "model_image": model,
            "garment_image": garment,
            "category": body.category.as_deref().unwrap_or("auto"),
            "output_format": "jpeg",
        }
    });
    crate::api::run_as(env, &key, fashn.to_string().as_bytes(), None, false).await
}

/// `GET /api/widget/runs/{id}`: a run of this key's, as the widget polls it: `{id, status,
/// output: [url], error}` (the output URL signed, for the image and its download).
pub async fn status(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let (_, k) = session(req, env).await?;
    limit(env, &k.id, &[(rules::SHOPPER_READS, Some(&shopper(req)))]).await?;
    let not_found = || ApiError::new(404, "not_found", "There is no such try-on.");
    let row = gens::load(env, id).await?.ok_or_else(not_found)?;
    if row.widget_key_id.as_deref() != Some(k.id.as_str()) {
        return Err(not_found());
    }
    let row = crate::jobs::recover_if_stale(env, row).await?;
    let origin = base_of(req)?;
    let (mut body, _) = crate::predictions::status_of(env, &row, &origin, Some(&k.org_id))
        .await?
        .ok_or_else(not_found)?;
    // When the shopper's photo and this result are deleted (ms since the epoch).
    body["expires_at"] = json!(row.expires_at);
    body["deleted"] = json!(row.purged_at.is_some());
    json(200, &body)
}

// ---- Retention ------------------------------------------------------------------------------

/// The scheduled cleanup: every widget run whose retention time has passed at `now_ms` loses
/// its files (the shopper's photo, the product image, the result and its thumbnail) and its
/// inputs; the row stays, marked `purged_at`, as the record of what was charged. Runs still in
/// progress wait for their end. Oldest first, up to 1,200 a run (every 15 minutes). Returns
/// how many were purged.
///
/// On a local instance the cron string may carry a fake clock (`time=<ms>`) and limit the sweep
/// to one key's runs (`widget-key=<id>`), so a test cannot touch another's.
pub async fn sweep_expired(env: &Env, now_ms: f64, cron: &str) -> ApiResult<usize> {
    let local = crate::config::Config::from_env(env)?.local_instance;
    let token = |name: &str| crate::http::cron_token(cron, name).filter(|_| local);
    let now_ms = token("time=")
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(now_ms);
    let only = token("widget-key=").unwrap_or("");
    let db = env.d1(bind::DB)?;
    // Shoppers' rate windows end with their window; a shopper seen once leaves a row.
    let now_secs = (now_ms / 1000.0) as u64;
    for l in [rules::SHOPPER_RUNS, rules::SHOPPER_READS] {
        db.prepare("DELETE FROM rate_windows WHERE key LIKE ?1 AND window < ?2")
            .bind(&[
                format!("%:{}:%", l.name).into(),
                (l.window(now_secs).0 as f64).into(),
            ])?
            .run()
            .await?;
    }
    // Oldest first, in batches, until none is due (a busy shop's backlog never grows).
    let mut purged = 0;
    for _ in 0..SWEEP_BATCHES {
        let n = sweep_batch(env, &db, now_ms, only).await?;
        purged += n;
        if n < SWEEP_BATCH {
            break;
        }
    }
    Ok(purged)
}

/// Runs purged per batch, and batches per cron run (every 15 minutes: 4,800 an hour, each
/// batch a handful of subrequests).
const SWEEP_BATCH: usize = 300;
const SWEEP_BATCHES: usize = 4;

async fn sweep_batch(
    env: &Env,
    db: &worker::D1Database,
    now_ms: f64,
    only: &str,
) -> ApiResult<usize> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM generations WHERE expires_at IS NOT NULL AND expires_at <= ?1 \
             AND purged_at IS NULL AND status NOT IN {} AND (?2 = '' OR widget_key_id = ?2) \
             ORDER BY expires_at LIMIT {SWEEP_BATCH}",
            atelier_core::JobStatus::sql_list(&atelier_core::JobStatus::ACTIVE)
        ))
        .bind(&[now_ms.into(), only.into()])?
        .all()
        .await?
        .results()?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Every file is known from the row (its inputs and outputs; a run that did not complete
    // had its outputs deleted when it ended): one R2 delete per 1,000 keys and one D1 batch.
    let keys: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            let mut k = row.input_blobs();
            for o in row.outputs() {
                k.push(gens::output_key(&row.id, &o));
                k.push(gens::thumb_key(&row.id, &o));
            }
            k
        })
        .collect();
    let bucket = env.bucket(bind::BLOBS)?;
    for chunk in keys.chunks(1000) {
        bucket.delete_multiple(chunk.to_vec()).await?;
    }
    let mut stmts = vec![];
    for row in &rows {
        stmts.push(
            db.prepare(
                "UPDATE generations SET inputs = '{}', purged_at = ?1 WHERE id = ?2 AND purged_at IS NULL",
            )
            .bind(&[now_ms.into(), row.id.clone().into()])?,
        );
    }
    db.batch(stmts).await?;
    Ok(rows.len())
}
