//! Generations as jobs: the prediction state machine shared with the Developer API, FASHN's
//! runtime error names, and the wire types between the edge and an inference node.

use serde::{Deserialize, Serialize};

use crate::catalog::Resolved;
use crate::tool::Tool;

/// FASHN's prediction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Starting,
    InQueue,
    Processing,
    Completed,
    Failed,
    Canceled,
    TimeOut,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Starting,
        JobStatus::InQueue,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Canceled,
        JobStatus::TimeOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Starting => "starting",
            JobStatus::InQueue => "in_queue",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
            JobStatus::TimeOut => "time_out",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled | JobStatus::TimeOut
        )
    }

    /// Whether a job may move from `self` to `next`. Staying put is allowed for non-terminal
    /// states (progress updates); a terminal state is final.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        if self.is_terminal() {
            return false;
        }
        match (self, next) {
            (Starting, _) => true,
            (InQueue, Starting) => false,
            (InQueue, _) => true,
            (Processing, Starting | InQueue) => false,
            (Processing, _) => true,
            _ => false,
        }
    }
}

/// FASHN's runtime error names, reported in `error.name` of a failed prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorName {
    ImageLoadError,
    ContentModerationError,
    PoseError,
    InputValidationError,
    PipelineError,
    ThirdPartyError,
    /// A third-party provider failed (the newest SDK's fallback name).
    #[serde(rename = "3rdPartyProviderError")]
    ThirdPartyProviderError,
    InternalServerError,
}

impl ErrorName {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::ImageLoadError => "ImageLoadError",
            ErrorName::ContentModerationError => "ContentModerationError",
            ErrorName::PoseError => "PoseError",
            ErrorName::InputValidationError => "InputValidationError",
            ErrorName::PipelineError => "PipelineError",
            ErrorName::ThirdPartyError => "ThirdPartyError",
            ErrorName::ThirdPartyProviderError => "3rdPartyProviderError",
            ErrorName::InternalServerError => "InternalServerError",
        }
    }
}

/// An input the node downloads: through a short-lived signed URL of the edge's, or (when
/// `remote`) from a URL a user gave, which the node fetches under the SSRF rules of
/// [`crate::ssrf`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRef {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
}

/// Where the node uploads output `index` (a short-lived signed PUT URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSlot {
    pub index: u32,
    pub upload_url: String,
}

/// The job an edge sends to an inference node (`POST /v1/jobs`, signed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    pub job_id: String,
    pub tool: Tool,
    /// The tool's options with every Auto resolved (from `catalog::validate`).
    pub options: Resolved,
    pub inputs: Vec<InputRef>,
    pub outputs: Vec<OutputSlot>,
    /// Where the node posts [`JobEvent`]s (signed).
    pub callback_url: String,
    /// Delivery attempt, from 1.
    pub attempt: u32,
    /// How image outputs are encoded.
    #[serde(default)]
    pub output_format: crate::catalog::OutputFormat,
    /// The user's prompt, for tools that take one (style, motion…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// An output the node uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRef {
    pub index: u32,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// What a node reports about a job (`POST <callback_url>`, signed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobEvent {
    Processing {
        job_id: String,
        /// 0.0 ..= 1.0
        progress: f32,
        stage: String,
    },
    Completed {
        job_id: String,
        outputs: Vec<OutputRef>,
        /// Milliseconds the node spent on the job.
        run_ms: u64,
        engine: String,
    },
    Failed {
        job_id: String,
        error: ErrorName,
        message: String,
    },
}

impl JobEvent {
    pub fn job_id(&self) -> &str {
        match self {
            JobEvent::Processing { job_id, .. }
            | JobEvent::Completed { job_id, .. }
            | JobEvent::Failed { job_id, .. } => job_id,
        }
    }

    pub fn status(&self) -> JobStatus {
        match self {
            JobEvent::Processing { .. } => JobStatus::Processing,
            JobEvent::Completed { .. } => JobStatus::Completed,
            JobEvent::Failed { .. } => JobStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn terminal_states_are_final() {
        for a in JobStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for b in JobStatus::ALL {
                assert!(!a.can_become(b), "{a:?} -> {b:?}");
            }
        }
    }

    #[test]
    fn forward_only() {
        assert!(JobStatus::Starting.can_become(JobStatus::InQueue));
        assert!(JobStatus::InQueue.can_become(JobStatus::Processing));
        assert!(JobStatus::Processing.can_become(JobStatus::Processing));
        assert!(JobStatus::Processing.can_become(JobStatus::Completed));
        assert!(!JobStatus::Processing.can_become(JobStatus::InQueue));
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn event_wire_shape() {
        let e = JobEvent::Failed {
            job_id: "j".into(),
            error: ErrorName::ImageLoadError,
            message: "m".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "failed");
        assert_eq!(v["error"], "ImageLoadError");
        assert_eq!(e.status(), JobStatus::Failed);
        let names = [
            ErrorName::ImageLoadError,
            ErrorName::ContentModerationError,
            ErrorName::PoseError,
            ErrorName::InputValidationError,
            ErrorName::PipelineError,
            ErrorName::ThirdPartyError,
            ErrorName::ThirdPartyProviderError,
            ErrorName::InternalServerError,
        ];
        for n in names {
            assert_eq!(serde_json::to_value(n).unwrap(), n.as_str());
        }
    }
}
