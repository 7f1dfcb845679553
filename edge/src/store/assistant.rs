//! Every query of the Assistant's conversation: its turns (a message, its images, its plan and
//! how its run went) and the generation each started step is.

use atelier_core::assistant::TurnStatus;
use serde::Deserialize;
use worker::Env;

use crate::bind;
use crate::http::{now_ms, ApiResult};

/// A stored turn; JSON columns as text.
#[derive(Debug, Clone, Deserialize)]
pub struct TurnRow {
    pub id: String,
    pub user_id: String,
    /// The organization the member acted in.
    pub org_id: Option<String>,
    pub created_at: f64,
    pub message: String,
    pub images: String,
    pub plan: String,
    pub bindings: String,
    pub status: String,
    pub error: Option<String>,
}

impl TurnRow {
    pub fn org(&self) -> &str {
        self.org_id.as_deref().unwrap_or_default()
    }

    pub fn status(&self) -> TurnStatus {
        serde_json::from_value(serde_json::Value::String(self.status.clone()))
            .unwrap_or(TurnStatus::Failed)
    }
}

const COLUMNS: &str =
    "id, user_id, org_id, created_at, message, images, plan, bindings, status, error";

/// A started step: its turn, its place in the plan and its generation.
#[derive(Debug, Clone, Deserialize)]
pub struct StepRow {
    pub turn_id: String,
    pub step: f64,
    pub generation_id: String,
}

pub struct NewTurn<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub message: &'a str,
    pub images: &'a str,
    pub plan: &'a str,
    pub bindings: &'a str,
    pub status: TurnStatus,
}

pub async fn insert(env: &Env, t: NewTurn<'_>) -> ApiResult<()> {
    let now = now_ms() as f64;
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO assistant_turns (id, user_id, created_at, updated_at, message, images, \
             plan, bindings, status, org_id) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&[
            t.id.into(),
            t.user_id.into(),
            now.into(),
            t.message.into(),
            t.images.into(),
            t.plan.into(),
            t.bindings.into(),
            t.status.as_str().into(),
            t.org_id.into(),
        ])?
        .run()
        .await?;
    Ok(())
}

pub async fn load(env: &Env, id: &str) -> ApiResult<Option<TurnRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM assistant_turns WHERE id = ?1"
        ))
        .bind(&[id.into()])?
        .first(None)
        .await?)
}

/// A member's latest `limit` turns in an organization, oldest first.
pub async fn latest(env: &Env, org_id: &str, user_id: &str, limit: u32) -> ApiResult<Vec<TurnRow>> {
    let mut rows: Vec<TurnRow> = env
        .d1(bind::DB)?
        .prepare(format!(
            "SELECT {COLUMNS} FROM assistant_turns WHERE org_id = ?3 AND user_id = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))
        .bind(&[user_id.into(), (limit as f64).into(), org_id.into()])?
        .all()
        .await?
        .results()?;
    rows.reverse();
    Ok(rows)
}

/// Moves a turn from `from` to `to` (with an error message when it failed); false when it was
/// no longer `from` (another request moved it first).
pub async fn set_status(
    env: &Env,
    id: &str,
    from: TurnStatus,
    to: TurnStatus,
    error: Option<&str>,
) -> ApiResult<bool> {
    let r = env
        .d1(bind::DB)?
        .prepare(
            "UPDATE assistant_turns SET status = ?3, error = ?4, updated_at = ?5 \
             WHERE id = ?1 AND status = ?2",
        )
        .bind(&[
            id.into(),
            from.as_str().into(),
            to.as_str().into(),
            error.map_or(wasm_bindgen::JsValue::NULL, Into::into),
            (now_ms() as f64).into(),
        ])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// Records that step `step` of a turn is generation `generation_id` (before it starts, so its
/// end always finds the turn).
pub async fn add_step(env: &Env, turn_id: &str, step: u32, generation_id: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare("INSERT INTO assistant_steps (turn_id, step, generation_id) VALUES (?1, ?2, ?3)")
        .bind(&[turn_id.into(), (step as f64).into(), generation_id.into()])?
        .run()
        .await?;
    Ok(())
}

/// Forgets a step whose generation could not start.
pub async fn drop_step(env: &Env, generation_id: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare("DELETE FROM assistant_steps WHERE generation_id = ?1")
        .bind(&[generation_id.into()])?
        .run()
        .await?;
    Ok(())
}

/// The step a generation is, if it is one.
pub async fn step_of(env: &Env, generation_id: &str) -> ApiResult<Option<StepRow>> {
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT turn_id, step, generation_id FROM assistant_steps WHERE generation_id = ?1",
        )
        .bind(&[generation_id.into()])?
        .first(None)
        .await?)
}

/// The started steps of these turns, in step order.
pub async fn steps_of(env: &Env, turn_ids: &[String]) -> ApiResult<Vec<StepRow>> {
    let list = serde_json::to_string(turn_ids).unwrap_or_else(|_| "[]".into());
    Ok(env
        .d1(bind::DB)?
        .prepare(
            "SELECT turn_id, step, generation_id FROM assistant_steps \
             WHERE turn_id IN (SELECT value FROM json_each(?1)) ORDER BY turn_id, step",
        )
        .bind(&[list.into()])?
        .all()
        .await?
        .results()?)
}
