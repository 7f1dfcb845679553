//! The `atelier-jobs` queue's message: a generation to dispatch to a node, or (with
//! `webhook_attempt`) a webhook delivery of an ended prediction.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub generation_id: String,
    /// Set for a webhook delivery (0 = first try) instead of a dispatch.
    #[serde(default)]
    pub webhook_attempt: Option<u32>,
    /// The generation's `requeues` when this dispatch was sent: a message older than the
    /// generation's last requeue is dropped (the requeue sent its own).
    #[serde(default)]
    pub requeues: u32,
}

impl JobMessage {
    /// A dispatch of `generation_id` as of its `requeues`-th requeue.
    pub fn dispatch(generation_id: &str, requeues: u32) -> JobMessage {
        JobMessage {
            generation_id: generation_id.to_string(),
            webhook_attempt: None,
            requeues,
        }
    }
}
