//! The `atelier-jobs` queue's message: a generation to dispatch to a node, or (with
//! `webhook_attempt`) a webhook delivery of an ended prediction.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub generation_id: String,
    /// Set for a webhook delivery (0 = first try) instead of a dispatch.
    #[serde(default)]
    pub webhook_attempt: Option<u32>,
}
