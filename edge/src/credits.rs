//! Credit balances and plans: core's [`Account`] (ledger, App plan or API tier, daily credits,
//! automatic top-up), one per account and surface, stored as JSON in D1's `ledgers` and changed
//! with optimistic concurrency. Every change is written in one D1 batch: its journal entries
//! (`ledger_entries`, one per bucket counter moved, keyed by the new version so a writer that
//! lost the race fails on the primary key and the whole batch rolls back), the payments it
//! collected (`payments`) and the new state. Balances add up from the entries.
//!
//! A generation holds its full quote when it is created, is charged per successful output when
//! it completes, and releases everything when it fails or times out.

use atelier_core::billing::{Account, Charge};
use atelier_core::ledger::{Ledger, LedgerError};
use atelier_core::pricing::{Plan, Surface};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Env};

use crate::bind;
use crate::http::{now_ms, ApiError, ApiResult};

pub fn surface_name(s: Surface) -> &'static str {
    match s {
        Surface::App => "app",
        Surface::Api => "api",
    }
}

#[derive(Deserialize)]
struct LedgerRow {
    json: String,
    version: f64,
}

/// A stored account: core's `Account`, or a bare `Ledger` written before plans existed.
fn parse(surface: Surface, json: &str) -> ApiResult<Account> {
    if let Ok(a) = serde_json::from_str::<Account>(json) {
        return Ok(a);
    }
    serde_json::from_str::<Ledger>(json)
        .map(|l| Account::from_ledger(surface, l))
        .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))
}

/// Who collects the money: Stripe when `STRIPE_SECRET_KEY` is set (Checkout, the Billing
/// Portal, webhooks: the `stripe` service); otherwise, on a local instance (`cargo xtask dev`, tests),
/// the local provider, which completes a purchase at once and is labelled as such in the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Local,
    Stripe,
}

impl Provider {
    /// The provider this instance uses for new purchases, or an error saying purchases are not
    /// set up. A local instance may keep the local provider while Stripe is configured
    /// (`PAYMENTS_PROVIDER=local`: the test stack, where subscriptions and cards that Stripe's
    /// webhooks made are still managed at Stripe).
    pub fn of(env: &Env) -> ApiResult<Provider> {
        let c = crate::config::Config::from_env(env)?;
        let local_first = c.local_instance
            && crate::config::setting(env, "PAYMENTS_PROVIDER").as_deref() == Some("local");
        if c.stripe.secret_key.is_some() && !local_first {
            return Ok(Provider::Stripe);
        }
        if c.local_instance {
            return Ok(Provider::Local);
        }
        Err(ApiError::new(
            503,
            "payments_unavailable",
            "Payments are not set up on this instance: ask its operator (plans can be set with `cargo xtask admin set-plan`).",
        ))
    }

    /// [`Provider::of`], or on a local instance the one a test names in `x-atelier-provider`
    /// (`stripe` when Stripe is configured, or `local`).
    pub fn for_request(req: &worker::Request, env: &Env) -> ApiResult<Provider> {
        let c = crate::config::Config::from_env(env)?;
        if c.local_instance {
            match req.headers().get("x-atelier-provider")?.as_deref() {
                Some("stripe") if c.stripe.secret_key.is_some() => return Ok(Provider::Stripe),
                Some("local") => return Ok(Provider::Local),
                _ => {}
            }
        }
        Provider::of(env)
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::Stripe => "stripe",
        }
    }
}

/// Runs `f` on the account and stores the result; `f`'s own errors change nothing. `reason`
/// names the change in the journal ("hold gen_…", "top-up", "plan pro"). Renewals that fell
/// due, `f`'s charges and a due automatic top-up are recorded as payments in the same batch.
pub async fn with_account<T, E>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    f: impl Fn(&mut Account, &mut Vec<Charge>) -> Result<T, E>,
) -> ApiResult<Result<T, E>> {
    with_account_at(env, user_id, surface, reason, now_ms(), f).await
}

/// [`with_account`] at a given time (the scheduled Worker passes its scheduled time).
pub async fn with_account_at<T, E>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    now: u64,
    f: impl Fn(&mut Account, &mut Vec<Charge>) -> Result<T, E>,
) -> ApiResult<Result<T, E>> {
    let provider = Provider::of(env).ok();
    with_account_by(env, user_id, surface, reason, now, provider, f).await
}

/// [`with_account_at`] with the provider that collected `f`'s charges named (Stripe's webhook
/// applies what Stripe collected, whatever this instance's provider for new purchases is).
///
/// After the change is stored: an automatic top-up it made due is charged off-session when the
/// saved card is Stripe's (claimed in the same write, so racing runs buy it once; the credits
/// are added when Stripe says it is paid; a declined card switches it off), and the owner is
/// e-mailed when a top-up was bought or failed, or the API balance fell under
/// `core::billing::LOW_BALANCE_ALERT` with no automatic top-up.
pub async fn with_account_by<T, E>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    now: u64,
    provider: Option<Provider>,
    f: impl Fn(&mut Account, &mut Vec<Charge>) -> Result<T, E>,
) -> ApiResult<Result<T, E>> {
    let (out, after) = match write(env, user_id, surface, reason, now, provider, f).await? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if after.claimed.is_some() || after.bought.is_some() || after.low.is_some() {
        follow_up(env, user_id, surface, now, after).await;
    }
    Ok(Ok(out))
}

/// What a stored change leaves to do.
#[derive(Default)]
struct After {
    /// An automatic top-up claimed for an off-session charge: what to collect, the card, and
    /// the claim's time (its idempotency key).
    claimed: Option<(Charge, String, u64)>,
    /// An automatic top-up bought in the change itself (the local provider).
    bought: Option<Charge>,
    /// The API balance fell under the alert level: the balance now.
    low: Option<u64>,
    account: Option<Account>,
}

async fn follow_up(env: &Env, user_id: &str, surface: Surface, now: u64, after: After) {
    let card = |a: &Option<Account>| {
        a.as_ref()
            .and_then(|a| a.payment_method.clone())
            .unwrap_or_else(|| "your saved card".into())
    };
    if let Some(c) = &after.bought {
        let a = after.account.as_ref();
        alert_bought(env, user_id, c, &card(&after.account), a).await;
    }
    if let Some(n) = after.low {
        alert(
            env,
            user_id,
            &format!("Your Atelier API balance is low ({n} credits)"),
            &format!(
                "Your API balance is {n} credits. API requests fail with OutOfCredits when it reaches 0.\n\n\
                 Top up, or turn on automatic top-up so this does not happen: {{billing}}\n"
            ),
        )
        .await;
    }
    let Some((charge, pm, at)) = after.claimed else {
        return;
    };
    let key = format!("auto-topup-{user_id}-{at}");
    let r = crate::stripe_api::charge_off_session(
        env,
        user_id,
        &pm,
        charge.cents,
        &charge.description,
        "auto_topup",
        &key,
    )
    .await;
    let paid = match r {
        Ok(Ok(pi)) => Ok(pi),
        Ok(Err(refusal)) => Err(refusal.message),
        Err(e) => {
            // Not answered: the claim lapses and a later run tries again.
            worker::console_error!("automatic top-up for {user_id}: {}", e.message);
            return;
        }
    };
    let reason = match &paid {
        Ok(pi) => format!("auto top-up {pi}"),
        Err(_) => "auto top-up declined".to_string(),
    };
    let ok = paid.is_ok();
    let credits = charge.credits;
    let r = write(
        env,
        user_id,
        surface,
        &reason,
        now,
        Some(Provider::Stripe),
        |a, charges| {
            charges.extend(a.finish_auto_top_up(credits, ok, now));
            Ok::<_, LedgerError>(a.clone())
        },
    )
    .await;
    let account = match r {
        Ok(Ok((a, _))) => Some(a),
        _ => None,
    };
    match paid {
        Ok(_) if account.as_ref().is_some_and(|a| a.alerts_off) => {}
        Ok(_) => alert_bought(env, user_id, &charge, &card(&account), account.as_ref()).await,
        Err(why) => {
            let balance = account.as_ref().map_or(0, |a| a.ledger.available());
            alert(
                env,
                user_id,
                "Your Atelier automatic top-up failed",
                &format!(
                    "We could not buy {credits} API credits for {price} with {card}: {why}.\n\n\
                     Automatic top-up is now off, so API requests will fail with OutOfCredits when the \
                     balance ({balance} credits now) reaches 0. Update your payment method and turn it on \
                     again: {{billing}}\n",
                    price = dollars(charge.cents),
                    card = card(&account),
                    why = why.trim_end_matches('.'),
                ),
            )
            .await;
        }
    }
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

async fn alert_bought(env: &Env, user_id: &str, c: &Charge, card: &str, a: Option<&Account>) {
    let balance = a.map_or(0, |a| a.ledger.available());
    let threshold = a
        .and_then(|a| a.auto_topup)
        .map_or(String::new(), |t| format!(" ({} credits)", t.threshold));
    alert(
        env,
        user_id,
        &format!("Atelier: {} API credits added automatically", c.credits),
        &format!(
            "Your API balance reached your automatic top-up threshold{threshold}, so we bought {} API \
             credits for {}, charged to {card}. Your balance is now {balance} credits.\n\n\
             Change or turn off automatic top-up: {{billing}}\n",
            c.credits,
            dollars(c.cents),
        ),
    )
    .await;
}

/// E-mails the account's owner (when SMTP is set up and alerts are on); failures are logged.
async fn alert(env: &Env, user_id: &str, subject: &str, body: &str) {
    let Some(smtp) = crate::mail::Smtp::from_env(env) else {
        return;
    };
    let Ok(db) = env.d1(bind::DB) else { return };
    let to: Option<String> = match db
        .prepare("SELECT email FROM users WHERE id = ?1")
        .bind(&[user_id.into()])
    {
        Ok(q) => q.first(Some("email")).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(to) = to else { return };
    let billing = crate::config::Config::from_env(env)
        .map(|c| format!("{}/billing/api", c.edge_url))
        .unwrap_or_default();
    let body = format!(
        "{}\nYou get these alerts as the owner of an Atelier account; turn them off on the API Billing page.\n",
        body.replace("{billing}", &billing)
    );
    if let Err(e) = crate::mail::send(&smtp, &to, subject, &body).await {
        worker::console_error!("alert to {user_id} not sent: {e}");
    }
}

/// One optimistic write of the account (see [`with_account_by`]); returns what is left to do.
async fn write<T, E>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    now: u64,
    provider: Option<Provider>,
    f: impl Fn(&mut Account, &mut Vec<Charge>) -> Result<T, E>,
) -> ApiResult<Result<(T, After), E>> {
    let db = env.d1(bind::DB)?;
    let s = surface_name(surface);
    for attempt in 0..40u32 {
        if attempt > 0 {
            // Lost a race: back off a little, at random, so racing writers spread out.
            let ms =
                (crate::crypto::random_bytes::<1>()[0] as u64 % 8 + 1) * attempt.min(10) as u64;
            worker::Delay::from(std::time::Duration::from_millis(ms)).await;
        }
        let row: Option<LedgerRow> = db
            .prepare("SELECT json, version FROM ledgers WHERE user_id = ?1 AND surface = ?2")
            .bind(&[user_id.into(), s.into()])?
            .first(None)
            .await?;
        let (before, version) = match &row {
            Some(r) => (parse(surface, &r.json)?, r.version),
            None => (Account::new(surface), 0.0),
        };
        let mut account = before.clone();
        let mut charges = account.tick(now);
        if provider == Some(Provider::Stripe) {
            // Stripe bills renewals itself; its `invoice.paid` events are the record.
            charges.clear();
        }
        let out = match f(&mut account, &mut charges) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        // Automatic top-up when a run's hold took the balance to the threshold (not on reads,
        // nor the moment it is switched on: it buys when the balance dips). A Stripe card is
        // charged off-session once this is stored; the local provider's at once.
        let mut after = After::default();
        if surface == Surface::Api && account.ledger.available() < before.ledger.available() {
            match account.provider_payment_method.clone() {
                Some(pm) => {
                    after.claimed = account.claim_auto_top_up(now).map(|c| (c, pm, now));
                }
                None => {
                    after.bought = account.auto_top_up(now);
                    charges.extend(after.bought.clone());
                }
            }
            if account.low_balance_crossed(&before) {
                after.low = Some(account.ledger.available());
            }
            if !account.alerts_off {
                after.account = Some(account.clone());
            } else {
                after.bought = None;
                after.low = None;
            }
        }
        if account == before && row.is_some() {
            return Ok(Ok((out, After::default())));
        }
        // A new account's own grants (the free credits) are entries too.
        let base = if row.is_some() {
            before.ledger.clone()
        } else {
            Ledger::new()
        };
        let entries = account.ledger.entries_since(&base);
        account.ledger.compact();
        let json = serde_json::to_string(&account)
            .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?;
        let next = version + 1.0;
        // Without a payment provider (an operator sets plans), renewals are recorded as due.
        let (provider, status) = match provider {
            Some(p) => (p.name(), "paid"),
            None => ("operator", "due"),
        };
        let mut stmts: Vec<D1PreparedStatement> = vec![];
        let entry = |seq: usize,
                     bucket: JsValue,
                     kind: JsValue,
                     field: JsValue,
                     delta: f64,
                     op: &str|
         -> ApiResult<D1PreparedStatement> {
            Ok(db
                .prepare(
                    "INSERT INTO ledger_entries (user_id, surface, version, seq, at, op, bucket, kind, field, delta) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .bind(&[
                    user_id.into(),
                    s.into(),
                    next.into(),
                    (seq as f64).into(),
                    (now as f64).into(),
                    op.into(),
                    bucket,
                    kind,
                    field,
                    delta.into(),
                ])?)
        };
        // Seq 0 names the change; it also makes a losing writer fail on the primary key.
        stmts.push(entry(
            0,
            JsValue::NULL,
            JsValue::NULL,
            JsValue::NULL,
            0.0,
            reason,
        )?);
        for (i, e) in entries.iter().enumerate() {
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            stmts.push(entry(
                i + 1,
                (e.bucket as f64).into(),
                kind.into(),
                e.field.as_str().into(),
                e.delta as f64,
                reason,
            )?);
        }
        for c in &charges {
            stmts.push(
                db.prepare(
                    "INSERT INTO payments (id, user_id, surface, provider, description, cents, credits, status, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .bind(&[
                    format!("pay_{}", crate::crypto::new_id()).into(),
                    user_id.into(),
                    s.into(),
                    provider.into(),
                    c.description.clone().into(),
                    (c.cents as f64).into(),
                    (c.credits as f64).into(),
                    status.into(),
                    (now as f64).into(),
                ])?,
            );
        }
        let due = account
            .due_at()
            .map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64));
        stmts.push(if row.is_some() {
            db.prepare(
                "UPDATE ledgers SET json = ?1, version = ?2, due_at = ?3 WHERE user_id = ?4 AND surface = ?5 AND version = ?6",
            )
            .bind(&[
                json.into(),
                next.into(),
                due,
                user_id.into(),
                s.into(),
                version.into(),
            ])?
        } else {
            db.prepare(
                "INSERT INTO ledgers (user_id, surface, json, version, due_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&[user_id.into(), s.into(), json.into(), next.into(), due])?
        });
        match db.batch(stmts).await {
            Ok(_) => return Ok(Ok((out, after))),
            Err(e) if e.to_string().contains("constraint") || e.to_string().contains("UNIQUE") => {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        503,
        "busy",
        "The credit balance is busy; try again.",
    ))
}

/// Runs `f` on the account's ledger alone (holds, settlements).
async fn with_ledger<T>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    f: impl Fn(&mut Ledger) -> Result<T, LedgerError>,
) -> ApiResult<Result<T, LedgerError>> {
    with_account(env, user_id, surface, reason, |a, _| f(&mut a.ledger)).await
}

/// The account as of now (nothing is written unless a refresh or renewal fell due).
pub async fn account(env: &Env, user_id: &str, surface: Surface) -> ApiResult<Account> {
    Ok(with_account(env, user_id, surface, "refresh", |a, _| {
        Ok::<_, LedgerError>(a.clone())
    })
    .await?
    .unwrap_or_else(|_| Account::new(surface)))
}

/// Available credits.
pub async fn available(env: &Env, user_id: &str, surface: Surface) -> ApiResult<Ledger> {
    Ok(account(env, user_id, surface).await?.ledger)
}

/// The App plan in force for an account.
pub async fn app_plan(env: &Env, user_id: &str) -> ApiResult<Plan> {
    Ok(account(env, user_id, Surface::App).await?.app_plan())
}

/// Holds a generation's quote; Err(message) when the balance is short.
pub async fn hold(
    env: &Env,
    user_id: &str,
    surface: Surface,
    id: &str,
    per_output: u32,
    outputs: u32,
) -> ApiResult<Result<(), String>> {
    if per_output == 0 {
        return Ok(Ok(()));
    }
    let r = with_ledger(env, user_id, surface, &format!("hold {id}"), |l| {
        l.hold(id, per_output as u64, outputs, now_ms())
    })
    .await?;
    Ok(r.map_err(|e| match e {
        LedgerError::Insufficient { needed, available } => format!(
            "This run needs {needed} credit{} and {available} {} available. Top up or upgrade to continue.",
            if needed == 1 { "" } else { "s" },
            if available == 1 { "is" } else { "are" }
        ),
        e => e.to_string(),
    }))
}

/// Charges the successful outputs and releases the rest (idempotent; no hold → nothing).
pub async fn settle(env: &Env, user_id: &str, surface: Surface, id: &str, succeeded: &[u32]) {
    let r = with_ledger(env, user_id, surface, &format!("settle {id}"), |l| match l
        .finish(id, succeeded)
    {
        Err(LedgerError::UnknownHold) => Ok(0),
        r => r,
    })
    .await;
    if let Err(e) = r {
        worker::console_error!("settling {id} failed: {}", e.message);
    }
}

/// Sets an account's available balance (operator command).
pub async fn set(env: &Env, user_id: &str, surface: Surface, amount: u64) -> ApiResult<()> {
    with_ledger(env, user_id, surface, "operator set balance", |l| {
        l.set_balance(amount);
        Ok(())
    })
    .await?
    .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))
}

/// The scheduled Worker's pass: every account whose `due_at` has come is brought up to `now`
/// (renewals charged, daily credits refreshed, buckets expired), at most 500 per run, oldest
/// first. On a local instance a cron string containing `account=<user id>` limits the pass to
/// that account, so a test's fake clock moves nobody else's, and `time=<ms>` sets that clock.
/// Returns how many were processed.
pub async fn tick_due(env: &Env, now: u64, cron: &str) -> ApiResult<usize> {
    #[derive(Deserialize)]
    struct Due {
        user_id: String,
        surface: String,
    }
    let local = crate::config::Config::from_env(env)?.local_instance;
    let token = |name: &str| crate::http::cron_token(cron, name).filter(|_| local);
    let only = token("account=");
    // `wrangler dev`'s /__scheduled passes no scheduled time of its own: a test's fake clock
    // rides in the cron string.
    let now = token("time=")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(now);
    let db = env.d1(bind::DB)?;
    let due: Vec<Due> = match only {
        Some(user) => db
            .prepare("SELECT user_id, surface FROM ledgers WHERE user_id = ?1 AND due_at <= ?2")
            .bind(&[user.into(), (now as f64).into()])?,
        None => db
            .prepare(
                "SELECT user_id, surface FROM ledgers WHERE due_at <= ?1 ORDER BY due_at LIMIT 500",
            )
            .bind(&[(now as f64).into()])?,
    }
    .all()
    .await?
    .results()?;
    for d in &due {
        let surface = if d.surface == "api" {
            Surface::Api
        } else {
            Surface::App
        };
        with_account_at(env, &d.user_id, surface, "scheduled", now, |_, _| {
            Ok::<_, LedgerError>(())
        })
        .await?
        .ok();
    }
    Ok(due.len())
}

/// The available balance as the stored journal adds it up (`core::ledger::available_from`).
pub async fn journal_available(env: &Env, user_id: &str, surface: Surface) -> ApiResult<i64> {
    let n: Option<f64> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT COALESCE(SUM(CASE field WHEN 'granted' THEN delta ELSE -delta END), 0) AS n \
             FROM ledger_entries WHERE user_id = ?1 AND surface = ?2 AND field IS NOT NULL",
        )
        .bind(&[user_id.into(), surface_name(surface).into()])?
        .first(Some("n"))
        .await?;
    Ok(n.unwrap_or(0.0) as i64)
}
