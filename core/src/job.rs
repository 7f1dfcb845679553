//! Generations as jobs: the prediction state machine shared with the Developer API, FASHN's
//! runtime error names, and the wire types between the edge and an inference node (the job with
//! its `Resolved` options, events, the node's capabilities, where outputs are stored).

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

    /// Waiting for a node.
    pub const WAITING: [JobStatus; 2] = [JobStatus::Starting, JobStatus::InQueue];
    /// Not ended: waiting or running (what counts against concurrency limits).
    pub const ACTIVE: [JobStatus; 3] = [
        JobStatus::Starting,
        JobStatus::InQueue,
        JobStatus::Processing,
    ];

    /// States as an SQL list, `('starting', 'in_queue')` (the names are fixed ASCII words).
    pub fn sql_list(states: &[JobStatus]) -> String {
        let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        format!("({})", names.join(", "))
    }

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

/// Marks a `/v1/run` that an Atelier node's upstream engine sent (the loop guard: such a run
/// is never forwarded again).
pub const FORWARDED_HEADER: &str = "x-atelier-forwarded";

/// The media type of a tool's outputs: `video/mp4` for Image to Video, else the image format
/// asked for (PNG unless the API asked for JPEG).
pub fn output_mime(tool: Tool, format: crate::catalog::OutputFormat) -> &'static str {
    match tool {
        Tool::ImageToVideo => "video/mp4",
        _ => format.mime(),
    }
}

/// The file extension of an output's media type (`bin` for one this product never stores).
pub fn extension(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// Where output `index` of a generation is stored: `outputs/<id>/<index>.<ext>`, its real
/// extension. The node's signed upload URL names it; the edge refuses an upload whose bytes
/// are not of that type.
pub fn output_key(generation_id: &str, index: u32, mime: &str) -> String {
    format!("outputs/{generation_id}/{index}.{}", extension(mime))
}

/// Where output `index`'s thumbnail is stored (always WebP), next to the output.
pub fn thumb_key(generation_id: &str, index: u32) -> String {
    format!("outputs/{generation_id}/{index}.thumb.webp")
}

/// What a node can run (`GET /v1/capabilities`): the only answer to "can this tool run here,
/// and up to what". The edge reads it through one client; the app through `/api/capabilities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub version: String,
    pub tools: Vec<ToolCapability>,
    #[serde(default)]
    pub limits: serde_json::Value,
    #[serde(default)]
    pub concurrency: usize,
    /// Jobs the node has accepted and not finished (running or waiting for a slot): with
    /// `concurrency`, its free capacity (`concurrency - running`, below 0 when it has a backlog).
    #[serde(default)]
    pub running: usize,
}

/// One tool on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCapability {
    pub tool: Tool,
    pub available: bool,
    /// The engine's name, when available.
    pub engine: Option<String>,
    /// Why it cannot run, when not available.
    pub reason: Option<String>,
    /// Run by the node's upstream engine (another FASHN-compatible API), not its own.
    #[serde(default)]
    pub upstream: bool,
    /// The largest resolution tier it delivers (None: no tiers, or the input's own size).
    #[serde(default)]
    pub max_resolution: Option<crate::pricing::Resolution>,
    #[serde(default)]
    pub max_video_resolution: Option<crate::pricing::VideoResolution>,
    #[serde(default)]
    pub max_outputs: Option<u8>,
    /// The job inputs its engine reads (None: every input the tool takes).
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
}

impl ToolCapability {
    /// What this engine would not deliver of a resolved request whose job inputs are `given`
    /// (`image`, `image_context`, …): a resolution tier above its own, more outputs than it makes,
    /// an input it does not read. The run is refused up front with these (catalog paths, see
    /// `catalog::studio_path`), so nothing is ever charged at a tier, or for an input, that the
    /// engine would not honour.
    pub fn undeliverable(&self, r: &Resolved, given: &[&str]) -> Vec<crate::tool::FieldError> {
        use crate::tool::FieldError;
        let mut e = vec![];
        let engine = if self.upstream {
            "the upstream engine"
        } else {
            "this installation's engine"
        };
        if let (Some(max), Some(res)) = (self.max_resolution, r.resolution()) {
            if res > max {
                e.push(FieldError::new(
                    "resolution",
                    "not_deliverable",
                    format!(
                        "{} here delivers up to {} ({engine}); choose {} or lower.",
                        self.tool.label(),
                        max.label(),
                        max.label()
                    ),
                ));
            }
        }
        if let (Some(max), crate::catalog::Options::ImageToVideo(v)) =
            (self.max_video_resolution, &r.options)
        {
            if v.resolution > max {
                e.push(FieldError::new(
                    "video_resolution",
                    "not_deliverable",
                    format!(
                        "Videos here go up to {} ({engine}); choose {} or lower.",
                        max.label(),
                        max.label()
                    ),
                ));
            }
        }
        if let Some(max) = self.max_outputs {
            if r.outputs > max {
                e.push(FieldError::new(
                    "num_outputs",
                    "not_deliverable",
                    format!(
                        "{} here makes at most {max} outputs per run.",
                        self.tool.label()
                    ),
                ));
            }
        }
        if let Some(reads) = &self.inputs {
            for g in given {
                if !reads.iter().any(|r| r == g) {
                    e.push(FieldError::new(
                        &format!("inputs.{g}"),
                        "not_used",
                        format!(
                            "{} here ({engine}) does not use the {}; remove it to run.",
                            self.tool.label(),
                            g.replace('_', " ")
                        ),
                    ));
                }
            }
        }
        e
    }
}

impl Capabilities {
    pub fn tool(&self, tool: Tool) -> Option<&ToolCapability> {
        self.tools.iter().find(|t| t.tool == tool)
    }

    pub fn available(&self, tool: Tool) -> bool {
        self.tool(tool).is_some_and(|t| t.available)
    }

    /// Whether the node runs `tool` on an engine of its own (not forwarded upstream).
    pub fn local(&self, tool: Tool) -> bool {
        self.tool(tool).is_some_and(|t| t.available && !t.upstream)
    }

    /// Free capacity: slots minus accepted jobs (negative with a backlog).
    pub fn free(&self) -> i64 {
        self.concurrency as i64 - self.running as i64
    }

    /// What several nodes (or node classes) offer together, as one answer for the app and the
    /// API's checks: a tool is available when one node runs it, and is described by the node
    /// that runs it best (its own engine before an upstream one, then the higher resolution
    /// tier and the more outputs); a tool no node runs keeps the first node's reason. Limits
    /// and version are the first reachable node's; concurrency and running are summed. None
    /// when no node answered.
    pub fn merge(nodes: &[Option<Capabilities>]) -> Option<Capabilities> {
        let reachable: Vec<&Capabilities> = nodes.iter().flatten().collect();
        let first = *reachable.first()?;
        let rank = |t: &ToolCapability| {
            (
                t.available,
                !t.upstream,
                t.max_resolution,
                t.max_video_resolution,
                t.max_outputs,
            )
        };
        let tools = first
            .tools
            .iter()
            .map(|t0| {
                reachable
                    .iter()
                    .filter_map(|c| c.tool(t0.tool))
                    .fold(t0, |best, t| if rank(t) > rank(best) { t } else { best })
                    .clone()
            })
            .collect();
        Some(Capabilities {
            version: first.version.clone(),
            tools,
            limits: first.limits.clone(),
            concurrency: reachable.iter().map(|c| c.concurrency).sum(),
            running: reachable.iter().map(|c| c.running).sum(),
        })
    }
}

/// The order in which an edge offers a job for `tool` to its nodes, given what each answered
/// (None: not reachable just now): the nodes that run it (`deliverable` says whether this
/// node's engine would honour the job's options), the freest first and, between equals, in the
/// configured order turned to start at `rotate % n` (the edge passes a changing number, so equal
/// nodes share the jobs instead of the first taking them all); then the unreachable ones, which
/// may be back. A node that answered and
/// does not run the tool, or would not deliver the job, is never offered it (generative tools
/// go only to the GPU nodes that have their engine).
pub fn dispatch_order(
    nodes: &[Option<Capabilities>],
    tool: Tool,
    rotate: usize,
    deliverable: impl Fn(&ToolCapability) -> bool,
) -> Vec<usize> {
    let n = nodes.len().max(1);
    let turn = |i: usize| (i + n - rotate % n) % n;
    let mut able: Vec<(usize, i64)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let c = c.as_ref()?;
            let t = c.tool(tool).filter(|t| t.available && deliverable(t))?;
            // Its own engine before an upstream one (which costs a second hop and money).
            let own = if t.upstream { 0 } else { 1 << 32 };
            Some((i, own + c.free()))
        })
        .collect();
    able.sort_by_key(|&(i, score)| (std::cmp::Reverse(score), turn(i)));
    able.into_iter()
        .map(|(i, _)| i)
        .chain(
            nodes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_none())
                .map(|(i, _)| i),
        )
        .collect()
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
    /// Where the node uploads the output's thumbnail (a WebP of at most
    /// [`crate::gallery::THUMB_SIDE`] px a side), for image outputs; None: make none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
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
    /// Whether its thumbnail was uploaded too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumb: bool,
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

    /// A node that runs `tools` (an upstream one for those in `upstream`), with `free` slots.
    fn node(tools: &[Tool], upstream: &[Tool], concurrency: usize, running: usize) -> Capabilities {
        Capabilities {
            version: "t".into(),
            tools: Tool::ALL
                .iter()
                .map(|t| ToolCapability {
                    tool: *t,
                    available: tools.contains(t) || upstream.contains(t),
                    engine: Some("e".into()),
                    reason: (!tools.contains(t) && !upstream.contains(t)).then(|| "none".into()),
                    upstream: upstream.contains(t) && !tools.contains(t),
                    max_resolution: None,
                    max_video_resolution: None,
                    max_outputs: Some(1),
                    inputs: None,
                })
                .collect(),
            limits: serde_json::Value::Null,
            concurrency,
            running,
        }
    }

    #[test]
    fn jobs_go_only_to_nodes_that_run_the_tool_freest_first() {
        let cpu = node(&[Tool::BackgroundRemove], &[], 2, 0);
        let gpu = node(&[Tool::BackgroundRemove, Tool::TryOn], &[], 1, 0);
        let busy_gpu = node(&[Tool::BackgroundRemove, Tool::TryOn], &[], 1, 3);
        let nodes = [Some(cpu.clone()), None, Some(gpu.clone()), Some(busy_gpu)];
        let any = |_: &ToolCapability| true;
        // Try-On only on GPU nodes, the idle one first; the unreachable one last (may be back).
        assert_eq!(dispatch_order(&nodes, Tool::TryOn, 0, any), vec![2, 3, 1]);
        // Background Remove anywhere: the freest first (2 free, 1 free, 3 behind).
        assert_eq!(
            dispatch_order(&nodes, Tool::BackgroundRemove, 0, any),
            vec![0, 2, 3, 1]
        );
        // Equals keep the configured order, turned by `rotate`; the freer still comes first.
        let two = [Some(cpu.clone()), Some(cpu.clone())];
        assert_eq!(
            dispatch_order(&two, Tool::BackgroundRemove, 0, any),
            vec![0, 1]
        );
        assert_eq!(
            dispatch_order(&two, Tool::BackgroundRemove, 7, any),
            vec![1, 0]
        );
        let three = [Some(cpu.clone()), Some(cpu.clone()), Some(cpu.clone())];
        assert_eq!(
            dispatch_order(&three, Tool::BackgroundRemove, 5, any),
            vec![2, 0, 1]
        );
        assert_eq!(
            dispatch_order(&nodes, Tool::BackgroundRemove, 3, any),
            vec![0, 2, 3, 1]
        );
        // A node that would not deliver the job's options is never offered it.
        assert_eq!(
            dispatch_order(&nodes, Tool::TryOn, 1, |t| t.max_outputs == Some(4)),
            vec![1]
        );
        // A tool no node runs: only the unreachable ones.
        assert_eq!(dispatch_order(&nodes, Tool::ImageToVideo, 2, any), vec![1]);
        // Its own engine before an upstream one, however busy.
        let forwarding = node(&[], &[Tool::TryOn], 8, 0);
        assert_eq!(
            dispatch_order(
                &[Some(forwarding), Some(node(&[Tool::TryOn], &[], 1, 1))],
                Tool::TryOn,
                1,
                any
            ),
            vec![1, 0]
        );
    }

    #[test]
    fn several_nodes_answer_as_one() {
        assert_eq!(Capabilities::merge(&[None, None]), None);
        let cpu = node(&[Tool::BackgroundRemove], &[], 2, 1);
        let gpu = node(&[Tool::BackgroundRemove, Tool::TryOn], &[], 1, 0);
        let m = Capabilities::merge(&[Some(cpu.clone()), None, Some(gpu)]).unwrap();
        assert!(m.available(Tool::TryOn) && m.local(Tool::TryOn));
        assert!(m.available(Tool::BackgroundRemove));
        assert!(!m.available(Tool::ImageToVideo));
        assert_eq!(
            m.tool(Tool::ImageToVideo).unwrap().reason.as_deref(),
            Some("none")
        );
        assert_eq!((m.concurrency, m.running), (3, 1));
        // An own engine describes the tool rather than an upstream one.
        let fwd = node(&[], &[Tool::TryOn], 1, 0);
        let m = Capabilities::merge(&[Some(fwd), Some(node(&[Tool::TryOn], &[], 1, 0))]).unwrap();
        assert!(m.local(Tool::TryOn));
        // One node: itself.
        assert_eq!(Capabilities::merge(&[Some(cpu.clone())]), Some(cpu));
    }

    #[test]
    fn an_engine_refuses_what_it_would_not_deliver() {
        use crate::catalog::{resolve_api, Context};
        use crate::pricing::{Resolution, Surface};
        let ctx = Context {
            surface: Surface::Api,
            plan: None,
        };
        let inputs = |v: serde_json::Value| v.as_object().unwrap().clone();
        let cap = ToolCapability {
            tool: Tool::TryOn,
            available: true,
            engine: Some("tryon-2d".into()),
            reason: None,
            upstream: false,
            max_resolution: Some(Resolution::K2),
            max_video_resolution: None,
            max_outputs: Some(2),
            inputs: Some(vec!["image".into(), "product_image".into()]),
        };
        let (_, r4k) = resolve_api(
            "tryon-max",
            &inputs(serde_json::json!({"model_image": "https://127.0.0.1/a.jpg", "product_image": "https://127.0.0.1/b.jpg", "resolution": "4k", "num_images": 4})),
            ctx,
        )
        .unwrap();
        let e = cap.undeliverable(&r4k, &["image", "product_image", "face_reference"]);
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["resolution", "num_outputs", "inputs.face_reference"]
        );
        assert!(e[0].message.contains("up to 2K"), "{}", e[0].message);
        let (_, r2k) = resolve_api(
            "tryon-max",
            &inputs(serde_json::json!({"model_image": "https://127.0.0.1/a.jpg", "product_image": "https://127.0.0.1/b.jpg", "resolution": "2k"})),
            ctx,
        )
        .unwrap();
        assert!(cap
            .undeliverable(&r2k, &["image", "product_image"])
            .is_empty());
        let open = ToolCapability {
            max_resolution: None,
            max_outputs: None,
            inputs: None,
            ..cap
        };
        assert!(
            open.undeliverable(&r4k, &["image", "face_reference"])
                .is_empty(),
            "no limits declared: nothing refused"
        );
    }

    #[test]
    fn active_and_waiting_states_are_the_non_terminal_ones() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::ACTIVE.contains(&s), !s.is_terminal(), "{s:?}");
        }
        assert!(JobStatus::WAITING
            .iter()
            .all(|s| JobStatus::ACTIVE.contains(s)));
        assert_eq!(
            JobStatus::sql_list(&JobStatus::WAITING),
            "('starting', 'in_queue')"
        );
    }

    #[test]
    fn every_output_is_stored_and_named_with_its_real_extension() {
        use crate::catalog::OutputFormat;
        for tool in Tool::ALL {
            for format in [OutputFormat::Png, OutputFormat::Jpeg] {
                let mime = output_mime(tool, format);
                let key = output_key("g1", 2, mime);
                let name = crate::export::download_name(tool.id(), "g1abcdef99", 2, mime);
                let ext = match (tool, format) {
                    (Tool::ImageToVideo, _) => "mp4",
                    (_, OutputFormat::Png) => "png",
                    (_, OutputFormat::Jpeg) => "jpg",
                };
                assert_eq!(key, format!("outputs/g1/2.{ext}"), "{tool:?}");
                assert!(name.ends_with(&format!("-2.{ext}")), "{name}");
            }
        }
        assert_eq!(
            crate::export::download_name("image-to-video", "abcdef123456", 0, "video/mp4"),
            "atelier-image-to-video-abcdef12-0.mp4"
        );
        assert_eq!(extension("image/webp"), "webp");
        assert_eq!(extension("application/x-evil"), "bin");
    }
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
