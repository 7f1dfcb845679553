//! Fixed-window rate limits for the Developer API, per key and route, counted in D1.
//!
//! The limits are the contract's (`/v1/run` 50 per 60 s, `/v1/status` 50 per 10 s, `/v1/credits`
//! 30 per 10 s) times the key's `rate_limit_scale`. Over the limit: 429 `RateLimitExceeded`
//! with `Retry-After` (seconds to the next window), which the SDKs obey.

use worker::Env;

use crate::bind;
use crate::http::{now_secs, ApiError, ApiResult};

#[derive(Debug, Clone, Copy)]
pub enum Route {
    Run,
    Status,
    Credits,
}

impl Route {
    /// (requests, window seconds)
    pub fn limit(self) -> (u32, u64) {
        match self {
            Route::Run => (50, 60),
            Route::Status => (50, 10),
            Route::Credits => (30, 10),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Route::Run => "run",
            Route::Status => "status",
            Route::Credits => "credits",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Route::Run => "/v1/run",
            Route::Status => "/v1/status",
            Route::Credits => "/v1/credits",
        }
    }
}

/// Counts one request of `key_id` on `route`; Err(429) when over the limit.
pub async fn check(env: &Env, key_id: &str, route: Route, scale: f64) -> ApiResult<()> {
    let (base, window_secs) = route.limit();
    let limit = ((base as f64) * scale.max(0.0)).ceil() as u64;
    let now = now_secs();
    let window = now / window_secs;
    let counter = format!("{key_id}:{}", route.name());
    let db = env.d1(bind::DB)?;
    let count: f64 = db
        .prepare(
            "INSERT INTO rate_windows (key, window, count) VALUES (?1, ?2, 1) \
             ON CONFLICT (key, window) DO UPDATE SET count = count + 1 RETURNING count",
        )
        .bind(&[counter.clone().into(), (window as f64).into()])?
        .first(Some("count"))
        .await?
        .unwrap_or(1.0);
    if count <= 1.0 {
        // A new window: drop this counter's old ones.
        db.prepare("DELETE FROM rate_windows WHERE key = ?1 AND window < ?2")
            .bind(&[counter.into(), (window as f64).into()])?
            .run()
            .await?;
    }
    if count as u64 > limit {
        let retry = (window + 1) * window_secs - now;
        return Err(ApiError::new(
            429,
            "RateLimitExceeded",
            format!(
                "Rate limit exceeded: {limit} requests per {window_secs} s on {} for this key; retry in {retry} s.",
                route.path()
            ),
        )
        .with_header("Retry-After", retry.max(1).to_string()));
    }
    Ok(())
}
