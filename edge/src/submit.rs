//! The one way a validated generation starts, for the Studio (`POST /api/generations`) and the
//! Developer API (`POST /v1/run`) alike: [`hold`] the quote → (store the inputs) → [`start`]:
//! record the row and enqueue it. If the row cannot be stored the hold is released; if the
//! queue refuses it the generation fails at once (through `jobs::apply`, which releases the
//! hold). Nothing is charged for a run that did not start.

use atelier_core::job::JobStatus;
use atelier_core::pricing::Surface;
use worker::Env;

use crate::credits;
use crate::http::ApiResult;
use crate::store::generations::{self as store, NewGeneration};

/// Credits held for a generation that is about to start.
#[must_use = "start the generation, or release the hold"]
pub struct Held {
    user_id: String,
    surface: Surface,
    id: String,
}

impl Held {
    /// Gives the credits back (the inputs could not be stored).
    pub async fn release(self, env: &Env) {
        credits::settle(env, &self.user_id, self.surface, &self.id, &[]).await;
    }
}

/// Holds `per_output × outputs` of `user_id`'s `surface` balance for generation `id`;
/// `Err(sentence)` when the balance does not cover it (nothing is held).
pub async fn hold(
    env: &Env,
    user_id: &str,
    surface: Surface,
    id: &str,
    per_output: u32,
    outputs: u32,
) -> ApiResult<Result<Held, String>> {
    Ok(
        credits::hold(env, user_id, surface, id, per_output, outputs)
            .await?
            .map(|()| Held {
                user_id: user_id.into(),
                surface,
                id: id.into(),
            }),
    )
}

/// How a start went.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    /// Recorded and queued.
    Queued,
    /// Recorded, but the queue refused it: the generation has already failed and its hold is
    /// released.
    QueueUnavailable,
}

/// Records the generation (`in_queue`) and queues it; releases the hold if it cannot be stored.
pub async fn start(env: &Env, held: Held, g: NewGeneration<'_>) -> ApiResult<Started> {
    debug_assert_eq!(g.status, JobStatus::InQueue);
    debug_assert_eq!(g.id, held.id);
    if let Err(e) = store::insert(env, &g).await {
        held.release(env).await;
        return Err(e);
    }
    Ok(if crate::jobs::enqueue(env, g.id).await {
        Started::Queued
    } else {
        Started::QueueUnavailable
    })
}
