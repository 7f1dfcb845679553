//! Stripe as the payment provider (service layer; core's `stripe` has the pure parts):
//! Checkout Sessions for new subscriptions and top-ups, the Billing Portal for payment methods,
//! invoices and cancellation, and the webhook (`POST /api/webhooks/stripe`) that applies what
//! Stripe reports — verified with Stripe's signature scheme (`STRIPE_WEBHOOK_SECRET`, 5-minute
//! tolerance), idempotent by event id (`stripe_events`), and ordered per subscription by the
//! event's `created` time (`stripe_subscriptions.last_event_at`: an older event than the last
//! applied one changes nothing).
//!
//! Events: `checkout.session.completed` / `…async_payment_succeeded` (a top-up is added; a
//! plan or tier starts), `customer.subscription.updated` (cancel at the period's end, or undo it;
//! ended statuses end it), `customer.subscription.deleted` (ends now), `invoice.paid` /
//! `invoice.payment_failed` (a renewal's payment, recorded). Anything else is acknowledged.

use atelier_core::billing::{BillingError, Charge};
use atelier_core::ledger::BucketKind;
use atelier_core::pricing::{ApiTier, Plan, Surface};
use atelier_core::stripe::{self as core_stripe, Purchase};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::bind;
use crate::config::Config;
use crate::credits::{surface_name, with_account_by, Provider};
use crate::http::{json, now_ms, now_secs, ApiError, ApiResult};
use crate::store::changes;

fn provider_error(what: &str) -> ApiError {
    ApiError::new(
        502,
        "payment_provider_error",
        format!(
            "The payment provider could not {what}; nothing was charged. Try again in a moment."
        ),
    )
}

/// One call to Stripe's API (form-encoded, the secret key as a Bearer token).
async fn call(env: &Env, path: &str, form: &[(String, String)]) -> ApiResult<Value> {
    let c = Config::from_env(env)?.stripe;
    let key = c
        .secret_key
        .ok_or_else(|| provider_error("be reached (no key)"))?;
    let headers = worker::Headers::new();
    headers.set("Authorization", &format!("Bearer {key}"))?;
    headers.set("Content-Type", "application/x-www-form-urlencoded")?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&core_stripe::form_encode(form))));
    let req = worker::Request::new_with_init(&format!("{}{path}", c.api_base), &init)?;
    let mut resp = worker::Fetch::Request(req)
        .send()
        .await
        .map_err(|_| provider_error("be reached"))?;
    let v: Value = resp.json().await.map_err(|_| provider_error("answer"))?;
    if !(200..300).contains(&resp.status_code()) {
        worker::console_error!("stripe {path}: {} {v}", resp.status_code());
        return Err(provider_error("start the payment"));
    }
    Ok(v)
}

async fn customer_of(env: &Env, user_id: &str) -> ApiResult<Option<String>> {
    Ok(env
        .d1(bind::DB)?
        .prepare("SELECT customer_id FROM stripe_customers WHERE user_id = ?1")
        .bind(&[user_id.into()])?
        .first(Some("customer_id"))
        .await?)
}

/// A Checkout Session for `purchase` at `cents`; returns the URL to send the user to.
pub async fn checkout(
    env: &Env,
    user_id: &str,
    email: &str,
    purchase: &Purchase,
    cents: u64,
    back: &str,
) -> ApiResult<String> {
    let edge = Config::from_env(env)?.edge_url;
    let customer = customer_of(env, user_id).await?;
    let form = core_stripe::checkout_form(
        user_id,
        customer.as_deref(),
        email,
        purchase,
        cents,
        &format!("{edge}{back}?checkout=done"),
        &format!("{edge}{back}?checkout=canceled"),
    );
    let v = call(env, "/v1/checkout/sessions", &form).await?;
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("open a checkout page"))
}

/// The Billing Portal for the account's Stripe customer.
pub async fn portal(env: &Env, user_id: &str, back: &str) -> ApiResult<String> {
    let Some(customer) = customer_of(env, user_id).await? else {
        return Err(ApiError::new(
            409,
            "no_billing_account",
            "There is nothing to manage yet: your billing settings appear after your first purchase.",
        ));
    };
    let edge = Config::from_env(env)?.edge_url;
    let v = call(
        env,
        "/v1/billing_portal/sessions",
        &core_stripe::portal_form(&customer, &format!("{edge}{back}")),
    )
    .await?;
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("open the billing portal"))
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    created: u64,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "bad_webhook", message)
}

/// `POST /api/webhooks/stripe`.
pub async fn webhook(mut req: Request, env: &Env) -> ApiResult<Response> {
    let Some(secret) = Config::from_env(env)?.stripe.webhook_secret else {
        return Err(ApiError::new(
            404,
            "not_found",
            "Stripe webhooks are not set up on this instance (STRIPE_WEBHOOK_SECRET).",
        ));
    };
    let header = req.headers().get("Stripe-Signature")?.unwrap_or_default();
    let payload = req.bytes().await?;
    if payload.len() > 512 * 1024 {
        return Err(bad("The payload is too large."));
    }
    core_stripe::verify(
        &header,
        &payload,
        &secret,
        now_secs(),
        core_stripe::TOLERANCE_SECS,
    )
    .map_err(|e| bad(format!("Signature check failed: {e}.")))?;
    let event: Event =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("Not a Stripe event: {e}.")))?;
    let db = env.d1(bind::DB)?;
    // Idempotent by event id: the first delivery claims it; a failure gives the claim back so
    // Stripe's retry is applied.
    let claimed = changes(
        db.prepare(
            "INSERT OR IGNORE INTO stripe_events (id, type, created, received_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&[
            event.id.clone().into(),
            event.kind.clone().into(),
            (event.created as f64).into(),
            (now_ms() as f64).into(),
        ])?,
    )
    .await?;
    if claimed == 0 {
        return json(200, &json!({"received": true, "duplicate": true}));
    }
    match apply(env, &event).await {
        Ok(outcome) => json(200, &json!({"received": true, "outcome": outcome})),
        Err(e) => {
            let _ = db
                .prepare("DELETE FROM stripe_events WHERE id = ?1")
                .bind(&[event.id.clone().into()])?
                .run()
                .await;
            Err(e)
        }
    }
}

async fn user_exists(env: &Env, user_id: &str) -> ApiResult<bool> {
    let n: Option<f64> = env
        .d1(bind::DB)?
        .prepare("SELECT COUNT(*) AS n FROM users WHERE id = ?1")
        .bind(&[user_id.into()])?
        .first(Some("n"))
        .await?;
    Ok(n.unwrap_or(0.0) > 0.0)
}

fn surface_of(p: &Purchase) -> Surface {
    match p {
        Purchase::TopUp { surface, .. } => *surface,
        Purchase::Plan { .. } => Surface::App,
        Purchase::Tier { .. } => Surface::Api,
    }
}

fn refused(e: BillingError) -> ApiError {
    ApiError::new(409, "plan_change_refused", e.to_string())
}

/// Applies one verified event; returns what it did.
async fn apply(env: &Env, e: &Event) -> ApiResult<&'static str> {
    let o = &e.data.object;
    let at = if e.created > 0 {
        e.created * 1000
    } else {
        now_ms()
    };
    match e.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            if !matches!(
                o["payment_status"].as_str(),
                Some("paid") | Some("no_payment_required")
            ) {
                return Ok("waiting_for_payment");
            }
            let meta = &o["metadata"];
            let Some(purchase) = Purchase::from_metadata(meta) else {
                return Ok("ignored: not an Atelier purchase");
            };
            let user_id = meta["user_id"]
                .as_str()
                .or(o["client_reference_id"].as_str())
                .unwrap_or_default()
                .to_string();
            if !user_exists(env, &user_id).await? {
                return Ok("ignored: unknown account");
            }
            let db = env.d1(bind::DB)?;
            if let Some(c) = o["customer"].as_str() {
                db.prepare(
                    "INSERT INTO stripe_customers (user_id, customer_id, created_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(user_id) DO UPDATE SET customer_id = excluded.customer_id",
                )
                .bind(&[user_id.clone().into(), c.into(), (now_ms() as f64).into()])?
                .run()
                .await?;
            }
            let surface = surface_of(&purchase);
            if let Some(sub) = o["subscription"].as_str() {
                db.prepare(
                    "INSERT OR IGNORE INTO stripe_subscriptions (id, user_id, surface, last_event_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(&[sub.into(), user_id.clone().into(), surface_name(surface).into(), (at as f64).into()])?
                .run()
                .await?;
            }
            let (line, _) = purchase.line();
            let paid = o["amount_total"].as_u64().unwrap_or(0);
            let reason = format!("stripe {}", e.id);
            with_account_by(
                env,
                &user_id,
                surface,
                &reason,
                now_ms(),
                Some(Provider::Stripe),
                |a, charges| {
                    let now = now_ms();
                    match purchase {
                        Purchase::TopUp { credits, .. } => {
                            a.top_up(credits, now)?;
                        }
                        Purchase::Plan { plan, interval } => {
                            a.choose_plan(plan, interval, now)?;
                        }
                        Purchase::Tier { tier, interval } => {
                            a.choose_tier(tier, interval, now)?;
                        }
                    }
                    charges.push(Charge {
                        cents: paid,
                        description: line.clone(),
                        credits: match purchase {
                            Purchase::TopUp { credits, .. } => credits,
                            _ => 0,
                        },
                    });
                    Ok::<_, BillingError>(())
                },
            )
            .await?
            .map_err(refused)?;
            Ok("applied")
        }
        "customer.subscription.updated" | "customer.subscription.deleted" => {
            let Some(sub_id) = o["id"].as_str() else {
                return Err(bad("The subscription has no id."));
            };
            let meta = &o["metadata"];
            let Some(purchase) = Purchase::from_metadata(meta) else {
                return Ok("ignored: not an Atelier subscription");
            };
            let user_id = meta["user_id"].as_str().unwrap_or_default().to_string();
            if !user_exists(env, &user_id).await? {
                return Ok("ignored: unknown account");
            }
            let surface = surface_of(&purchase);
            // Ordered by the event's time: an older event than the last applied changes nothing.
            let db = env.d1(bind::DB)?;
            let newer = changes(
                db.prepare(
                    "INSERT INTO stripe_subscriptions (id, user_id, surface, last_event_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(id) DO UPDATE SET last_event_at = excluded.last_event_at \
                     WHERE excluded.last_event_at >= stripe_subscriptions.last_event_at",
                )
                .bind(&[sub_id.into(), user_id.clone().into(), surface_name(surface).into(), (at as f64).into()])?,
            )
            .await?;
            if newer == 0 {
                return Ok("ignored: older than the last applied event");
            }
            let status = o["status"].as_str().unwrap_or("active");
            let ended = e.kind == "customer.subscription.deleted"
                || matches!(status, "canceled" | "unpaid" | "incomplete_expired");
            let cancel_at_end = o["cancel_at_period_end"].as_bool().unwrap_or(false);
            let reason = format!("stripe {}", e.id);
            let r = with_account_by(
                env,
                &user_id,
                surface,
                &reason,
                now_ms(),
                Some(Provider::Stripe),
                |a, _| {
                    if ended {
                        // Ends now: the plan's credits with it (top-ups stay).
                        match surface {
                            Surface::App => a.plan = None,
                            Surface::Api => {
                                if let Some(s) = a.tier.as_mut() {
                                    a.ledger.expire_discounted(now_ms());
                                    s.active = false;
                                }
                                a.tier = None;
                            }
                        }
                        a.ledger.expire_kind(BucketKind::Monthly);
                        a.ledger.expire_kind(BucketKind::Daily);
                        a.daily_at = None;
                        a.ledger.expire(now_ms());
                        return Ok("ended");
                    }
                    let pending = match surface {
                        Surface::App => a
                            .plan
                            .as_ref()
                            .filter(|s| s.active)
                            .map(|s| s.pending.is_some()),
                        Surface::Api => a
                            .tier
                            .as_ref()
                            .filter(|s| s.active)
                            .map(|s| s.pending.is_some()),
                    };
                    match (cancel_at_end, pending) {
                        (_, None) => Ok("ignored: no active subscription"),
                        (true, Some(false)) => {
                            match surface {
                                Surface::App => a.choose_plan(
                                    Plan::Free,
                                    atelier_core::subscription::Interval::Monthly,
                                    now_ms(),
                                )?,
                                Surface::Api => a.choose_tier(
                                    ApiTier::OnDemand,
                                    atelier_core::subscription::Interval::Monthly,
                                    now_ms(),
                                )?,
                            };
                            Ok("cancel_scheduled")
                        }
                        (false, Some(true)) => {
                            a.keep()?;
                            Ok("kept")
                        }
                        _ => Ok("unchanged"),
                    }
                },
            )
            .await?
            .map_err(refused)?;
            Ok(r)
        }
        "invoice.paid" | "invoice.payment_failed" => {
            // A renewal (the first invoice is recorded with its checkout session).
            if o["billing_reason"].as_str() != Some("subscription_cycle") {
                return Ok("ignored: not a renewal");
            }
            let sub = o["subscription"]
                .as_str()
                .or(o["parent"]["subscription_details"]["subscription"].as_str())
                .unwrap_or_default();
            #[derive(Deserialize)]
            struct Sub {
                user_id: String,
                surface: String,
            }
            let s: Option<Sub> = env
                .d1(bind::DB)?
                .prepare("SELECT user_id, surface FROM stripe_subscriptions WHERE id = ?1")
                .bind(&[sub.into()])?
                .first(None)
                .await?;
            let Some(s) = s else {
                return Ok("ignored: unknown subscription");
            };
            let paid = e.kind == "invoice.paid";
            env.d1(bind::DB)?
                .prepare(
                    "INSERT OR IGNORE INTO payments (id, user_id, surface, provider, description, cents, credits, status, created_at) \
                     VALUES (?1, ?2, ?3, 'stripe', ?4, ?5, 0, ?6, ?7)",
                )
                .bind(&[
                    format!("pay_{}", o["id"].as_str().unwrap_or(&e.id)).into(),
                    s.user_id.into(),
                    s.surface.into(),
                    "Renewal".into(),
                    (o["amount_paid"].as_u64().or(o["amount_due"].as_u64()).unwrap_or(0) as f64).into(),
                    if paid { "paid" } else { "failed" }.into(),
                    (at as f64).into(),
                ])?
                .run()
                .await?;
            Ok(if paid {
                "renewal_paid"
            } else {
                "renewal_failed"
            })
        }
        _ => Ok("ignored"),
    }
}
