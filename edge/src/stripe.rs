//! Stripe as the payment provider (service layer; core's `stripe` has the pure parts):
//! Checkout Sessions for new subscriptions and top-ups, the Billing Portal for payment methods,
//! invoices and cancellation, and the webhook (`POST /api/webhooks/stripe`) that applies what
//! Stripe reports — verified with Stripe's signature scheme (`STRIPE_WEBHOOK_SECRET`, 5-minute
//! tolerance), idempotent by event id (`stripe_events`), and ordered per subscription by the
//! event's `created` time (`stripe_subscriptions.last_event_at`: an older event than the last
//! applied one changes nothing).
//!
//! Events: `checkout.session.completed` / `…async_payment_succeeded` (a top-up is added; a
//! plan or tier starts; in setup mode, the card saved becomes the payment method for automatic
//! top-ups), `customer.subscription.updated` (the scheduled change follows Stripe's: cancel at
//! the period's end, the `next` plan in the metadata, or nothing; ended statuses end it),
//! `customer.subscription.deleted` (ends now), `invoice.paid` / `invoice.payment_failed` (a
//! renewal's payment, recorded), `payment_method.detached` (the saved card removed in the
//! portal: automatic top-up goes off). Anything else is acknowledged. Outbound calls to Stripe
//! are in `stripe_api`.

use atelier_core::billing::{BillingError, Charge};
use atelier_core::ledger::BucketKind;
use atelier_core::pricing::Surface;
use atelier_core::stripe::{self as core_stripe, Purchase};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::bind;
use crate::config::Config;
use crate::credits::{surface_name, with_account_by, Provider};
use crate::http::{json, now_ms, now_secs, ApiError, ApiResult};
use crate::store::changes;
use crate::stripe_api;

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
    #[serde(default)]
    previous_attributes: Value,
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
            let user_id = meta["user_id"]
                .as_str()
                .or(o["client_reference_id"].as_str())
                .unwrap_or_default()
                .to_string();
            let setup = meta["kind"].as_str() == Some("payment_method");
            let purchase = Purchase::from_metadata(meta);
            if purchase.is_none() && !setup {
                return Ok("ignored: not an Atelier purchase");
            }
            if !user_exists(env, &user_id).await? {
                return Ok("ignored: unknown account");
            }
            let db = env.d1(bind::DB)?;
            let customer = o["customer"].as_str();
            if let Some(c) = customer {
                stripe_api::save_customer(env, &user_id, c).await?;
            }
            let Some(purchase) = purchase else {
                // Setup mode: the card saved becomes the one automatic top-ups charge.
                let (Some(c), Some(intent)) = (customer, o["setup_intent"].as_str()) else {
                    return Err(bad("A setup session without a customer or SetupIntent."));
                };
                let Some(card) = stripe_api::saved_card(env, c, intent).await? else {
                    return Ok("ignored: no card saved");
                };
                save_card(env, &user_id, Some(&card), &e.id).await?;
                return Ok("card_saved");
            };
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
            let subscription = o["subscription"].as_str().map(str::to_string);
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
                            a.provider_subscription = subscription.clone();
                        }
                        Purchase::Tier { tier, interval } => {
                            a.choose_tier(tier, interval, now)?;
                            a.provider_subscription = subscription.clone();
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
            // A top-up saves its card for automatic top-ups (setup_future_usage) when none is.
            if let (Some(c), Some(pi)) = (customer, o["payment_intent"].as_str()) {
                let has = crate::credits::account(env, &user_id, Surface::Api)
                    .await?
                    .provider_payment_method
                    .is_some();
                if !has {
                    match stripe_api::saved_card(env, c, pi).await {
                        Ok(Some(card)) => save_card(env, &user_id, Some(&card), &e.id).await?,
                        Ok(None) => {}
                        Err(err) => worker::console_error!("reading {pi}'s card: {}", err.message),
                    }
                }
            }
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
            // What it renews as, when a downgrade is scheduled (set by `billing` through
            // `stripe_api::change_subscription`).
            let next = meta["next"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            let reason = format!("stripe {}", e.id);
            let r = with_account_by(
                env,
                &user_id,
                surface,
                &reason,
                now_ms(),
                Some(Provider::Stripe),
                |a, _| {
                    if a.provider_subscription
                        .as_deref()
                        .is_some_and(|s| s != sub_id)
                    {
                        return Ok("ignored: not the account's current subscription");
                    }
                    if ended {
                        a.provider_subscription = None;
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
                    a.align_pending(cancel_at_end, next.as_deref(), now_ms())
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
        "payment_method.detached" => {
            let pm = o["id"].as_str().unwrap_or_default();
            let customer = e.data.previous_attributes["customer"]
                .as_str()
                .or(o["customer"].as_str())
                .unwrap_or_default();
            let user: Option<String> = env
                .d1(bind::DB)?
                .prepare("SELECT user_id FROM stripe_customers WHERE customer_id = ?1")
                .bind(&[customer.into()])?
                .first(Some("user_id"))
                .await?;
            let Some(user_id) = user else {
                return Ok("ignored: unknown customer");
            };
            let saved = crate::credits::account(env, &user_id, Surface::Api)
                .await?
                .provider_payment_method;
            if saved.as_deref() != Some(pm) {
                return Ok("ignored: not the saved card");
            }
            save_card(env, &user_id, None, &e.id).await?;
            Ok("card_removed")
        }
        _ => Ok("ignored"),
    }
}

/// Saves (or with `None` forgets) the account's card on both surfaces; without one, automatic
/// top-up goes off.
pub async fn save_card(
    env: &Env,
    user_id: &str,
    card: Option<&stripe_api::Card>,
    why: &str,
) -> ApiResult<()> {
    for s in [Surface::App, Surface::Api] {
        with_account_by(
            env,
            user_id,
            s,
            &format!("payment method {why}"),
            now_ms(),
            Some(Provider::Stripe),
            |a, _| {
                a.payment_method = card.map(|c| c.label.clone());
                a.provider_payment_method = card.map(|c| c.id.clone());
                if card.is_none() {
                    a.auto_topup = None;
                }
                Ok::<_, BillingError>(())
            },
        )
        .await?
        .map_err(refused)?;
    }
    Ok(())
}
