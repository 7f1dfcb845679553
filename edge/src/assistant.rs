//! The AI Assistant over HTTP. `POST /api/assistant/plan` (a session or an API key): core's
//! planner on `{"message", "images", "history"}` → the plan, with `tools` (each step's Studio
//! tool) and `refs`; nothing runs. `GET`/`POST /api/assistant/messages` and
//! `…/{id}/confirm|dismiss` (the app's session): the stored conversation — a new message is
//! planned against it (a language model consulted when the planner is unsure, an analysis
//! asked of the node), kept as a turn, and its plan run by `chains`.

use atelier_core::assistant::{
    check_request, plan, Kind, Plan, PlanRequest, Refs, StepView, Turn, TurnStatus, TurnView,
    MAX_HISTORY, MAX_IMAGES,
};
use atelier_core::catalog::ApiModel;
use atelier_core::FieldError;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::auth::{acting, require_user, Actor};
use crate::chains;
use crate::http::{json, json_body, same_origin, ApiError, ApiResult};
use crate::store::assistant::{self as store, NewTurn, TurnRow};
use crate::store::generations::Row as GenRow;

pub async fn plan_message(mut req: Request, env: &Env) -> ApiResult<Response> {
    // A developer's API key (`Authorization: Bearer …`, rate-limited like /v1/status), or the
    // app's session.
    if crate::http::header(&req, "Authorization").is_some() {
        crate::api::authenticate(&req, env, crate::ratelimit::Route::Status).await?;
    } else {
        same_origin(&req)?;
        require_user(&req, env).await?;
    }
    let body: PlanRequest = json_body(&mut req).await?;
    check_request(&body).map_err(ApiError::validation)?;
    let p = plan_with_model(env, &body).await;
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

/// The planner's plan; when it is unsure (it asks back) and a language model is configured,
/// the model is offered the same typed tools, and its plan is used if it passes the same checks
/// (`assistant::plan_from_llm`). Any failure of the model leaves the planner's question.
async fn plan_with_model(env: &Env, req: &PlanRequest) -> Plan {
    let p = plan(req);
    if p.kind != Kind::Question || req.message.trim().is_empty() {
        return p;
    }
    let Some(lm) = crate::config::Config::from_env(env)
        .ok()
        .and_then(|c| c.assistant_llm)
    else {
        return p;
    };
    match ask_model(&lm, req).await {
        Ok(planned) => planned,
        Err(e) => {
            worker::console_warn!("assistant language model not used: {e}");
            p
        }
    }
}

/// How long the language model may take before the planner's answer stands.
const MODEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

async fn ask_model(lm: &crate::config::LanguageModel, req: &PlanRequest) -> Result<Plan, String> {
    use atelier_core::assistant::{llm_system_prompt, llm_tools, plan_from_llm, LLM_FUNCTION};
    let refs = Refs::of(req);
    let attached = |n: u32| match n {
        0 => String::new(),
        1 => " [1 image attached]".into(),
        n => format!(" [{n} images attached]"),
    };
    let mut messages = vec![json!({"role": "system", "content": llm_system_prompt(refs)})];
    let skip = req.history.len().saturating_sub(10);
    for t in req.history.iter().skip(skip) {
        messages.push(
            json!({"role": "user", "content": format!("{}{}", t.message, attached(t.images))}),
        );
        if !t.steps.is_empty() {
            let ran: Vec<String> = t
                .steps
                .iter()
                .map(atelier_core::assistant::step_summary)
                .collect();
            messages
                .push(json!({"role": "assistant", "content": format!("Ran: {}.", ran.join("; "))}));
        }
    }
    messages.push(
        json!({"role": "user", "content": format!("{}{}", req.message, attached(req.images))}),
    );
    let body = json!({
        "model": lm.model,
        "messages": messages,
        "tools": llm_tools(),
        "tool_choice": "auto",
        "temperature": 0,
    })
    .to_string();
    let headers = worker::Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| e.to_string())?;
    if let Some(k) = &lm.key {
        headers
            .set("Authorization", &format!("Bearer {k}"))
            .map_err(|e| e.to_string())?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    let request = worker::Request::new_with_init(&format!("{}/chat/completions", lm.url), &init)
        .map_err(|e| e.to_string())?;
    let fetch = worker::Fetch::Request(request);
    let call = Box::pin(fetch.send());
    let timeout = Box::pin(worker::Delay::from(MODEL_TIMEOUT));
    let mut resp = match futures_util::future::select(call, timeout).await {
        futures_util::future::Either::Left((r, _)) => r.map_err(|e| e.to_string())?,
        futures_util::future::Either::Right(_) => return Err("it did not answer in time".into()),
    };
    if resp.status_code() != 200 {
        return Err(format!("it answered {}", resp.status_code()));
    }
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
    if call["name"] != LLM_FUNCTION {
        return Err("it called no plan".into());
    }
    let args = call["arguments"]
        .as_str()
        .ok_or("its tool call has no arguments")?;
    plan_from_llm(args, refs).map_err(|e| atelier_core::tool::messages(&e))
}

/// `POST /api/assistant/messages`'s body: the message and the attached images (asset hashes
/// of the user's uploads, in order).
#[derive(serde::Deserialize)]
struct NewMessage {
    #[serde(default)]
    message: String,
    #[serde(default)]
    images: Vec<String>,
}

/// The conversation the planner reads: the latest turns, what their images were and which
/// results they made (completed turns only: a result is a completed step's first output).
struct Conversation {
    history: Vec<Turn>,
    uploads: Vec<String>,
    results: Vec<String>,
}

async fn conversation(env: &Env, actor: &Actor) -> ApiResult<Conversation> {
    let turns = store::latest(env, &actor.org, &actor.user.id, MAX_HISTORY as u32).await?;
    let ids: Vec<String> = turns.iter().map(|t| t.id.clone()).collect();
    let steps = store::steps_of(env, &ids).await?;
    let (mut history, mut uploads, mut results) = (vec![], vec![], vec![]);
    for t in &turns {
        let images: Vec<String> = serde_json::from_str(&t.images).unwrap_or_default();
        let plan: Option<Plan> = serde_json::from_str(&t.plan).ok();
        let done = t.status() == TurnStatus::Completed;
        let mut ran = vec![];
        if done {
            let mut mine: Vec<&store::StepRow> =
                steps.iter().filter(|s| s.turn_id == t.id).collect();
            mine.sort_by(|a, b| a.step.total_cmp(&b.step));
            results.extend(mine.iter().map(|s| s.generation_id.clone()));
            ran = plan.map(|p| p.steps).unwrap_or_default();
        }
        history.push(Turn {
            message: t.message.clone(),
            images: images.len() as u32,
            steps: ran,
        });
        uploads.extend(images);
    }
    Ok(Conversation {
        history,
        uploads,
        results,
    })
}

/// Each step's image inputs as bindings (see `chains`): the references fixed now, so later
/// turns do not shift what "the second one" meant.
fn bindings(plan: &Plan, images: &[String], c: &Conversation) -> Option<Vec<Value>> {
    let mut out = vec![];
    for s in &plan.steps {
        let mut m = serde_json::Map::new();
        for (field, v) in &s.inputs {
            let Some(r) = v.as_str().filter(|r| r.starts_with('$')) else {
                continue;
            };
            let num = |p: &str| r.strip_prefix(p).and_then(|k| k.parse::<usize>().ok());
            let b = if let Some(k) = num("$image:") {
                chains::binding_asset(images.get(k)?)
            } else if let Some(k) = num("$upload:") {
                chains::binding_asset(c.uploads.get(k)?)
            } else if let Some(k) = num("$result:") {
                chains::binding_output(c.results.get(k)?, 0)
            } else if let Some(k) = num("$step:") {
                chains::binding_step(k as u32)
            } else if r == "$last" {
                chains::binding_output(c.results.last()?, 0)
            } else {
                return None;
            };
            m.insert(field.clone(), b);
        }
        out.push(Value::Object(m));
    }
    Some(out)
}

/// One turn as the chat shows it (core's `TurnView`), with each started step's generation.
fn turn_view(t: &TurnRow, steps: &[store::StepRow], gens: &[GenRow]) -> TurnView {
    let plan: Plan = serde_json::from_str(&t.plan).unwrap_or(Plan {
        kind: Kind::Answer,
        reply: String::new(),
        steps: vec![],
        question: None,
        credits: 0,
        confirm: false,
    });
    let step_views = plan
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let g = steps
                .iter()
                .find(|r| r.turn_id == t.id && r.step as usize == k)
                .and_then(|r| gens.iter().find(|g| g.id == r.generation_id));
            StepView::of(s, g.map(GenRow::view))
        })
        .collect();
    TurnView {
        id: t.id.clone(),
        created_at: t.created_at,
        message: t.message.clone(),
        images: serde_json::from_str(&t.images).unwrap_or_default(),
        kind: plan.kind,
        reply: plan.reply,
        question: plan.question,
        credits: plan.credits,
        confirm: plan.confirm,
        status: t.status(),
        error: t.error.clone(),
        steps: step_views,
    }
}

async fn turn_views(env: &Env, turns: &[TurnRow]) -> ApiResult<Vec<TurnView>> {
    let ids: Vec<String> = turns.iter().map(|t| t.id.clone()).collect();
    let steps = store::steps_of(env, &ids).await?;
    let gen_ids: Vec<String> = steps.iter().map(|s| s.generation_id.clone()).collect();
    let gens = crate::store::generations::load_many(env, &gen_ids).await?;
    Ok(turns.iter().map(|t| turn_view(t, &steps, &gens)).collect())
}

/// `GET /api/assistant/messages`: the conversation's latest turns, oldest first.
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let actor = acting(req, env).await?;
    let turns = store::latest(env, &actor.org, &actor.user.id, MAX_HISTORY as u32).await?;
    json(200, &json!({"messages": turn_views(env, &turns).await?}))
}

/// `POST /api/assistant/messages`: plans the message against the stored conversation, keeps
/// the turn, and runs its plan at once unless it waits for a confirmation. 201 with the turn.
pub async fn post(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let actor = acting(&req, env).await?;
    let body: NewMessage = json_body(&mut req).await?;
    let mut errors = vec![];
    if body.images.len() > MAX_IMAGES as usize {
        errors.push(FieldError::new(
            "images",
            "too_many",
            format!("Attach at most {MAX_IMAGES} images to one message."),
        ));
    } else {
        for (k, h) in body.images.iter().enumerate() {
            if crate::assets::find(env, &actor.org, h).await?.is_none() {
                errors.push(FieldError::new(
                    &format!("images[{k}]"),
                    "unknown_asset",
                    "That image is not among your uploads. Attach it again.",
                ));
            }
        }
    }
    let c = conversation(env, &actor).await?;
    let preq = PlanRequest {
        message: body.message.clone(),
        images: body.images.len().min(MAX_IMAGES as usize) as u32,
        history: c.history.clone(),
    };
    if let Err(e) = check_request(&preq) {
        errors.extend(e.into_iter().filter(|f| f.path != "history"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut p = plan_with_model(env, &preq).await;
    if p.kind == Kind::Analyze {
        p.reply = analysis(env, &body.images).await;
    }
    let b = bindings(&p, &body.images, &c).ok_or_else(|| {
        ApiError::new(
            500,
            "internal_error",
            "The plan names a result the conversation does not have.",
        )
    })?;
    let status = TurnStatus::of(&p);
    let id = crate::crypto::new_id();
    store::insert(
        env,
        NewTurn {
            id: &id,
            user_id: &actor.user.id,
            org_id: &actor.org,
            message: &body.message,
            images: &text(&body.images),
            plan: &text(&p),
            bindings: &text(&b),
            status,
        },
    )
    .await?;
    let turn = store::load(env, &id)
        .await?
        .ok_or_else(|| ApiError::new(500, "internal_error", "lost turn"))?;
    if status == TurnStatus::Running {
        chains::start(env, &turn, 0).await?;
    }
    respond(env, &id, 201).await
}

async fn respond(env: &Env, id: &str, status: u16) -> ApiResult<Response> {
    let turn = store::load(env, id)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "There is no such message of yours."))?;
    let v = turn_views(env, std::slice::from_ref(&turn)).await?;
    json(status, &json!({"message": v.into_iter().next()}))
}

/// The Assistant's look at the attached images: the node's facts about each one
/// (`POST /v1/analyze`), in core's words; when the node cannot answer, that, plainly.
async fn analysis(env: &Env, images: &[String]) -> String {
    let mut facts = vec![];
    for h in images {
        match analyze_one(env, h).await {
            Ok(f) => facts.push(f),
            Err(e) => {
                return format!(
                    "I could not look at the image just now ({e}). Try again in a moment, or tell me what you would like to make."
                )
            }
        }
    }
    atelier_core::assistant::analysis_reply(&facts)
}

async fn analyze_one(env: &Env, hash: &str) -> Result<atelier_core::assistant::ImageFacts, String> {
    let url = crate::blobs::signed_url(env, "GET", &format!("/api/blobs/assets/{hash}"))
        .map_err(|e| e.to_string())?;
    let body = json!({ "source_url": url }).to_string();
    let mut resp = crate::node::post(env, "/v1/analyze", &body)
        .await
        .map_err(|e| format!("the inference service did not answer: {e}"))?;
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if resp.status_code() != 200 {
        let why = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the inference service answered {}", resp.status_code()));
        return Err(why);
    }
    serde_json::from_str(&text).map_err(|e| format!("an unreadable analysis: {e}"))
}

/// `POST /api/assistant/messages/{id}/confirm` runs a plan that waited for a confirmation;
/// `…/dismiss` sets it aside. 409 when it is not waiting any more.
pub async fn decide(req: &Request, env: &Env, id: &str, run: bool) -> ApiResult<Response> {
    same_origin(req)?;
    let actor = acting(req, env).await?;
    let turn = store::load(env, id)
        .await?
        .filter(|t| t.user_id == actor.user.id && t.org() == actor.org)
        .ok_or_else(|| ApiError::new(404, "not_found", "There is no such message of yours."))?;
    let to = if run {
        TurnStatus::Running
    } else {
        TurnStatus::Dismissed
    };
    if !store::set_status(env, id, TurnStatus::Waiting, to, None).await? {
        return Err(ApiError::new(
            409,
            "not_waiting",
            format!(
                "This plan is {}; only a plan waiting for its confirmation can be confirmed or dismissed.",
                turn.status().as_str()
            ),
        ));
    }
    if run {
        let turn = store::load(env, id).await?.unwrap_or(turn);
        chains::start(env, &turn, 0).await?;
    }
    respond(env, id, 200).await
}

/// The text stored in a JSON column.
fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
