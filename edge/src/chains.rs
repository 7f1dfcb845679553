//! The Assistant's chains: a planned turn's steps run in order as Studio generations (charged,
//! in history and the Gallery like any Run), each on the results it references. A step starts
//! when the one before it completes ([`ended`], called wherever a generation ends); a step that
//! fails, is canceled or cannot start ends the turn, and the steps after it never run (nothing
//! is held or charged for them). `ended` is registered with `jobs::on_ended`, so the services
//! that end generations do not import this module.

use atelier_core::assistant::{studio_body, Plan, TurnStatus};
use atelier_core::job::JobStatus;
use atelier_core::studio::GenerationRequest;
use serde_json::{Map, Value};
use worker::Env;

use crate::http::{ApiError, ApiResult};
use crate::store::assistant::{self as store, TurnRow};
use crate::store::generations::Row;

/// Where one image input of a step comes from, fixed when the message was planned.
pub fn binding_asset(hash: &str) -> Value {
    serde_json::json!({ "asset": hash })
}

pub fn binding_output(generation_id: &str, index: u32) -> Value {
    serde_json::json!({ "output": [generation_id, index] })
}

pub fn binding_step(k: u32) -> Value {
    serde_json::json!({ "step": k })
}

/// The asset a binding stands for (a result is carried into the user's assets first).
async fn resolve(env: &Env, turn: &TurnRow, b: &Value) -> ApiResult<String> {
    if let Some(h) = b.get("asset").and_then(Value::as_str) {
        return Ok(h.to_string());
    }
    let (generation, index) = if let Some(o) = b.get("output").and_then(Value::as_array) {
        (
            o.first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            o.get(1).and_then(Value::as_u64).unwrap_or(0) as u32,
        )
    } else if let Some(k) = b.get("step").and_then(Value::as_u64) {
        let steps = store::steps_of(env, std::slice::from_ref(&turn.id)).await?;
        let g = steps
            .into_iter()
            .find(|s| s.step as u64 == k)
            .ok_or_else(|| ApiError::new(500, "internal_error", "an earlier step never ran"))?;
        (g.generation_id, 0)
    } else {
        return Err(ApiError::new(
            500,
            "internal_error",
            "unreadable step binding",
        ));
    };
    Ok(
        crate::assets::carry(env, &member(env, turn).await?, &generation, index)
            .await?
            .hash,
    )
}

/// The member who wrote the turn, acting in its organization; an error once they are no longer
/// a member of it.
async fn member(env: &Env, turn: &TurnRow) -> ApiResult<crate::auth::Actor> {
    crate::auth::Actor::member(env, &turn.user_id, turn.org())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                403,
                "not_a_member",
                "You are no longer a member of the organization this conversation ran in.",
            )
        })
}

/// Starts step `k` of a running turn. When it cannot start (a result no longer usable, too
/// few credits, a tool this installation no longer runs) the turn fails with the reason.
pub async fn start(env: &Env, turn: &TurnRow, k: usize) -> ApiResult<()> {
    let plan: Plan = serde_json::from_str(&turn.plan)
        .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?;
    let bindings: Vec<Map<String, Value>> =
        serde_json::from_str(&turn.bindings).unwrap_or_default();
    let Some(step) = plan.steps.get(k) else {
        return Ok(());
    };
    let label = atelier_core::assistant::step_summary(step);
    let attempt = async {
        let mut step = step.clone();
        for (field, b) in bindings.get(k).into_iter().flatten() {
            step.inputs
                .insert(field.clone(), Value::String(resolve(env, turn, b).await?));
        }
        let s = studio_body(&step).map_err(ApiError::validation)?;
        let body = GenerationRequest {
            tool: s.tool.id().to_string(),
            inputs: s.inputs,
            params: s.params,
        };
        let id = crate::crypto::new_id();
        // Recorded first, so the generation's end always finds its turn.
        store::add_step(env, &turn.id, k as u32, &id).await?;
        if let Err(e) =
            crate::generations::create_for(env, &member(env, turn).await?, &id, &body).await
        {
            store::drop_step(env, &id).await?;
            return Err(e);
        }
        Ok::<(), ApiError>(())
    };
    if let Err(e) = attempt.await {
        let why = format!(
            "Step {} of {}, {label}, could not start: {} The steps after it did not run; nothing was charged for them.",
            k + 1,
            plan.steps.len(),
            e.message.trim_end_matches('.').to_string() + "."
        );
        fail(env, turn, &why).await?;
    }
    Ok(())
}

/// Ends a running turn as failed, with why.
async fn fail(env: &Env, turn: &TurnRow, why: &str) -> ApiResult<()> {
    store::set_status(
        env,
        &turn.id,
        TurnStatus::Running,
        TurnStatus::Failed,
        Some(why),
    )
    .await?;
    Ok(())
}

/// A generation ended (completed, failed, canceled or timed out): if it is a step of a turn,
/// the next step starts, or the turn ends. Errors are logged, never raised: the generation's
/// own end stands. Registered with `jobs::on_ended` by the Worker's entry; boxed, since
/// starting the next step can end a generation again (a refused queue) and so come back here.
pub fn ended<'a>(
    env: &'a Env,
    g: &'a Row,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> {
    Box::pin(async move {
        if let Err(e) = advance(env, g).await {
            worker::console_error!("assistant chain after {}: {}", g.id, e.message);
        }
    })
}

async fn advance(env: &Env, g: &Row) -> ApiResult<()> {
    let status = g.status();
    if !status.is_terminal() {
        return Ok(());
    }
    let Some(s) = store::step_of(env, &g.id).await? else {
        return Ok(());
    };
    let Some(turn) = store::load(env, &s.turn_id).await? else {
        return Ok(());
    };
    if turn.status() != TurnStatus::Running {
        return Ok(());
    }
    let plan: Plan = serde_json::from_str(&turn.plan)
        .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?;
    let k = s.step as usize;
    if status == JobStatus::Completed {
        if k + 1 < plan.steps.len() {
            return start(env, &turn, k + 1).await;
        }
        store::set_status(
            env,
            &turn.id,
            TurnStatus::Running,
            TurnStatus::Completed,
            None,
        )
        .await?;
        return Ok(());
    }
    let label = plan
        .steps
        .get(k)
        .map(atelier_core::assistant::step_summary)
        .unwrap_or_default();
    let what = match status {
        JobStatus::Canceled => "was canceled".to_string(),
        JobStatus::TimeOut => "did not finish in time".to_string(),
        _ => format!(
            "failed: {}",
            g.error_message
                .as_deref()
                .unwrap_or("the engine reported an error")
        ),
    };
    let rest = if k + 1 < plan.steps.len() {
        " The steps after it did not run; nothing was charged for them."
    } else {
        " Nothing was charged for it."
    };
    let why = format!(
        "Step {} of {}, {label}, {}.{rest}",
        k + 1,
        plan.steps.len(),
        what.trim_end_matches('.')
    );
    fail(env, &turn, &why).await
}
