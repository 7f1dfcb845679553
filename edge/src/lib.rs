//! Atelier's edge: a Cloudflare Worker. It is the only part that speaks to storage and to the
//! public. The fetch handler is thin: it routes to one module per resource. Layers, with no
//! import cycle: routes → services (`submit`, `jobs`, `chains`, `node`, `predictions`, `webhooks`, `stripe`) →
//! storage (`store`, `credits`) → base (`config`, `http`, `crypto`, `bind`, `queue`).

mod account;
mod api;
mod assets;
mod assistant;
mod auth;
mod billing;
mod blobs;
mod chains;
mod config;
mod credits;
mod crypto;
mod events;
mod gallery;
mod generations;
mod help;
mod http;
mod jobs;
mod library;
mod mail;
mod members;
mod node;
mod oidc;
mod orgs;
mod predictions;
mod queue;
mod quote;
mod ratelimit;
mod store;
mod stripe;
mod stripe_api;
mod submit;
mod webhooks;
mod widget;

pub use events::UserEvents;

use http::{ApiError, ApiResult};
use worker::*;

/// Binding names, once.
pub mod bind {
    pub const DB: &str = "DB";
    pub const BLOBS: &str = "BLOBS";
    pub const JOBS: &str = "JOBS";
    pub const EVENTS: &str = "EVENTS";
    pub const JOB_SECRET: &str = "JOB_SECRET";
    pub const INFERENCE_URL: &str = "INFERENCE_URL";
    pub const EDGE_URL: &str = "EDGE_URL";
    pub const LOCAL_INSTANCE: &str = "LOCAL_INSTANCE";
    pub const JOB_STALE_SECS: &str = "JOB_STALE_SECS";
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    jobs::on_ended(chains::ended);
    let public_api = req.path().starts_with("/v1/");
    match route(req, &env).await {
        Ok(r) => Ok(r),
        // The Developer API names server errors as FASHN does.
        Err(mut e) if public_api && e.status >= 500 => {
            e.code = "InternalServerError".into();
            e.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn route(req: Request, env: &Env) -> ApiResult<Response> {
    let path = req.path();
    let method = req.method();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // workers-rs reads a method it does not know (QUERY, PROPFIND, …) as GET: refuse those
    // before the router can take them for one (found by schemathesis, #23).
    let raw = req.inner().method().to_ascii_uppercase();
    if !matches!(
        raw.as_str(),
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT" | "TRACE"
    ) {
        return Err(if segs.first() == Some(&"v1") {
            api::no_route(&raw, &path, &segs)
        } else {
            ApiError::new(
                405,
                "method_not_allowed",
                format!("{raw} is not a method this service answers."),
            )
        });
    }
    // Every state-changing `/api` route a browser's session can reach refuses another site's
    // request here, so a new route cannot forget to (the handlers' own checks stay). Not the
    // ones whose authority is a signature: Stripe's webhook, the signed internal and blob routes.
    let signed = matches!(
        segs.as_slice(),
        ["api", "webhooks" | "internal" | "blobs", ..]
    );
    if !matches!(method, Method::Get | Method::Head | Method::Options)
        && segs.first() == Some(&"api")
        && !signed
    {
        http::same_origin(&req)?;
    }
    match (method, segs.as_slice()) {
        (Method::Post, ["api", "auth", "signup"]) => auth::signup(req, env).await,
        (Method::Post, ["api", "auth", "signin"]) => auth::signin(req, env).await,
        (Method::Post, ["api", "auth", "signout"]) => auth::signout(req, env).await,
        (Method::Post, ["api", "auth", "signout-all"]) => auth::signout_all(req, env).await,
        (Method::Get, ["api", "auth", "providers"]) => oidc::list(env).await,
        (Method::Get, ["api", "auth", "oidc", id, "start"]) => oidc::start(req, env, id).await,
        (Method::Get, ["api", "auth", "oidc", id, "callback"]) => {
            oidc::callback(req, env, id).await
        }
        (Method::Get, ["api", "me"]) => auth::me(req, env).await,
        (Method::Get, ["api", "help"]) => help::get(&req, env).await,
        (Method::Get, ["api", "account"]) => account::get(&req, env).await,
        (Method::Patch, ["api", "account"]) => account::patch(req, env).await,
        (Method::Post, ["api", "account", "delete"]) => account::delete(req, env).await,
        (Method::Get, ["api", "account", "avatar"]) => account::avatar(&req, env).await,
        (Method::Put, ["api", "account", "avatar"]) => account::put_avatar(req, env).await,
        (Method::Delete, ["api", "account", "avatar"]) => account::delete_avatar(&req, env).await,
        (Method::Post, ["api", "internal", "admin", "footprint"]) => {
            account::footprint(req, env).await
        }
        (Method::Post, ["api", "quote"]) => quote::post(req).await,
        (Method::Get, ["api", "billing"]) => billing::get(&req, env).await,
        (Method::Post, ["api", "billing", "plan"]) => billing::plan(req, env).await,
        (Method::Post, ["api", "billing", "tier"]) => billing::tier(req, env).await,
        (Method::Post, ["api", "billing", "keep"]) => billing::keep(req, env).await,
        (Method::Post, ["api", "billing", "topup"]) => billing::topup(req, env).await,
        (Method::Post, ["api", "billing", "auto-topup"]) => billing::auto_topup(req, env).await,
        (Method::Post, ["api", "billing", "payment-method"]) => {
            billing::payment_method(req, env).await
        }
        (Method::Post, ["api", "billing", "alerts"]) => billing::alerts(req, env).await,
        (Method::Get, ["api", "billing", "payments"]) => billing::payments(&req, env).await,
        (Method::Post, ["api", "billing", "portal"]) => billing::portal(req, env).await,
        (Method::Post, ["api", "webhooks", "stripe"]) => stripe::webhook(req, env).await,
        (Method::Post, ["api", "internal", "admin", "plan"]) => billing::admin_plan(req, env).await,
        (Method::Post, ["api", "assistant", "plan"]) => assistant::plan_message(req, env).await,
        (Method::Get, ["api", "assistant", "messages"]) => assistant::list(&req, env).await,
        (Method::Post, ["api", "assistant", "messages"]) => assistant::post(req, env).await,
        (Method::Post, ["api", "assistant", "messages", id, "confirm"]) => {
            assistant::decide(&req, env, id, true).await
        }
        (Method::Post, ["api", "assistant", "messages", id, "dismiss"]) => {
            assistant::decide(&req, env, id, false).await
        }
        (Method::Post, ["api", "assets"]) => assets::upload(req, env).await,
        (Method::Get, ["api", "assets"]) => assets::list(&req, env).await,
        (Method::Post, ["api", "assets", "from-output"]) => assets::from_output(req, env).await,
        (Method::Get, ["api", "capabilities"]) => assets::capabilities(&req, env).await,
        (Method::Get, ["api", "assets", hash]) => assets::get(&req, env, hash).await,
        (Method::Post, ["api", "generations"]) => generations::create(req, env).await,
        (Method::Get, ["api", "generations"]) => generations::list(&req, env).await,
        (Method::Get, ["api", "gallery"]) => generations::gallery(&req, env).await,
        (Method::Get, ["api", "gallery", "entries"]) => gallery::entries(&req, env).await,
        (Method::Get, ["api", "gallery", "entries", id]) => gallery::entry(&req, env, id).await,
        (Method::Post, ["api", "gallery", "import"]) => gallery::import(req, env).await,
        (Method::Post, ["api", "gallery", "delete"]) => gallery::delete_many(req, env).await,
        (Method::Post, ["api", "gallery", "download"]) => gallery::download(req, env).await,
        (Method::Get, ["api", "collections"]) => gallery::list_collections(&req, env).await,
        (Method::Post, ["api", "collections"]) => gallery::create_collection(req, env).await,
        (Method::Patch, ["api", "collections", id]) => {
            gallery::rename_collection(req, env, id).await
        }
        (Method::Delete, ["api", "collections", id]) => {
            gallery::delete_collection(&req, env, id).await
        }
        (Method::Post, ["api", "collections", id, "items"]) => {
            gallery::add_items(req, env, id).await
        }
        (Method::Delete, ["api", "collections", id, "items", gid]) => {
            gallery::remove_item(&req, env, id, gid).await
        }
        (Method::Patch, ["api", "generations", id]) => gallery::patch(req, env, id).await,
        (Method::Delete, ["api", "generations", id]) => gallery::delete_one(&req, env, id).await,
        (Method::Get, ["api", "library"]) => library::list(&req, env).await,
        (Method::Get, ["api", "library", kind, hash]) => {
            library::image(&req, env, kind, hash).await
        }
        (Method::Post, ["api", "library", kind, hash, "use"]) => {
            library::use_item(req, env, kind, hash).await
        }
        (Method::Post, ["api", "internal", "admin", "seed-gallery"]) => {
            gallery::admin_seed(req, env).await
        }
        (Method::Post, ["api", "internal", "admin", "library"]) => {
            library::admin_add(req, env).await
        }
        (Method::Get, ["api", "generations", id]) => generations::get(&req, env, id).await,
        (Method::Post, ["api", "generations", id, "cancel"]) => {
            generations::cancel(req, env, id).await
        }
        (Method::Get, ["api", "generations", id, "outputs", index]) => {
            generations::output(&req, env, id, index).await
        }
        (Method::Get, ["api", "generations", id, "outputs", index, "thumb"]) => {
            generations::thumb(&req, env, id, index).await
        }
        (Method::Post, ["api", "generations", id, "outputs", index, "export"]) => {
            generations::export(req, env, id, index).await
        }
        (Method::Get, ["api", "events"]) => events::connect(req, env).await,
        (Method::Post, ["api", "internal", "jobs", id, "events"]) => {
            jobs::callback(req, env, id).await
        }
        (Method::Post, ["api", "internal", "admin", "keys"]) => api::admin_key(req, env).await,
        (Method::Post, ["api", "internal", "admin", "faults"]) => {
            blobs::admin_fault(req, env).await
        }
        (Method::Get, ["api", "orgs"]) => members::list(&req, env).await,
        (Method::Post, ["api", "orgs", "switch"]) => members::switch(req, env).await,
        (Method::Get, ["api", "org"]) => members::current(&req, env).await,
        (Method::Patch, ["api", "org"]) => members::rename(req, env).await,
        (Method::Post, ["api", "org", "invites"]) => members::invite(req, env).await,
        (Method::Delete, ["api", "org", "invites", id]) => {
            members::revoke_invite(&req, env, id).await
        }
        (Method::Patch, ["api", "org", "members", uid]) => members::set_role(req, env, uid).await,
        (Method::Delete, ["api", "org", "members", uid]) => members::remove(&req, env, uid).await,
        (Method::Post, ["api", "org", "leave"]) => members::leave(&req, env).await,
        (Method::Get, ["api", "invites", token]) => members::preview(&req, env, token).await,
        (Method::Post, ["api", "invites", token, "accept"]) => {
            members::accept(&req, env, token).await
        }
        (Method::Post, ["api", "keys"]) => orgs::create(req, env).await,
        (Method::Get, ["api", "keys"]) => orgs::list(&req, env).await,
        (Method::Patch, ["api", "keys", id]) => orgs::rename(req, env, id).await,
        (Method::Delete, ["api", "keys", id]) => orgs::revoke(&req, env, id).await,
        (Method::Get, ["api", "requests"]) => orgs::history(&req, env).await,
        (Method::Post, ["api", "widget-keys"]) => widget::create(req, env).await,
        (Method::Get, ["api", "widget-keys"]) => widget::list(&req, env).await,
        (Method::Patch, ["api", "widget-keys", id]) => widget::update(req, env, id).await,
        (Method::Delete, ["api", "widget-keys", id]) => widget::revoke(&req, env, id).await,
        (Method::Post, ["api", "internal", "admin", "widget-keys"]) => {
            widget::admin_create(req, env).await
        }
        (Method::Post, ["api", "widget", "run"]) => widget::run(req, env).await,
        (Method::Get, ["api", "widget", "runs", id]) => widget::status(&req, env, id).await,
        (Method::Get | Method::Head, ["embed", "try-on"]) => widget::page(&req, env).await,
        (Method::Get, ["v1", "openapi.json"]) => api::openapi(&req),
        (Method::Post, ["v1", "run"]) => api::run(req, env).await,
        (Method::Get, ["v1", "status", id]) => api::status(&req, env, id).await,
        (Method::Get, ["v1", "credits"]) => api::credits_balance(&req, env).await,
        (Method::Get, ["v1", "outputs", id, index]) => api::output(&req, env, id, index).await,
        (m, ["v1", ..]) => Err(api::no_route(m.as_ref(), &path, &segs)),
        (Method::Get | Method::Head, ["api", "blobs", ..]) => blobs::get(&req, env).await,
        (Method::Put, ["api", "blobs", ..]) => blobs::put(req, env).await,
        (_, ["api", ..]) => Err(ApiError::new(
            404,
            "not_found",
            format!("There is no {} {} endpoint.", req.method().as_ref(), path),
        )),
        _ => Err(ApiError::new(404, "not_found", "Not found.")),
    }
}

/// The cron trigger: brings every account whose refresh, renewal or expiry fell due up to the
/// scheduled time (`credits::tick_due`), sweeps lost generations (`jobs::sweep_stale`), then
/// deletes storefront shoppers' data past its retention time (`widget::sweep_expired`). In tests `wrangler dev --test-scheduled` runs it from
/// `/__scheduled?cron=…&time=…`, a fake clock.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = event.schedule() as u64;
    match credits::tick_due(&env, now, &event.cron()).await {
        Ok(n) => worker::console_log!("billing: {n} accounts brought up to date"),
        Err(e) => worker::console_error!("billing tick failed: {}", e.message),
    }
    // Generations lost with a node or a restarted edge that nobody reads (see `jobs::recover_if_stale`).
    jobs::on_ended(chains::ended);
    match jobs::sweep_stale(&env).await {
        Ok(0) => {}
        Ok(n) => worker::console_log!("jobs: {n} lost generations recovered or timed out"),
        Err(e) => worker::console_error!("stale-job sweep failed: {}", e.message),
    }
    // Storefront shoppers' photos and results past their retention time.
    match widget::sweep_expired(&env, now as f64, &event.cron()).await {
        Ok(0) => {}
        Ok(n) => worker::console_log!("widget: {n} expired try-ons deleted"),
        Err(e) => worker::console_error!("widget cleanup failed: {}", e.message),
    }
}

#[event(queue)]
async fn queue(batch: MessageBatch<queue::JobMessage>, env: Env, _ctx: Context) -> Result<()> {
    // Never return Err from here: the macro turns it into a panic that traps the isolate.
    jobs::on_ended(chains::ended);
    jobs::consume(batch, &env).await;
    Ok(())
}
