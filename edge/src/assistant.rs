//! `POST /api/assistant/plan`: the AI Assistant's planner (core's `assistant::plan`) for the
//! signed-in user. Body: `{"message", "images", "history": [{"message", "images", "steps"}]}`;
//! answers the plan, `{"kind": "run"|"answer"|"question"|"refusal", "reply", "steps",
//! "question", "credits", "confirm"}`, with `tools` (each step's Studio tool, for deep links)
//! and `refs` (what the steps' references may point at). Nothing runs and nothing is charged
//! here: each step is a `/v1/run` body the app submits as a Studio generation.

use atelier_core::assistant::{check_request, plan, PlanRequest, Refs};
use atelier_core::catalog::ApiModel;
use serde_json::json;
use worker::{Env, Request, Response};

use crate::auth::require_user;
use crate::http::{json, json_body, same_origin, ApiError, ApiResult};

pub async fn plan_message(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    require_user(&req, env).await?;
    let body: PlanRequest = json_body(&mut req).await?;
    check_request(&body).map_err(ApiError::validation)?;
    let p = plan(&body);
    let tools: Vec<Option<&str>> = p
        .steps
        .iter()
        .map(|s| ApiModel::parse(&s.model_name).map(|m| m.tool().id()))
        .collect();
    let mut out =
        serde_json::to_value(&p).map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    out["tools"] = json!(tools);
    out["refs"] = json!(Refs::of(&body));
    json(200, &out)
}
