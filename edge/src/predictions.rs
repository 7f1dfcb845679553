//! API predictions as the Developer API reports them: FASHN's status body (output URLs signed
//! for 72 hours, or data URIs with `return_base64`) and the credits used. `GET /v1/status/{id}`
//! and webhooks answer with it.

use atelier_core::sign;
use base64::Engine as _;
use serde_json::{json, Value};
use worker::Env;

use crate::bind;
use crate::config::Config;
use crate::http::{now_secs, ApiError, ApiResult};
use crate::store::generations as store;

/// How long an output URL in a status body stays valid: 72 hours, as FASHN's CDN URLs do.
const OUTPUT_URL_TTL_SECS: u64 = 72 * 3600;

fn not_found(message: &str) -> ApiError {
    ApiError::new(404, "NotFound", message)
}

/// The status body of an API prediction (for webhooks; output URLs on `EDGE_URL`).
pub async fn status_body(env: &Env, id: &str) -> ApiResult<Value> {
    let row = store::load(env, id)
        .await?
        .ok_or_else(|| not_found("gone"))?;
    let origin = Config::from_env(env)?.edge_url;
    Ok(status_of(env, &row, &origin, None)
        .await?
        .ok_or_else(|| not_found("not an API prediction"))?
        .0)
}

/// FASHN's status body and, on terminal states, the credits used; None if not an API prediction.
///
/// With `org`, only that organization's predictions are found.
pub async fn status_of(
    env: &Env,
    row: &store::Row,
    origin: &str,
    org: Option<&str>,
) -> ApiResult<Option<(Value, Option<u64>)>> {
    if row.source != "api" || org.is_some_and(|o| row.org_id.as_deref() != Some(o)) {
        return Ok(None);
    }
    let st = row.status();
    let mut body = json!({"id": row.id, "status": row.status, "error": null});
    if let Some(name) = &row.error_name {
        body["error"] =
            json!({"name": name, "message": row.error_message.clone().unwrap_or_default()});
    }
    let outputs = row.outputs();
    // A storefront widget's result after its retention time: deleted, so no URL.
    if row.purged_at.is_some() {
        body["output"] = json!([]);
    } else if st == atelier_core::JobStatus::Completed {
        let mut urls = vec![];
        for o in &outputs {
            let path = format!("/v1/outputs/{}/{}", row.id, o.index);
            if row.return_base64 != 0.0 {
                let obj = env
                    .bucket(bind::BLOBS)?
                    .get(store::output_key(&row.id, o))
                    .execute()
                    .await?;
                let bytes = match obj.as_ref().and_then(|o| o.body()) {
                    Some(b) => b.bytes().await?,
                    None => vec![],
                };
                urls.push(format!(
                    "data:{};base64,{}",
                    o.content_type,
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                ));
            } else {
                // Whole minutes: polls a moment apart get the same URL (72 h less < 1 min).
                let exp = (now_secs() + OUTPUT_URL_TTL_SECS) / 60 * 60;
                let sig = sign::sign_url(&Config::from_env(env)?.job_secret, "GET", &path, exp);
                urls.push(format!("{origin}{path}?exp={exp}&sig={sig}"));
            }
        }
        body["output"] = json!(urls);
    }
    let used = st.is_terminal().then(|| row.credits_used() as u64);
    Ok(Some((body, used)))
}
