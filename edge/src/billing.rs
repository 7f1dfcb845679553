//! The Billing pages' API (App: `/billing`, API: `/billing/api`). Every change goes through core's
//! `billing::Account` in `credits::with_account`, so the plan rules, the ledger's entries and the
//! payment collected land in one D1 batch. The payment provider is `credits::Provider`: the local
//! one completes a purchase at once; with Stripe a new subscription or top-up goes through
//! Checkout, and a subscription Stripe bills is changed at Stripe first (`stripe_api`).
//!
//! - `GET  /api/billing` → `BillingView`
//! - `POST /api/billing/plan {plan, interval}`: subscribe, upgrade, downgrade or (plan `free`) cancel
//! - `POST /api/billing/tier {tier, interval}`: the same for the API's commitment tier
//! - `POST /api/billing/keep {surface}`: undo a scheduled downgrade or cancellation
//! - `POST /api/billing/topup {surface, credits}`
//! - `POST /api/billing/auto-topup {threshold, amount}` or `{}` to turn it off (API)
//! - `POST /api/billing/payment-method {action: "add" | "remove"}`
//! - `POST /api/billing/alerts {on}`: the API balance's e-mail alerts
//! - `GET  /api/billing/payments?surface=app|api` → the latest 50 payments

use atelier_core::billing::{Account, BillingError, BillingView, Change, Charge};
use atelier_core::ledger::AutoTopUp;
use atelier_core::pricing::{ApiTier, Plan, Surface};
use atelier_core::stripe::{Purchase, SubscriptionChange};
use atelier_core::subscription::{Interval, Pending};
use atelier_core::FieldError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::auth::{acting, User};
use crate::bind;
use crate::credits::{
    self, surface_name, with_account, with_account_at, with_account_by, Provider,
};
use crate::http::{json, json_body, same_origin, ApiError, ApiResult};

fn field<T: DeserializeOwned>(body: &Value, name: &str, what: &str) -> ApiResult<T> {
    serde_json::from_value(body.get(name).cloned().unwrap_or(Value::Null)).map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            name,
            "invalid_value",
            format!("Give {name}: {what}."),
        )])
    })
}

fn interval(body: &Value) -> ApiResult<Interval> {
    match body.get("interval") {
        None | Some(Value::Null) => Ok(Interval::Monthly),
        _ => field(body, "interval", "monthly or annual"),
    }
}

fn surface(body: &Value) -> ApiResult<Surface> {
    field(body, "surface", "app or api")
}

/// Now, or on a local instance the time a test's fake clock gives in `x-atelier-clock` (ms).
fn clock(req: &Request, env: &Env) -> ApiResult<u64> {
    let fake = req
        .headers()
        .get("x-atelier-clock")?
        .and_then(|v| v.parse::<u64>().ok());
    match fake {
        Some(t) if crate::config::Config::from_env(env)?.local_instance => Ok(t),
        _ => Ok(crate::http::now_ms()),
    }
}

fn refused(e: BillingError) -> ApiError {
    let code = match e {
        BillingError::BadTopUp(_) | BillingError::BadAutoTopUp => "invalid_amount",
        BillingError::NoPaymentMethod => "payment_method_required",
        BillingError::AlreadyOn(_) => "already_subscribed",
        BillingError::NothingPending => "nothing_pending",
        _ => "plan_change_refused",
    };
    ApiError::new(409, code, e.to_string())
}

/// Both surfaces as of now.
/// The account whose billing a request manages: the organization's owner of record, for its
/// owners (403 for collaborators).
async fn billing_user(req: &Request, env: &Env) -> ApiResult<User> {
    let a = acting(req, env).await?;
    a.require(atelier_core::org::Action::Billing)?;
    if a.payer == a.user.id {
        return Ok(a.user);
    }
    env.d1(crate::bind::DB)?
        .prepare("SELECT id, email, created_at, name, avatar_at FROM users WHERE id = ?1")
        .bind(&[a.payer.into()])?
        .first(None)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

async fn view(env: &Env, user_id: &str) -> ApiResult<BillingView> {
    let app = credits::account(env, user_id, Surface::App).await?;
    let api = credits::account(env, user_id, Surface::Api).await?;
    let (mut app, mut api) = (app.view(), api.view());
    app.journal_available = Some(credits::journal_available(env, user_id, Surface::App).await?);
    api.journal_available = Some(credits::journal_available(env, user_id, Surface::Api).await?);
    Ok(BillingView {
        provider: Provider::of(env).ok().map(|p| p.name().to_string()),
        app,
        api,
    })
}

#[derive(Serialize)]
struct Done {
    /// What happened: `started`, `upgraded`, `downgrade_scheduled`, `cancel_scheduled`, `paid`, …
    result: String,
    /// What was collected now (US cents), when anything was.
    charged_cents: Option<u64>,
    /// With Stripe: where to send the user (Checkout, the Billing Portal) to finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    billing: BillingView,
}

async fn done(
    env: &Env,
    user_id: &str,
    result: &str,
    charge: Option<&Charge>,
) -> ApiResult<Response> {
    json(
        200,
        &Done {
            result: result.into(),
            charged_cents: charge.map(|c| c.cents),
            url: None,
            billing: view(env, user_id).await?,
        },
    )
}

/// The user goes to Stripe to finish (nothing changes here until its webhook says so).
async fn redirect(env: &Env, user_id: &str, url: String) -> ApiResult<Response> {
    json(
        200,
        &Done {
            result: "redirect".into(),
            charged_cents: None,
            url: Some(url),
            billing: view(env, user_id).await?,
        },
    )
}

fn change_name(c: Change) -> &'static str {
    match c {
        Change::Started => "started",
        Change::Upgraded => "upgraded",
        Change::DowngradeScheduled => "downgrade_scheduled",
        Change::CancelScheduled => "cancel_scheduled",
    }
}

pub async fn get(req: &Request, env: &Env) -> ApiResult<Response> {
    let user = billing_user(req, env).await?;
    json(200, &view(env, &user.id).await?)
}

/// Runs one change on an account, with the charges it makes collected by the provider.
async fn change<T>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    now: u64,
    f: impl Fn(&mut Account) -> Result<(T, Option<Charge>), BillingError>,
) -> ApiResult<(T, Option<Charge>)> {
    with_account_at(env, user_id, surface, reason, now, |a, charges| {
        let (out, charge) = f(a)?;
        charges.extend(charge.clone());
        Ok((out, charge))
    })
    .await?
    .map_err(refused)
}

pub async fn plan(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let plan: Plan = field(&body, "plan", "free, basic, pro, agency or agency_2x")?;
    let interval = interval(&body)?;
    let now = clock(&req, env)?;
    let op = move |a: &mut Account| a.choose_plan(plan, interval, now);
    let target = Purchase::Plan { plan, interval };
    switch(&req, env, &user, Surface::App, target, now, op).await
}

pub async fn tier(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let tier: ApiTier = field(&body, "tier", "on_demand, tier1, tier2 or tier3")?;
    let interval = interval(&body)?;
    let now = clock(&req, env)?;
    let op = move |a: &mut Account| a.choose_tier(tier, interval, now);
    let target = Purchase::Tier { tier, interval };
    switch(&req, env, &user, Surface::Api, target, now, op).await
}

/// What an account's active subscription is, as a purchase.
fn current(a: &Account) -> Option<Purchase> {
    match a.surface {
        Surface::App => a
            .plan
            .as_ref()
            .filter(|s| s.active)
            .map(|s| Purchase::Plan {
                plan: s.offer,
                interval: s.interval,
            }),
        Surface::Api => a
            .tier
            .as_ref()
            .filter(|s| s.active)
            .map(|s| Purchase::Tier {
                tier: s.offer,
                interval: s.interval,
            }),
    }
}

/// The live Stripe subscription billing this account's plan or tier, if Stripe bills it.
fn stripe_subscription(a: &Account) -> Option<(String, Purchase)> {
    Some((a.provider_subscription.clone()?, current(a)?))
}

/// Subscribes, upgrades, downgrades or cancels (`target` is the floor to cancel). A plan Stripe
/// bills is changed at Stripe first (refused there, nothing changes here); a new subscription
/// with Stripe goes through Checkout; otherwise the local provider collects at once.
async fn switch(
    req: &Request,
    env: &Env,
    user: &User,
    surface: Surface,
    target: Purchase,
    now: u64,
    op: impl Fn(&mut Account) -> Result<(Change, Option<Charge>), BillingError>,
) -> ApiResult<Response> {
    let floor = matches!(
        target,
        Purchase::Plan {
            plan: Plan::Free,
            ..
        } | Purchase::Tier {
            tier: ApiTier::OnDemand,
            ..
        }
    );
    let reason = match target {
        Purchase::Plan { plan, .. } => format!("plan {plan:?}"),
        Purchase::Tier { tier, .. } => format!("tier {tier:?}"),
        Purchase::TopUp { .. } => "top-up".into(),
    };
    let account = credits::account(env, &user.id, surface).await?;
    if let Some((sub, current)) = stripe_subscription(&account) {
        // Dry run: what the change is and what it costs, by core's rules.
        let mut probe = account.clone();
        let (kind, charge) = op(&mut probe).map_err(refused)?;
        let change = match kind {
            Change::Upgraded => match target {
                Purchase::Plan {
                    interval: Interval::Monthly,
                    ..
                }
                | Purchase::Tier {
                    interval: Interval::Monthly,
                    ..
                } => SubscriptionChange::UpgradeRestart(target),
                _ => SubscriptionChange::UpgradeKeepCycle(target),
            },
            Change::DowngradeScheduled => SubscriptionChange::DowngradeAtEnd {
                current,
                to: target,
            },
            Change::CancelScheduled => SubscriptionChange::CancelAtEnd(true, current),
            Change::Started => SubscriptionChange::UpgradeRestart(target),
        };
        if let (SubscriptionChange::UpgradeKeepCycle(_), Some(c)) = (&change, &charge) {
            // An annual upgrade's prorated part, as core computes it, from the saved card.
            let pm = crate::stripe_api::default_card(env, &sub).await?;
            crate::stripe_api::charge_off_session(
                env,
                &user.id,
                &pm,
                c.cents,
                &format!("Upgrade: {} (prorated)", c.description),
                "upgrade",
                &format!("upgrade-{sub}-{}", reason.replace(' ', "-")),
            )
            .await?
            .map_err(|r| r.into_api("charge the upgrade"))?;
        }
        crate::stripe_api::change_subscription(
            env,
            &user.id,
            &sub,
            &change,
            &format!("{sub}-{now}"),
        )
        .await?;
        let (kind, charge) = with_account_by(
            env,
            &user.id,
            surface,
            &reason,
            now,
            Some(Provider::Stripe),
            |a, charges| {
                let (k, c) = op(a)?;
                charges.extend(c.clone());
                Ok((k, c))
            },
        )
        .await?
        .map_err(refused)?;
        return done(env, &user.id, change_name(kind), charge.as_ref()).await;
    }
    if !floor {
        let provider = Provider::for_request(req, env)?;
        if provider == Provider::Stripe && current(&account).is_some() {
            // A plan an operator set (`cargo xtask admin set-plan`) is not billed by Stripe:
            // nothing could collect the difference.
            return Err(ApiError::new(
                409,
                "managed_by_operator",
                "Your current plan was set by this instance's operator, not bought here: ask them to change it, or cancel it and subscribe again.",
            ));
        }
        if provider == Provider::Stripe {
            let url = crate::stripe_api::checkout(
                env,
                &user.id,
                &user.email,
                &target,
                target.line().1,
                if surface == Surface::App {
                    "/billing"
                } else {
                    "/billing/api"
                },
            )
            .await?;
            return redirect(env, &user.id, url).await;
        }
    }
    let (c, charge) = change(env, &user.id, surface, &reason, now, op).await?;
    done(env, &user.id, change_name(c), charge.as_ref()).await
}

pub async fn keep(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let s = surface(&body)?;
    let now = clock(&req, env)?;
    let account = credits::account(env, &user.id, s).await?;
    if let Some((sub, current)) = stripe_subscription(&account) {
        let cancel = matches!(
            (s, &account.plan, &account.tier),
            (Surface::App, Some(p), _) if p.pending == Some(Pending::Cancel)
        ) || matches!(
            (s, &account.plan, &account.tier),
            (Surface::Api, _, Some(t)) if t.pending == Some(Pending::Cancel)
        );
        let mut probe = account.clone();
        probe.keep().map_err(refused)?;
        let change = if cancel {
            SubscriptionChange::CancelAtEnd(false, current)
        } else {
            SubscriptionChange::Keep(current)
        };
        crate::stripe_api::change_subscription(
            env,
            &user.id,
            &sub,
            &change,
            &format!("{sub}-keep-{now}"),
        )
        .await?;
    }
    change(env, &user.id, s, "keep", now, |a| {
        a.keep().map(|()| ((), None))
    })
    .await?;
    done(env, &user.id, "kept", None).await
}

pub async fn topup(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let s = surface(&body)?;
    let n: u64 = field(
        &body,
        "credits",
        "a whole number of credits, at least 100, in steps of 100",
    )?;
    if Provider::for_request(&req, env)? == Provider::Stripe {
        if n > u32::MAX as u64 || !atelier_core::pricing::valid_topup(n as u32) {
            return Err(refused(BillingError::BadTopUp(n)));
        }
        let tier = credits::account(env, &user.id, s).await?.api_tier();
        let cents = atelier_core::pricing::topup_cents(s, tier, n as u32);
        let p = Purchase::TopUp {
            surface: s,
            credits: n,
        };
        let back = if s == Surface::App {
            "/billing"
        } else {
            "/billing/api"
        };
        let url = crate::stripe_api::checkout(env, &user.id, &user.email, &p, cents, back).await?;
        return redirect(env, &user.id, url).await;
    }
    let now = clock(&req, env)?;
    let ((), charge) = change(env, &user.id, s, "top-up", now, |a| {
        a.top_up(n, now).map(|c| ((), Some(c)))
    })
    .await?;
    done(env, &user.id, "paid", charge.as_ref()).await
}

#[derive(Deserialize)]
struct AutoBody {
    threshold: Option<u64>,
    amount: Option<u64>,
}

pub async fn auto_topup(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let b: AutoBody = json_body(&mut req).await?;
    let cfg = match (b.threshold, b.amount) {
        (None, None) => None,
        (Some(threshold), Some(amount)) => Some(AutoTopUp { threshold, amount }),
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
            if b.threshold.is_none() {
                "threshold"
            } else {
                "amount"
            },
            "missing",
            "Give both threshold and amount (credits), or neither to turn automatic top-up off.",
        )]))
        }
    };
    let now = clock(&req, env)?;
    change(env, &user.id, Surface::Api, "auto top-up", now, |a| {
        a.set_auto_topup(cfg).map(|()| ((), None))
    })
    .await?;
    done(
        env,
        &user.id,
        if cfg.is_some() {
            "auto_topup_on"
        } else {
            "auto_topup_off"
        },
        None,
    )
    .await
}

/// Saves or removes the payment method used by automatic top-ups. With Stripe, "add" opens
/// Checkout in setup mode (its webhook saves the card) and "remove" detaches the card at Stripe;
/// with the local provider it is a labelled test card.
pub async fn payment_method(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let action: String = field(&body, "action", "add or remove")?;
    let card = match action.as_str() {
        "add" => {
            if Provider::for_request(&req, env)? == Provider::Stripe {
                let back = match body.get("back").and_then(Value::as_str) {
                    Some("/billing") => "/billing",
                    _ => "/billing/api",
                };
                let url =
                    crate::stripe_api::setup_checkout(env, &user.id, &user.email, back).await?;
                return redirect(env, &user.id, url).await;
            }
            Some("Test card •••• 4242 (local provider)".to_string())
        }
        "remove" => {
            let saved = credits::account(env, &user.id, Surface::Api)
                .await?
                .provider_payment_method;
            if let Some(pm) = saved {
                crate::stripe_api::detach(env, &pm).await?;
                crate::stripe::save_card(env, &user.id, None, "removed").await?;
                return done(env, &user.id, "card_removed", None).await;
            }
            None
        }
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "action",
                "invalid_value",
                "Give action: add or remove.",
            )]))
        }
    };
    let now = clock(&req, env)?;
    for s in [Surface::App, Surface::Api] {
        change(env, &user.id, s, "payment method", now, |a| {
            a.payment_method = card.clone();
            a.provider_payment_method = None;
            // Automatic top-up cannot go on without a card.
            if card.is_none() {
                a.auto_topup = None;
            }
            Ok(((), None))
        })
        .await?;
    }
    done(
        env,
        &user.id,
        if card.is_some() {
            "card_saved"
        } else {
            "card_removed"
        },
        None,
    )
    .await
}

/// `POST /api/billing/alerts {on}`: e-mail alerts for the API balance (low balance, automatic
/// top-ups bought or failed), on by default.
pub async fn alerts(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await?;
    let on: bool = field(&body, "on", "true or false")?;
    let now = clock(&req, env)?;
    change(env, &user.id, Surface::Api, "alerts", now, |a| {
        a.alerts_off = !on;
        Ok(((), None))
    })
    .await?;
    done(
        env,
        &user.id,
        if on { "alerts_on" } else { "alerts_off" },
        None,
    )
    .await
}

#[derive(Deserialize, Serialize)]
struct PaymentRow {
    id: String,
    surface: String,
    provider: String,
    description: String,
    cents: f64,
    credits: f64,
    status: String,
    created_at: f64,
}

pub async fn payments(req: &Request, env: &Env) -> ApiResult<Response> {
    let user = billing_user(req, env).await?;
    let url = req.url()?;
    let s = url
        .query_pairs()
        .find(|(k, _)| k == "surface")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| "app".into());
    let s = match s.as_str() {
        "app" => Surface::App,
        "api" => Surface::Api,
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "surface",
                "invalid_value",
                "surface is app or api.",
            )]))
        }
    };
    let rows: Vec<PaymentRow> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT id, surface, provider, description, cents, credits, status, created_at FROM payments \
             WHERE user_id = ?1 AND surface = ?2 ORDER BY created_at DESC, id LIMIT 50",
        )
        .bind(&[user.id.into(), surface_name(s).into()])?
        .all()
        .await?
        .results()?;
    json(200, &json!({ "payments": rows }))
}

#[derive(Deserialize)]
struct AdminPlan {
    email: String,
    plan: Option<Plan>,
    tier: Option<ApiTier>,
    interval: Option<Interval>,
}

/// `POST /api/internal/admin/plan {email, plan?, tier?, interval?}` (signed with the job secret,
/// for `cargo xtask admin set-plan`): puts the account on a plan (and/or API tier) from now, a
/// fresh cycle, with nothing charged; `free` / `on_demand` ends the subscription now.
pub async fn admin_plan(mut req: Request, env: &Env) -> ApiResult<Response> {
    use atelier_core::ledger::BucketKind;
    let body = crate::http::signed_body(&mut req, env).await?;
    let a: AdminPlan = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            "bad_request",
            format!("{e} (plan: free|basic|pro|agency|agency_2x, tier: on_demand|tier1|tier2|tier3, interval: monthly|annual)"),
        )
    })?;
    let email = a.email.trim().to_lowercase();
    let user_id: Option<String> = env
        .d1(bind::DB)?
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[email.clone().into()])?
        .first(Some("id"))
        .await?;
    let Some(user_id) = user_id else {
        return Err(ApiError::new(
            404,
            "no_such_account",
            format!("There is no account {email}."),
        ));
    };
    let interval = a.interval.unwrap_or(Interval::Monthly);
    let now = crate::http::now_ms();
    if let Some(plan) = a.plan {
        with_account(
            env,
            &user_id,
            Surface::App,
            "operator set plan",
            |acc, _| {
                acc.plan = None;
                acc.provider_subscription = None;
                acc.ledger.expire_kind(BucketKind::Monthly);
                acc.ledger.expire_kind(BucketKind::Daily);
                acc.daily_at = None;
                if plan != Plan::Free {
                    acc.choose_plan(plan, interval, now)?;
                }
                Ok::<_, BillingError>(())
            },
        )
        .await?
        .map_err(refused)?;
    }
    if let Some(tier) = a.tier {
        with_account(
            env,
            &user_id,
            Surface::Api,
            "operator set tier",
            |acc, _| {
                acc.tier = None;
                acc.provider_subscription = None;
                acc.ledger.expire_kind(BucketKind::Monthly);
                if tier != ApiTier::OnDemand {
                    acc.choose_tier(tier, interval, now)?;
                }
                Ok::<_, BillingError>(())
            },
        )
        .await?
        .map_err(refused)?;
    }
    json(200, &view(env, &user_id).await?)
}

/// `POST /api/billing/portal {back?}`: Stripe's Billing Portal (payment methods, invoices,
/// cancellation) → `{result: "redirect", url}`. The local provider has no portal: its payment
/// method and invoices are on the Billing page itself (409 `no_portal`).
pub async fn portal(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = billing_user(&req, env).await?;
    let body: Value = json_body(&mut req).await.unwrap_or(Value::Null);
    let back = match body.get("back").and_then(Value::as_str) {
        Some("/billing/api") => "/billing/api",
        _ => "/billing",
    };
    if Provider::for_request(&req, env)? != Provider::Stripe {
        return Err(ApiError::new(
            409,
            "no_portal",
            "The local payment provider has no billing portal: your payment method and invoices are on this page.",
        ));
    }
    let url = crate::stripe_api::portal(env, &user.id, back).await?;
    redirect(env, &user.id, url).await
}
