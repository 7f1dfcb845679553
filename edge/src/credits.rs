//! Credit balances: core's ledger, stored as JSON per account and surface in D1 and changed with
//! optimistic concurrency (a write that lost a race is retried on fresh state). A generation
//! holds its full quote when it is created, is charged per successful output when it completes,
//! and releases everything when it fails or times out.

use atelier_core::ledger::{BucketKind, Ledger, LedgerError};
use atelier_core::pricing::{Plan, Surface};
use serde::Deserialize;
use worker::Env;

use crate::bind;
use crate::http::{now_ms, ApiError, ApiResult};

fn surface_name(s: Surface) -> &'static str {
    match s {
        Surface::App => "app",
        Surface::Api => "api",
    }
}

/// A new account's ledger: the App starts with the Free plan's one-time credits; the API at 0.
fn fresh(surface: Surface) -> Ledger {
    let mut l = Ledger::new();
    if surface == Surface::App {
        l.grant(
            BucketKind::TopUp,
            Plan::Free.info().one_time_credits as u64,
            None,
        );
    }
    l
}

#[derive(Deserialize)]
struct LedgerRow {
    json: String,
    version: f64,
}

/// Runs `f` on the account's ledger and stores the result; `f`'s own errors change nothing.
pub async fn with_ledger<T>(
    env: &Env,
    user_id: &str,
    surface: Surface,
    f: impl Fn(&mut Ledger) -> Result<T, LedgerError>,
) -> ApiResult<Result<T, LedgerError>> {
    let db = env.d1(bind::DB)?;
    let s = surface_name(surface);
    for _ in 0..8 {
        let row: Option<LedgerRow> = db
            .prepare("SELECT json, version FROM ledgers WHERE user_id = ?1 AND surface = ?2")
            .bind(&[user_id.into(), s.into()])?
            .first(None)
            .await?;
        let (mut ledger, version) = match &row {
            Some(r) => (
                serde_json::from_str::<Ledger>(&r.json)
                    .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?,
                r.version,
            ),
            None => (fresh(surface), 0.0),
        };
        ledger.expire(now_ms());
        let out = match f(&mut ledger) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let json = serde_json::to_string(&ledger)
            .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?;
        let res = if row.is_some() {
            db.prepare("UPDATE ledgers SET json = ?1, version = version + 1 WHERE user_id = ?2 AND surface = ?3 AND version = ?4")
                .bind(&[json.into(), user_id.into(), s.into(), version.into()])?
                .run()
                .await?
        } else {
            db.prepare("INSERT OR IGNORE INTO ledgers (user_id, surface, json, version) VALUES (?1, ?2, ?3, 1)")
                .bind(&[user_id.into(), s.into(), json.into()])?
                .run()
                .await?
        };
        let changed = res.meta()?.and_then(|m| m.changes).unwrap_or(0);
        if changed == 1 {
            return Ok(Ok(out));
        }
    }
    Err(ApiError::new(
        503,
        "busy",
        "The credit balance is busy; try again.",
    ))
}

/// Available credits.
pub async fn available(env: &Env, user_id: &str, surface: Surface) -> ApiResult<Ledger> {
    Ok(with_ledger(env, user_id, surface, |l| Ok(l.clone()))
        .await?
        .unwrap_or_default())
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
    let r = with_ledger(env, user_id, surface, |l| {
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
    let r = with_ledger(env, user_id, surface, |l| match l.finish(id, succeeded) {
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
    with_ledger(env, user_id, surface, |l| {
        l.set_balance(amount);
        Ok(())
    })
    .await?
    .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))
}
