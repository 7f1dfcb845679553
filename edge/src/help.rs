//! `GET /api/help`: where users get help and the legal pages, as the operator configured them
//! (`wrangler.toml` vars; each defaults to something at this installation itself).

use serde_json::json;
use worker::{Env, Request, Response};

use crate::http::{json, ApiResult};

/// A setting, or `default` when unset or empty.
fn var(env: &Env, name: &str, default: String) -> String {
    crate::config::setting(env, name).unwrap_or(default)
}

pub async fn get(req: &Request, env: &Env) -> ApiResult<Response> {
    crate::auth::require_user(req, env).await?;
    let url = req.url()?;
    let origin = url.origin().ascii_serialization();
    let host = url.host_str().unwrap_or("localhost").to_string();
    let support = var(env, "SUPPORT_EMAIL", format!("support@{host}"));
    json(
        200,
        &json!({
            "chat_url": var(env, "SUPPORT_CHAT_URL", format!("mailto:{support}")),
            "community_url": var(env, "COMMUNITY_URL", format!("{origin}/help#community")),
            "support_email": support,
            "billing_email": var(env, "BILLING_EMAIL", format!("billing@{host}")),
            "legal_email": var(env, "LEGAL_EMAIL", format!("legal@{host}")),
            "privacy_url": var(env, "PRIVACY_URL", format!("{origin}/help#privacy")),
            "terms_url": var(env, "TERMS_URL", format!("{origin}/help#terms")),
        }),
    )
}
