//! `POST /api/quote`: credits for a run before it is made, from core's rules (no session).
//! Body: the `/v1/run` body plus the surface, `{"surface": "app"|"api", "model_name", "inputs",
//! "plan"?}`. Answers `{"credits", "per_output", "outputs", "breakdown", "resolved"}` or a 400
//! with every validation problem (FASHN's error shape for `surface: "api"`).

use atelier_core::catalog::{fashn_bad_request, quote, resolve_api, Context};
use atelier_core::pricing::{Plan, Surface};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use crate::http::{json, json_body, ApiError, ApiResult};

#[derive(Deserialize)]
struct QuoteBody {
    surface: Option<Value>,
    model_name: Option<Value>,
    #[serde(default)]
    inputs: Option<Value>,
    #[serde(default)]
    plan: Option<Value>,
}

pub async fn post(mut req: Request) -> ApiResult<Response> {
    let b: QuoteBody = json_body(&mut req).await?;
    let mut problems = vec![];
    let surface = match b.surface.as_ref().and_then(Value::as_str) {
        Some("app") => Some(Surface::App),
        Some("api") => Some(Surface::Api),
        _ => {
            problems.push(atelier_core::FieldError::new(
                "surface",
                "invalid_choice",
                "surface must be \"app\" or \"api\".",
            ));
            None
        }
    };
    let plan = match &b.plan {
        None | Some(Value::Null) => None,
        Some(v) => match serde_json::from_value::<Plan>(v.clone()) {
            Ok(p) => Some(p),
            Err(_) => {
                problems.push(atelier_core::FieldError::new(
                    "plan",
                    "invalid_choice",
                    "plan must be one of free, basic, pro, agency, agency_2x.",
                ));
                None
            }
        },
    };
    let model = b
        .model_name
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_string);
    if model.is_none() {
        problems.push(atelier_core::FieldError::new(
            "model_name",
            "required",
            "model_name is required, e.g. \"background-remove\".",
        ));
    }
    let inputs: Map<String, Value> = match b.inputs {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            problems.push(atelier_core::FieldError::new(
                "inputs",
                "invalid_type",
                "inputs must be an object.",
            ));
            Map::new()
        }
    };
    let fail =
        |surface: Option<Surface>, errors: Vec<atelier_core::FieldError>| -> ApiResult<Response> {
            if surface == Some(Surface::Api) {
                json(400, &fashn_bad_request(&errors))
            } else {
                Err(ApiError::validation(errors))
            }
        };
    if !problems.is_empty() {
        return fail(surface, problems);
    }
    let (surface, model) = (surface.unwrap_or(Surface::App), model.unwrap_or_default());
    match resolve_api(&model, &inputs, Context { surface, plan }) {
        Ok((api_model, resolved)) => {
            let q = quote(surface, &resolved);
            json(
                200,
                &json!({
                    "credits": q.credits,
                    "per_output": q.per_output,
                    "outputs": q.outputs,
                    "breakdown": q.breakdown,
                    "model_name": api_model.name(),
                    "tool": resolved.tool().id(),
                    "resolved": resolved,
                }),
            )
        }
        Err(errors) => fail(Some(surface), errors),
    }
}
