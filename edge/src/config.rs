//! The Worker's configuration, read from its `Env` in one place: the job secret shared with
//! inference nodes, where nodes are reached and where they reach the edge back, whether this
//! is a local instance (`LOCAL_INSTANCE`, off unless `cargo xtask` starts the instance), how
//! long a silent job lives, the Assistant's optional language model and Stripe. Nothing else
//! reads variables or secrets.

use worker::Env;

use crate::bind;

/// A job that has not moved for this long is reported as timed out.
pub const STALE_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct Config {
    pub job_secret: Vec<u8>,
    /// The inference nodes (`INFERENCE_URL`, comma-separated), without trailing slashes: in a
    /// real cluster one address per node class (a load balancer or Kubernetes Service in front
    /// of that class's nodes), see ARCHITECTURE.md.
    pub inference_urls: Vec<String>,
    /// This edge as nodes reach it, without a trailing slash.
    pub edge_url: String,
    /// A local instance (dev, tests): admin commands may choose key values, webhooks may go to
    /// loopback. Off unless set to "true".
    pub local_instance: bool,
    /// How long a job may go without news before it counts as lost (`JOB_STALE_SECS`).
    pub stale_ms: u64,
    /// An OpenAI-compatible chat endpoint the Assistant consults when its planner is unsure
    /// (`ASSISTANT_LLM_URL`, e.g. `http://llm.internal:8000/v1`; `ASSISTANT_LLM_MODEL`; the
    /// secret `ASSISTANT_LLM_KEY`, sent as a Bearer token). None: the planner alone.
    pub assistant_llm: Option<LanguageModel>,
    /// Stripe (`STRIPE_SECRET_KEY`: purchases go through Checkout and the Billing Portal;
    /// `STRIPE_WEBHOOK_SECRET`: `/api/webhooks/stripe` is accepted; `STRIPE_API_BASE`, default
    /// `https://api.stripe.com`). Without a secret key a local instance uses the local provider.
    pub stripe: Stripe,
}

#[derive(Debug, Clone, Default)]
pub struct Stripe {
    pub secret_key: Option<String>,
    pub webhook_secret: Option<String>,
    pub api_base: String,
}

#[derive(Debug, Clone)]
pub struct LanguageModel {
    /// The API base, without a trailing slash (`…/v1`); requests go to `{url}/chat/completions`.
    pub url: String,
    pub model: String,
    pub key: Option<String>,
}

/// An operator setting: the var or secret `name`, trimmed; None when unset or empty.
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Config {
    pub fn from_env(env: &Env) -> worker::Result<Config> {
        let var = |name: &str| env.var(name).map(|v| v.to_string()).ok();
        let secret = |name: &str| {
            env.secret(name)
                .ok()
                .map(|k| k.to_string())
                .or_else(|| var(name))
                .filter(|k| !k.trim().is_empty())
        };
        Ok(Config {
            stripe: Stripe {
                secret_key: secret("STRIPE_SECRET_KEY"),
                webhook_secret: secret("STRIPE_WEBHOOK_SECRET"),
                api_base: var("STRIPE_API_BASE")
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| "https://api.stripe.com".into())
                    .trim_end_matches('/')
                    .to_string(),
            },
            job_secret: env.secret(bind::JOB_SECRET)?.to_string().into_bytes(),
            inference_urls: Some(
                var(bind::INFERENCE_URL)
                    .unwrap_or_default()
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_string())
                    .filter(|u| !u.is_empty())
                    .collect::<Vec<_>>(),
            )
            .filter(|l| !l.is_empty())
            .ok_or_else(|| worker::Error::RustError("INFERENCE_URL is not set".into()))?,
            edge_url: var(bind::EDGE_URL)
                .ok_or_else(|| worker::Error::RustError("EDGE_URL is not set".into()))?
                .trim_end_matches('/')
                .to_string(),
            local_instance: var(bind::LOCAL_INSTANCE).is_some_and(|v| v == "true"),
            stale_ms: var(bind::JOB_STALE_SECS)
                .and_then(|v| v.parse::<u64>().ok())
                .map(|s| s.max(5) * 1000)
                .unwrap_or(STALE_MS),
            assistant_llm: var("ASSISTANT_LLM_URL")
                .filter(|u| !u.trim().is_empty())
                .map(|url| LanguageModel {
                    url: url.trim().trim_end_matches('/').to_string(),
                    model: var("ASSISTANT_LLM_MODEL")
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "default".into()),
                    key: env
                        .secret("ASSISTANT_LLM_KEY")
                        .ok()
                        .map(|k| k.to_string())
                        .or_else(|| var("ASSISTANT_LLM_KEY"))
                        .filter(|k| !k.is_empty()),
                }),
        })
    }
}
