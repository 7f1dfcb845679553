//! Graceful shutdown and metrics of a real node (real model) against a stand-in edge on loopback:
//! a drain with time to spare lets the running job finish; a drain without hands the job back
//! as failed (so the edge releases its credits) and never reports it completed afterwards; a
//! draining node refuses new jobs with 503; `/metrics` counts what happened.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atelier_core::catalog::{self, Context};
use atelier_core::job::{InputRef, JobEvent, JobRequest, OutputSlot};
use atelier_core::pricing::Surface;
use atelier_core::studio::validate_generation;
use atelier_core::{sign, Tool, UploadLimits};
use atelier_inference::{router, Config, Node};
use axum::body::Bytes;
use axum::routing::{get, post, put};
use axum::Router;

const SECRET: &str = "drain-test-secret-0123456789";

type Events = Arc<Mutex<Vec<JobEvent>>>;

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// The stand-in edge: serves the input, takes the output, records the events.
async fn edge() -> (SocketAddr, Events) {
    let events: Events = Arc::new(Mutex::new(vec![]));
    let input = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model-photo-512.jpg"),
    )
    .unwrap();
    let ev = events.clone();
    let app = Router::new()
        .route("/input", get(move || async move { input.clone() }))
        .route(
            "/output",
            put(|_b: Bytes| async { axum::http::StatusCode::CREATED }),
        )
        .route(
            "/events",
            post(move |b: Bytes| async move {
                ev.lock().unwrap().push(serde_json::from_slice(&b).unwrap());
                axum::http::StatusCode::OK
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    (serve(app).await, events)
}

async fn node() -> (Arc<Node>, SocketAddr) {
    let dir = std::env::var("ATELIER_MODELS_DIR")
        .expect("ATELIER_MODELS_DIR is not set; run through `cargo xtask test`");
    let dir = PathBuf::from(dir);
    let node = Node::new(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        secret: SECRET.as_bytes().to_vec(),
        ort_lib: Config::ort_lib_from_env(&dir),
        models_dir: dir,
        concurrency: 1,
        limits: UploadLimits::DEFAULT,
    })
    .unwrap();
    let addr = serve(router(node.clone())).await;
    (node, addr)
}

/// Submits a 4x upscale (seconds of work on CPU); returns the HTTP status.
async fn submit(node: SocketAddr, edge: SocketAddr, id: &str) -> u16 {
    let body = serde_json::from_value(serde_json::json!({
        "tool": "upscale", "inputs": {"image": "0".repeat(64)}, "params": {"factor": "4x"}
    }))
    .unwrap();
    let options = catalog::validate(
        Tool::Upscale,
        &validate_generation(&body).unwrap().request(512, 768),
        Context {
            surface: Surface::Api,
            plan: None,
        },
    )
    .unwrap();
    let job = JobRequest {
        job_id: id.into(),
        tool: Tool::Upscale,
        options,
        inputs: vec![InputRef {
            name: "image".into(),
            url: format!("http://{edge}/input"),
            remote: false,
        }],
        outputs: vec![OutputSlot {
            index: 0,
            upload_url: format!("http://{edge}/output"),
            thumb_url: None,
        }],
        callback_url: format!("http://{edge}/events"),
        attempt: 1,
        output_format: Default::default(),
        prompt: None,
    };
    let body = serde_json::to_vec(&job).unwrap();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = sign::sign_request(SECRET.as_bytes(), "POST", "/v1/jobs", ts, &body);
    reqwest::Client::new()
        .post(format!("http://{node}/v1/jobs"))
        .header("content-type", "application/json")
        .header(sign::TIMESTAMP_HEADER, ts.to_string())
        .header(sign::SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn terminal(events: &Events) -> Vec<JobEvent> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| !matches!(e, JobEvent::Processing { .. }))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_with_time_lets_the_job_finish() {
    let (edge, events) = edge().await;
    let (node, addr) = node().await;
    assert_eq!(submit(addr, edge, "finish-1").await, 202);
    assert_eq!(node.drain(Duration::from_secs(120)).await, 0);
    let done = terminal(&events);
    assert!(
        matches!(done.as_slice(), [JobEvent::Completed { .. }]),
        "{done:?}"
    );
    assert_eq!(
        submit(addr, edge, "late-1").await,
        503,
        "a draining node refuses"
    );
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("atelier_jobs_total{tool=\"upscale\",outcome=\"completed\"} 1"),
        "{text}"
    );
    assert!(text.contains("atelier_jobs_refused_total{reason=\"draining\"} 1"));
    assert!(text.contains("atelier_job_run_seconds_count{tool=\"upscale\"} 1"));
    assert!(text.contains("atelier_jobs_running 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_without_time_hands_the_job_back_as_failed() {
    let (edge, events) = edge().await;
    let (node, addr) = node().await;
    assert_eq!(submit(addr, edge, "handback-1").await, 202);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(node.drain(Duration::from_millis(1)).await, 1);
    // Give the abandoned pipeline time to finish: it must not report anything after that.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let done = terminal(&events);
    match done.as_slice() {
        [JobEvent::Failed { error, message, .. }] => {
            assert_eq!(error.as_str(), "InternalServerError");
            assert!(message.contains("shut down"), "{message}");
        }
        other => panic!("expected exactly one Failed event, got {other:?}"),
    }
}
