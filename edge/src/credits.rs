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
    /// The provider this instance uses, or an error saying purchases are not set up.
    pub fn of(env: &Env) -> ApiResult<Provider> {
        let c = crate::config::Config::from_env(env)?;
        if c.stripe.secret_key.is_some() {
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
pub async fn with_account_by<T, E>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    reason: &str,
    now: u64,
    provider: Option<Provider>,
    f: impl Fn(&mut Account, &mut Vec<Charge>) -> Result<T, E>,
) -> ApiResult<Result<T, E>> {
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
        // nor the moment it is switched on: it buys when the balance dips).
        if surface == Surface::Api && account.ledger.available() < before.ledger.available() {
            charges.extend(account.auto_top_up(now));
        }
        if account == before && row.is_some() {
            return Ok(Ok(out));
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
            Ok(_) => return Ok(Ok(out)),
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
    let token = |name: &str| {
        cron.split(|c: char| c.is_whitespace() || c == '&' || c == '#')
            .find_map(|p| p.strip_prefix(name))
            .filter(|_| local)
    };
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
