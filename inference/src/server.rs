//! The node's HTTP surface: `POST /v1/jobs` (signed; checked against the engine registry in
//! `engines.rs`), `GET /v1/capabilities` (from the same registry and the upstream engine),
//! `POST /v1/jobs/{id}/cancel`, `POST /v1/export`, `GET /metrics`, `GET /healthz`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use atelier_core::catalog::OutputFormat;
use atelier_core::image::UploadLimits;
use atelier_core::job::{Capabilities, JobEvent, JobRequest, OutputRef, ToolCapability};
use atelier_core::pricing::Resolution;
use atelier_core::sign::{self, SignError, REPLAY_WINDOW_SECS};
use atelier_core::{ErrorName, Tool};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::bgremove::BackgroundRemover;
use crate::decode::decode;
use crate::engines::{Engine, Produced, NO_ENGINE};

/// How a node is configured (from the environment in `main`).
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub secret: Vec<u8>,
    pub models_dir: PathBuf,
    /// Jobs run at once; further jobs wait their turn.
    pub concurrency: usize,
    pub limits: UploadLimits,
    /// ONNX Runtime's shared library; None runs the networks on tract.
    pub ort_lib: Option<PathBuf>,
}

/// The ONNX Runtime library `cargo xtask` puts beside the models.
pub const ORT_LIB_FILE: &str = "libonnxruntime.so.1.32.0";

impl Config {
    /// `ATELIER_ORT_LIB`, else the library in the models folder if it is there;
    /// `ATELIER_RUNTIME=tract` forces tract.
    pub fn ort_lib_from_env(models_dir: &std::path::Path) -> Option<PathBuf> {
        if std::env::var("ATELIER_RUNTIME").is_ok_and(|v| v == "tract") {
            return None;
        }
        std::env::var("ATELIER_ORT_LIB")
            .ok()
            .map(PathBuf::from)
            .or_else(|| Some(models_dir.join(ORT_LIB_FILE)))
            .filter(|p| p.exists())
    }
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let secret = std::env::var("ATELIER_JOB_SECRET").map_err(|_| {
            "ATELIER_JOB_SECRET is not set: the node must share the edge's job secret".to_string()
        })?;
        if secret.len() < 16 {
            return Err("ATELIER_JOB_SECRET must be at least 16 characters".into());
        }
        let addr =
            std::env::var("ATELIER_INFERENCE_ADDR").unwrap_or_else(|_| "127.0.0.1:8790".into());
        let models_dir = std::env::var("ATELIER_MODELS_DIR").map_err(|_| {
            "ATELIER_MODELS_DIR is not set: point it at the folder holding u2netp.onnx".to_string()
        })?;
        let concurrency = std::env::var("ATELIER_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        let models_dir: PathBuf = models_dir.into();
        Ok(Config {
            ort_lib: Config::ort_lib_from_env(&models_dir),
            addr: addr
                .parse()
                .map_err(|e| format!("ATELIER_INFERENCE_ADDR {addr:?}: {e}"))?,
            secret: secret.into_bytes(),
            models_dir,
            concurrency,
            limits: UploadLimits::DEFAULT,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum JobState {
    /// Running; events go to this callback URL.
    Running {
        callback_url: String,
    },
    Done,
    /// Canceled by the edge: it is not started, or its outputs are not uploaded.
    Canceled,
}

/// Shared state of a node.
pub struct Node {
    config: Config,
    bg: BackgroundRemover,
    /// The generative Try-On engine, when built in and its weights are installed.
    vton: Option<Arc<crate::engines::Vton>>,
    /// The FASHN-compatible API generative tools go to (`ATELIER_UPSTREAM_*`), if configured.
    upstream: Option<crate::upstream::Upstream>,
    http: reqwest::Client,
    /// For URLs users gave (SSRF-checked); `http` is for the edge's signed URLs only.
    fetcher: crate::fetch::Fetcher,
    slots: Semaphore,
    /// Signatures accepted inside the replay window, with their timestamps.
    seen: Mutex<HashMap<String, u64>>,
    /// Jobs this node has accepted: a redelivered job id is not run twice.
    jobs: Mutex<HashMap<String, JobState>>,
    pub metrics: crate::metrics::Metrics,
    /// Set by [`Node::drain`]: new jobs are refused with 503 (the edge retries them elsewhere).
    draining: std::sync::atomic::AtomicBool,
    /// Signalled whenever a job finishes.
    finished: tokio::sync::Notify,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    pub fn new(config: Config) -> Result<Arc<Node>, String> {
        let path = config.models_dir.join("u2netp.onnx");
        let bg = match &config.ort_lib {
            Some(lib) => BackgroundRemover::load_ort(&path, lib),
            None => BackgroundRemover::load(&path),
        }
        .map_err(|e| e.to_string())?;
        tracing::info!(runtime = bg.runtime(), "segmentation model loaded");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let fetcher = crate::fetch::Fetcher::with_reach(
            crate::fetch::public_only(),
            crate::fetch::Limits {
                max_bytes: config.limits.max_bytes,
                ..Default::default()
            },
            crate::fetch::loopback_only_from_env(),
        )?;
        let vton = crate::engines::installed_vton(&config.models_dir);
        let local: Vec<Tool> = Tool::ALL
            .into_iter()
            .filter(|t| crate::engines::local(*t, &bg, vton.as_deref()).is_some())
            .collect();
        let upstream = crate::upstream::Upstream::from_env(&local)?;
        if let Some(u) = &upstream {
            tracing::info!(engine = %u.label(Tool::ProductToModel), "upstream engine configured");
        }
        Ok(Arc::new(Node {
            upstream,
            fetcher,
            slots: Semaphore::new(config.concurrency.max(1)),
            config,
            bg,
            vton,
            http,
            seen: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            metrics: crate::metrics::Metrics::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            finished: tokio::sync::Notify::new(),
        }))
    }

    fn is_canceled(&self, id: &str) -> bool {
        matches!(
            self.jobs.lock().expect("jobs lock").get(id),
            Some(JobState::Canceled)
        )
    }

    fn running_jobs(&self) -> Vec<(String, String)> {
        self.jobs
            .lock()
            .expect("jobs lock")
            .iter()
            .filter_map(|(id, s)| match s {
                JobState::Running { callback_url } => Some((id.clone(), callback_url.clone())),
                JobState::Done | JobState::Canceled => None,
            })
            .collect()
    }

    /// Graceful shutdown: refuse new jobs (503, so the edge's queue retries them), let running
    /// jobs finish until `deadline`, then report those still running as failed — the edge
    /// releases their credits — so none is left hanging. Returns how many were handed back.
    pub async fn drain(self: &Arc<Self>, deadline: Duration) -> usize {
        use std::sync::atomic::Ordering;
        self.draining.store(true, Ordering::SeqCst);
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.finished.notified();
            if self.running_jobs().is_empty() {
                return 0;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                break;
            }
        }
        let left = self.running_jobs();
        for (id, callback) in &left {
            tracing::warn!(job_id = %id, "handing back an unfinished job at shutdown");
            let event = JobEvent::Failed {
                job_id: id.clone(),
                error: ErrorName::InternalServerError,
                message: "The inference node shut down before the job finished; nothing was charged. Run it again.".into(),
            };
            send_event(self, callback, &event).await;
            self.jobs
                .lock()
                .expect("jobs lock")
                .insert(id.clone(), JobState::Done);
            self.metrics.finished("unknown", "handed_back");
        }
        left.len()
    }

    fn check_signature(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), SignError> {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let now = now_secs();
        sign::verify_request(
            &self.config.secret,
            "POST",
            path,
            h(sign::TIMESTAMP_HEADER),
            h(sign::SIGNATURE_HEADER),
            body,
            now,
        )?;
        let sig = h(sign::SIGNATURE_HEADER)
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let mut seen = self.seen.lock().expect("seen lock");
        seen.retain(|_, ts| now.abs_diff(*ts) <= REPLAY_WINDOW_SECS * 2);
        if seen.insert(sig, now).is_some() {
            return Err(SignError::Replayed);
        }
        Ok(())
    }
}

impl Node {
    /// Whether a job for `tool` goes to the upstream engine (configured tools take precedence
    /// over this node's own engines).
    fn upstream_for(&self, tool: Tool) -> Option<&crate::upstream::Upstream> {
        self.upstream.as_ref().filter(|u| u.serves(tool))
    }

    /// The tool's engine here: the upstream's (by the tool's spec), else this node's own.
    fn engine(&self, tool: Tool) -> Option<Engine> {
        match self.upstream_for(tool) {
            Some(u) => {
                let sp = atelier_core::catalog::spec(tool);
                Some(Engine {
                    name: u.label(tool),
                    stage: "upstream",
                    max_resolution: sp.resolutions.then_some(Resolution::K4),
                    max_video_resolution: (sp.pricing == atelier_core::catalog::Pricing::Video)
                        .then_some(atelier_core::pricing::VideoResolution::P1080),
                    max_outputs: sp.max_outputs,
                    inputs: &[],
                })
            }
            None => crate::engines::local(tool, &self.bg, self.vton.as_deref()),
        }
    }

    fn available(&self, tool: Tool) -> bool {
        self.engine(tool).is_some()
    }
}

/// The node's routes.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/capabilities", get(capabilities))
        .route("/v1/jobs", post(submit))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route("/v1/export", post(export))
        .route("/v1/analyze", post(analyze))
        .route("/metrics", get(metrics))
        .with_state(node)
}

/// `POST /v1/export` (signed) `{source_url, format, quality}`: Export for Web. The image at
/// `source_url` (a signed edge URL) re-encoded; the bytes come back with `X-Image-Width` and
/// `X-Image-Height`.
async fn export(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = node.check_signature("/v1/export", &headers, &body) {
        node.metrics.refuse("bad_signature");
        return problem(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            format!("Refused: {e}."),
        );
    }
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("The export request is not valid JSON: {e}."),
            )
        }
    };
    let spec = match atelier_core::export::parse_export(&v) {
        Ok(s) => s,
        Err(errors) => {
            let message = atelier_core::tool::messages(&errors);
            return problem(StatusCode::BAD_REQUEST, "invalid_export", message);
        }
    };
    let Some(url) = v["source_url"].as_str() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "source_url is required.".into(),
        );
    };
    let limits = node.config.limits;
    let bytes = match signed_get(&node, url, limits.max_bytes).await {
        Ok(b) => b,
        Err(Failure(_, m)) => {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "ImageLoadError", m)
        }
    };
    // `thumbnail: true`: the Gallery's thumbnail instead (what the seeding of a Gallery uses).
    let thumbnail = v["thumbnail"].as_bool() == Some(true);
    let done = tokio::task::spawn_blocking(move || {
        let img = decode(&bytes, &limits).map_err(|e| (e.name, e.message))?;
        if thumbnail {
            crate::export::thumbnail_of(&img, atelier_core::gallery::THUMB_SIDE)
        } else {
            crate::export::export(&img, spec)
        }
        .map_err(|e| (ErrorName::PipelineError, e.to_string()))
    })
    .await;
    match done {
        Ok(Ok(e)) => (
            [
                (axum::http::header::CONTENT_TYPE, e.mime.to_string()),
                (
                    axum::http::HeaderName::from_static("x-image-width"),
                    e.width.to_string(),
                ),
                (
                    axum::http::HeaderName::from_static("x-image-height"),
                    e.height.to_string(),
                ),
            ],
            e.bytes,
        )
            .into_response(),
        Ok(Err((name, m))) => problem(StatusCode::UNPROCESSABLE_ENTITY, name.as_str(), m),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PipelineError",
            format!("the export task failed: {e}"),
        ),
    }
}

/// `POST /v1/analyze`, signed by the edge: `{"source_url": <signed GET>}` → what the image
/// shows (core's `assistant::ImageFacts`), for the Assistant's answer.
async fn analyze(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = node.check_signature("/v1/analyze", &headers, &body) {
        node.metrics.refuse("bad_signature");
        return problem(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            format!("Refused: {e}."),
        );
    }
    let url = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["source_url"].as_str().map(str::to_string));
    let Some(url) = url else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The body must be JSON with a source_url.".into(),
        );
    };
    let limits = node.config.limits;
    let bytes = match signed_get(&node, &url, limits.max_bytes).await {
        Ok(b) => b,
        Err(Failure(_, m)) => {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "ImageLoadError", m)
        }
    };
    let bg = node.bg.clone();
    let done = tokio::task::spawn_blocking(move || {
        let img = decode(&bytes, &limits).map_err(|e| (e.name, e.message))?;
        crate::analyze::analyze(&bg, &img).map_err(|e| (ErrorName::PipelineError, e.to_string()))
    })
    .await;
    match done {
        Ok(Ok(facts)) => Json(facts).into_response(),
        Ok(Err((name, m))) => problem(StatusCode::UNPROCESSABLE_ENTITY, name.as_str(), m),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PipelineError",
            format!("the analysis task failed: {e}"),
        ),
    }
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics.render(),
    )
        .into_response()
}

async fn capabilities(State(node): State<Arc<Node>>) -> Json<Capabilities> {
    let l = node.config.limits;
    Json(Capabilities {
        version: env!("CARGO_PKG_VERSION").into(),
        tools: Tool::ALL
            .iter()
            .map(|t| {
                let e = node.engine(*t);
                ToolCapability {
                    tool: *t,
                    available: e.is_some(),
                    upstream: node.upstream_for(*t).is_some(),
                    reason: e.is_none().then(|| NO_ENGINE.to_string()),
                    max_resolution: e.as_ref().and_then(|e| e.max_resolution),
                    max_video_resolution: e.as_ref().and_then(|e| e.max_video_resolution),
                    max_outputs: e.as_ref().map(|e| e.max_outputs),
                    inputs: e
                        .as_ref()
                        .filter(|e| !e.inputs.is_empty())
                        .map(|e| e.inputs.iter().map(|i| i.to_string()).collect()),
                    engine: e.map(|e| e.name),
                }
            })
            .collect(),
        limits: json!({"max_bytes": l.max_bytes, "max_side": l.max_side, "max_pixels": l.max_pixels}),
        concurrency: node.config.concurrency,
        running: node
            .jobs
            .lock()
            .expect("jobs lock")
            .values()
            .filter(|s| matches!(s, JobState::Running { .. }))
            .count(),
    })
}

fn problem(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

async fn submit(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = node.check_signature("/v1/jobs", &headers, &body) {
        tracing::warn!(error = %e, "refused job request");
        let code = match e {
            SignError::Replayed => "replayed_signature",
            SignError::Expired => "expired_signature",
            _ => "bad_signature",
        };
        node.metrics.refuse(code);
        return problem(StatusCode::UNAUTHORIZED, code, format!("Refused: {e}."));
    }
    if node.draining.load(std::sync::atomic::Ordering::SeqCst) {
        node.metrics.refuse("draining");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "This node is shutting down; send the job to another node or retry.".into(),
        );
    }
    let job: JobRequest = match serde_json::from_slice(&body) {
        Ok(j) => j,
        Err(e) => {
            node.metrics.refuse("bad_job");
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_job",
                format!("The job is malformed: {e}."),
            );
        }
    };
    // The job's tool, its options' tool and an engine for it must agree: a tool without an
    // engine here is refused, never run by another engine.
    let engine = node
        .engine(job.tool)
        .filter(|_| job.options.tool() == job.tool);
    let max_outputs = engine.as_ref().map_or(0, |e| e.max_outputs as usize);
    let inputs_ok = engine.as_ref().is_some_and(|e| {
        job.inputs.iter().all(|i| {
            if e.inputs.is_empty() {
                i.name == "image" || job.tool.studio_refs().iter().any(|(f, _)| *f == i.name)
            } else {
                e.inputs.contains(&i.name.as_str())
            }
        })
    });
    if engine.is_none()
        || !inputs_ok
        || (job.tool.main_slot().is_some() && job.inputs.first().is_none_or(|i| i.name != "image"))
        || job.inputs.len() > 1 + job.tool.studio_refs().len()
        || job.outputs.is_empty()
        || job.outputs.len() > max_outputs
    {
        node.metrics.refuse("unsupported_job");
        let why = match &engine {
            None if job.options.tool() != job.tool => format!(
                "its options are {}'s, not {}'s",
                job.options.tool().id(),
                job.tool.id()
            ),
            None => format!("{} has none here: {NO_ENGINE}", job.tool.label()),
            Some(e) => format!(
                "{} takes {} and 1 to {max_outputs} outputs",
                job.tool.label(),
                if e.inputs.is_empty() {
                    "an \"image\" input first and its reference images".to_string()
                } else {
                    e.inputs.join(", ")
                }
            ),
        };
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_job",
            format!(
                "This node runs {}; this job for {} does not fit: {why}.",
                Tool::ALL
                    .iter()
                    .filter(|t| node.available(**t))
                    .map(|t| t.id())
                    .collect::<Vec<_>>()
                    .join(", "),
                job.tool.id()
            ),
        );
    }
    {
        let mut jobs = node.jobs.lock().expect("jobs lock");
        if let Some(state) = jobs.get(&job.job_id) {
            tracing::info!(job_id = %job.job_id, ?state, attempt = job.attempt, "duplicate delivery ignored");
            return (
                StatusCode::OK,
                Json(json!({"job_id": job.job_id, "accepted": false, "duplicate": true})),
            )
                .into_response();
        }
        jobs.insert(
            job.job_id.clone(),
            JobState::Running {
                callback_url: job.callback_url.clone(),
            },
        );
    }
    let id = job.job_id.clone();
    tracing::info!(job_id = %id, attempt = job.attempt, "job accepted");
    let n = node.clone();
    n.metrics.running.inc();
    tokio::spawn(async move {
        let id = job.job_id.clone();
        run_job(&n, job).await;
        n.jobs.lock().expect("jobs lock").insert(id, JobState::Done);
        n.metrics.running.dec();
        n.finished.notify_waiters();
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"job_id": id, "accepted": true})),
    )
        .into_response()
}

/// `POST /v1/jobs/{id}/cancel`, signed by the edge: a job waiting for a slot never runs; a
/// running one finishes its current step but uploads nothing and sends no more events.
async fn cancel(
    State(node): State<Arc<Node>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = node.check_signature(&format!("/v1/jobs/{id}/cancel"), &headers, &body) {
        node.metrics.refuse("bad_signature");
        return problem(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            format!("Refused: {e}."),
        );
    }
    let mut jobs = node.jobs.lock().expect("jobs lock");
    match jobs.get(&id) {
        Some(JobState::Running { .. }) => {
            jobs.insert(id.clone(), JobState::Canceled);
            tracing::info!(job_id = %id, "job canceled");
            (
                StatusCode::OK,
                Json(json!({"job_id": id, "canceled": true})),
            )
                .into_response()
        }
        Some(state) => (
            StatusCode::OK,
            Json(json!({"job_id": id, "canceled": false, "state": format!("{state:?}")})),
        )
            .into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "unknown_job",
            "This node has no such job.".into(),
        ),
    }
}

async fn send_event(node: &Node, url: &str, event: &JobEvent) {
    let body = serde_json::to_vec(event).expect("event serialises");
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    for attempt in 0..4u32 {
        let ts = now_secs();
        let sig = sign::sign_request(&node.config.secret, "POST", &path, ts, &body);
        let res = node
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(sign::TIMESTAMP_HEADER, ts.to_string())
            .header(sign::SIGNATURE_HEADER, sig)
            .body(body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::CONFLICT => return,
            Ok(r) if r.status().is_client_error() => {
                tracing::warn!(job_id = event.job_id(), status = %r.status(), "callback refused");
                return;
            }
            Ok(r) => {
                tracing::warn!(job_id = event.job_id(), status = %r.status(), attempt, "callback failed")
            }
            Err(e) => {
                tracing::warn!(job_id = event.job_id(), error = %e, attempt, "callback failed")
            }
        }
        tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
    }
}

struct Failure(ErrorName, String);

async fn run_job(node: &Arc<Node>, job: JobRequest) {
    let started = Instant::now();
    let tool = job.tool.id();
    let _permit = node.slots.acquire().await.expect("semaphore open");
    if node.is_canceled(&job.job_id) {
        tracing::info!(job_id = %job.job_id, "canceled before it started");
        node.metrics.finished(tool, "canceled");
        return;
    }
    node.metrics.observe(
        &node.metrics.queue_seconds,
        tool,
        started.elapsed().as_secs_f64(),
    );
    let progress = |p: f32, stage: &str| JobEvent::Processing {
        job_id: job.job_id.clone(),
        progress: p,
        stage: stage.into(),
    };
    send_event(node, &job.callback_url, &progress(0.1, "downloading")).await;
    let outcome = pipeline(node, &job, &progress).await;
    let event = match outcome {
        Ok((outputs, engine)) => {
            let run_ms = started.elapsed().as_millis() as u64;
            tracing::info!(job_id = %job.job_id, run_ms, "job completed");
            JobEvent::Completed {
                job_id: job.job_id.clone(),
                outputs,
                run_ms,
                engine,
            }
        }
        Err(Failure(error, message)) => {
            tracing::warn!(job_id = %job.job_id, error = error.as_str(), %message, "job failed");
            JobEvent::Failed {
                job_id: job.job_id.clone(),
                error,
                message,
            }
        }
    };
    let state = node
        .jobs
        .lock()
        .expect("jobs lock")
        .get(&job.job_id)
        .cloned();
    match state {
        Some(JobState::Done) => return,
        Some(JobState::Canceled) => {
            tracing::info!(job_id = %job.job_id, "canceled while running; nothing uploaded");
            node.metrics.finished(tool, "canceled");
            return;
        }
        _ => {}
    }
    let outcome = match &event {
        JobEvent::Completed { .. } => "completed",
        _ => "failed",
    };
    node.metrics.finished(tool, outcome);
    node.metrics.observe(
        &node.metrics.run_seconds,
        tool,
        started.elapsed().as_secs_f64(),
    );
    send_event(node, &job.callback_url, &event).await;
}

async fn pipeline(
    node: &Arc<Node>,
    job: &JobRequest,
    progress: &(impl Fn(f32, &str) -> JobEvent + Sync),
) -> Result<(Vec<OutputRef>, String), Failure> {
    let limits = node.config.limits;
    let mut downloads = Vec::with_capacity(job.inputs.len());
    for input in &job.inputs {
        let bytes = if input.remote {
            node.fetcher.get(&input.url).await.map_err(|e| {
                Failure(
                    ErrorName::ImageLoadError,
                    format!("Error loading image: {e}"),
                )
            })?
        } else {
            signed_get(node, &input.url, limits.max_bytes).await?
        };
        downloads.push((input.name.clone(), bytes));
    }
    if let Some(up) = node.upstream_for(job.tool) {
        send_event(node, &job.callback_url, &progress(0.25, "upstream")).await;
        let fetched = up
            .run(
                job.tool,
                &job.options,
                job.prompt.as_deref(),
                &downloads,
                |s| tracing::debug!(job_id = %job.job_id, upstream_status = s, "upstream status"),
            )
            .await
            .map_err(|e| Failure(e.0, e.1))?;
        // An upstream clip's poster is the image it starts from (Image to Video's `image`).
        let start = fetched
            .iter()
            .any(|f| f.mime.starts_with("video/"))
            .then(|| downloads.first())
            .flatten()
            .and_then(|(_, b)| image::load_from_memory(b).ok());
        let produced = fetched
            .into_iter()
            .map(|f| Produced {
                poster: f
                    .mime
                    .starts_with("video/")
                    .then(|| start.clone())
                    .flatten(),
                bytes: f.bytes,
                mime: f.mime,
                width: f.width,
                height: f.height,
            })
            .collect();
        return upload_outputs(node, job, progress, produced, up.label(job.tool)).await;
    }
    let stage = node.engine(job.tool).map_or("running", |e| e.stage);
    send_event(node, &job.callback_url, &progress(0.25, stage)).await;
    let (bg, vton) = (node.bg.clone(), node.vton.clone());
    let (options, prompt) = (job.options.clone(), job.prompt.clone());
    // Progress from inside the engine (the generative Try-On's sampler steps), forwarded as
    // events in order (one per step, or the latest when steps outpace the callbacks), all sent
    // before the result is.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f32>();
    let forward = {
        let (node, url, job_id) = (node.clone(), job.callback_url.clone(), job.job_id.clone());
        tokio::spawn(async move {
            while let Some(mut p) = rx.recv().await {
                // Steps that ended while the last event was being sent: only the latest.
                while let Ok(q) = rx.try_recv() {
                    p = q;
                }
                let event = JobEvent::Processing {
                    job_id: job_id.clone(),
                    progress: 0.25 + 0.6 * p.clamp(0.0, 1.0),
                    stage: stage.into(),
                };
                send_event(&node, &url, &event).await;
            }
        })
    };
    let done = tokio::task::spawn_blocking(move || {
        let mut main = None;
        let mut refs = HashMap::new();
        for (name, bytes) in downloads {
            let img = decode(&bytes, &limits).map_err(|e| {
                let what = if name == "image" {
                    String::new()
                } else {
                    format!("{name}: ")
                };
                Failure(e.name, format!("{what}{}", e.message))
            })?;
            if name == "image" {
                main = Some(img);
            } else {
                refs.insert(name, img);
            }
        }
        let img = main.ok_or_else(|| {
            Failure(
                ErrorName::InputValidationError,
                "The job has no image.".into(),
            )
        })?;
        let progress = move |p: f32| {
            let _ = tx.send(p);
        };
        crate::engines::run(
            &bg,
            vton.as_deref(),
            &options,
            prompt,
            &img,
            &refs,
            &progress,
        )
        .map_err(|e| match e {
            crate::imaging::EngineError::Input(m) => Failure(ErrorName::InputValidationError, m),
            crate::imaging::EngineError::Pose(m) => Failure(ErrorName::PoseError, m),
            e => Failure(ErrorName::PipelineError, e.to_string()),
        })
    })
    .await;
    // The engine's progress events (the sender went with the blocking task) go out first.
    let _ = forward.await;
    let (produced, engine) = done.map_err(|e| {
        Failure(
            ErrorName::InternalServerError,
            format!("the pipeline stopped: {e}"),
        )
    })??;
    upload_outputs(node, job, progress, produced, engine).await
}

/// Encodes (JPEG when asked) and uploads the outputs to the job's signed URLs.
async fn upload_outputs(
    node: &Arc<Node>,
    job: &JobRequest,
    progress: &(impl Fn(f32, &str) -> JobEvent + Sync),
    produced: Vec<Produced>,
    engine: String,
) -> Result<(Vec<OutputRef>, String), Failure> {
    if node.is_canceled(&job.job_id) {
        return Err(Failure(ErrorName::PipelineError, "canceled".into()));
    }
    send_event(node, &job.callback_url, &progress(0.9, "uploading")).await;
    let mut outputs = vec![];
    for (slot, out) in job.outputs.iter().zip(produced) {
        let (body, mime) = match (job.output_format, out.mime) {
            (OutputFormat::Jpeg, "image/png") => {
                let png = out.bytes;
                let jpeg = tokio::task::spawn_blocking(move || crate::decode::png_to_jpeg(&png))
                    .await
                    .map_err(|e| {
                        Failure(
                            ErrorName::InternalServerError,
                            format!("the encoder stopped: {e}"),
                        )
                    })?
                    .map_err(|e| Failure(ErrorName::PipelineError, e))?;
                (jpeg, OutputFormat::Jpeg.mime())
            }
            (_, mime) => (out.bytes, mime),
        };
        // The Gallery's thumbnail: of an image, or of a video's poster frame (a failed one only
        // costs the grid a preview).
        let thumb = match (&slot.thumb_url, out.poster) {
            (Some(url), Some(poster)) => upload_thumb(node, url, Thumb::Of(poster)).await,
            (Some(url), None) if mime.starts_with("image/") => {
                upload_thumb(node, url, Thumb::Encoded(body.clone())).await
            }
            _ => false,
        };
        let len = body.len() as u64;
        store_output(node, &slot.upload_url, mime, body).await?;
        outputs.push(OutputRef {
            index: slot.index,
            content_type: mime.into(),
            width: out.width,
            height: out.height,
            bytes: len,
            thumb,
        });
    }
    if outputs.is_empty() {
        return Err(Failure(
            ErrorName::PipelineError,
            "The engine produced no output.".into(),
        ));
    }
    Ok((outputs, engine))
}

/// The end of a failed run's message.
const NOT_CHARGED: &str = "Nothing was charged; run it again.";

/// How many times an output upload is tried when the edge's store fails (5xx) or cannot be
/// reached, with 0.25 s, then 1 s between tries; a refusal (4xx) is final.
const UPLOAD_TRIES: u32 = 3;

/// Uploads one output to its signed URL, trying again while the store fails.
async fn store_output(node: &Node, url: &str, mime: &str, body: Vec<u8>) -> Result<(), Failure> {
    let body = Bytes::from(body);
    let mut why = String::new();
    for attempt in 0..UPLOAD_TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1))).await;
        }
        match node
            .http
            .put(url)
            .header("content-type", mime)
            .body(body.clone())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                return Err(Failure(
                    ErrorName::InternalServerError,
                    format!("The result was refused by storage ({status}). {NOT_CHARGED}"),
                ));
            }
            Ok(r) => why = format!("storage answered {}", r.status()),
            Err(e) => why = format!("storage could not be reached: {e}"),
        }
        tracing::warn!(attempt, %why, "an output upload failed");
    }
    Err(Failure(
        ErrorName::InternalServerError,
        format!("The result could not be stored ({why}, {UPLOAD_TRIES} tries). {NOT_CHARGED}"),
    ))
}

/// What a thumbnail is made from: an encoded image output, or a decoded poster frame.
enum Thumb {
    Encoded(Vec<u8>),
    Of(image::DynamicImage),
}

/// Makes an output's thumbnail and uploads it to `url`; whether it was stored.
async fn upload_thumb(node: &Node, url: &str, from: Thumb) -> bool {
    let side = atelier_core::gallery::THUMB_SIDE;
    let made = tokio::task::spawn_blocking(move || match from {
        Thumb::Encoded(bytes) => crate::export::thumbnail(&bytes, side),
        Thumb::Of(img) => crate::export::thumbnail_of(&img, side).map(|e| e.bytes),
    })
    .await;
    let webp = match made {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no thumbnail");
            return false;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the thumbnail encoder stopped");
            return false;
        }
    };
    match node
        .http
        .put(url)
        .header("content-type", "image/webp")
        .body(webp)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(status = %r.status(), "the thumbnail upload was refused");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "the thumbnail upload failed");
            false
        }
    }
}

/// Downloads an input through one of the edge's signed URLs.
async fn signed_get(node: &Node, url: &str, max_bytes: u64) -> Result<Vec<u8>, Failure> {
    let load = |m: String| {
        Failure(
            ErrorName::ImageLoadError,
            format!("Error loading image: {m}"),
        )
    };
    let resp = node
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| load(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(load(format!("the input URL answered {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Err(load("the input is over the size limit".into()));
    }
    Ok(resp
        .bytes()
        .await
        .map_err(|e| load(e.to_string()))?
        .to_vec())
}
