//! The generative Try-On engine end to end on a real node (`--features vton`): a random-weights
//! checkpoint of the small configuration (atelier-vton's test fixture) is installed into a
//! fresh models folder the way `cargo xtask models vton` installs the published one; the node's
//! capabilities then report Try-On as the `vton` engine, and a signed Try-On job through the
//! HTTP API, with its inputs and outputs on a stand-in edge's URLs, comes back as an image of
//! the model's size with a progress event from the sampler. The pixels are noise; the plumbing
//! is real. Seconds on a CPU.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atelier_core::catalog::{self, Context, ImageInput, ImageSource, Slot, ToolRequest};
use atelier_core::job::{Capabilities, InputRef, JobEvent, JobRequest, OutputSlot};
use atelier_core::pricing::{Resolution, Surface};
use atelier_core::{sign, Tool, UploadLimits};
use atelier_inference::vton::{config_from_json, config_to_json, install};
use atelier_inference::{router, Config, Node};
use axum::body::Bytes;
use axum::routing::{get, post, put};
use axum::Router;

const SECRET: &str = "vton-test-secret-0123456789";

fn vton_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vton/tests/fixtures")
}

fn small_config() -> atelier_vton::Config {
    let text = std::fs::read_to_string(vton_fixtures().join("small_config.json")).unwrap();
    config_from_json(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// A fresh models folder with the segmentation model the node needs to start (linked).
fn models_folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("atelier-vton-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(
        common::models_dir().join("u2netp.onnx"),
        dir.join("u2netp.onnx"),
    )
    .unwrap();
    dir
}

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

type Events = Arc<Mutex<Vec<JobEvent>>>;
type Uploaded = Arc<Mutex<Option<Vec<u8>>>>;

/// The stand-in edge: serves the model photo and the garment, takes the output, records events.
async fn edge() -> (SocketAddr, Events, Uploaded) {
    let events: Events = Arc::default();
    let uploaded: Uploaded = Arc::default();
    let person = common::fixture_bytes("model-photo-512.jpg");
    let garment = common::fixture_bytes("garment-on-model.webp");
    let (ev, up) = (events.clone(), uploaded.clone());
    let app = Router::new()
        .route("/person", get(move || async move { person.clone() }))
        .route("/garment", get(move || async move { garment.clone() }))
        .route(
            "/output",
            put(move |b: Bytes| async move {
                *up.lock().unwrap() = Some(b.to_vec());
                axum::http::StatusCode::CREATED
            }),
        )
        .route(
            "/events",
            post(move |b: Bytes| async move {
                ev.lock().unwrap().push(serde_json::from_slice(&b).unwrap());
                axum::http::StatusCode::OK
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    (serve(app).await, events, uploaded)
}

async fn node(models: &Path) -> SocketAddr {
    let node = Node::new(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        secret: SECRET.as_bytes().to_vec(),
        ort_lib: Config::ort_lib_from_env(&common::models_dir()),
        models_dir: models.to_path_buf(),
        concurrency: 1,
        limits: UploadLimits::DEFAULT,
    })
    .unwrap();
    serve(router(node)).await
}

async fn try_on(addr: SocketAddr) -> atelier_core::job::ToolCapability {
    let text = reqwest::get(format!("http://{addr}/v1/capabilities"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let caps: Capabilities = serde_json::from_str(&text).unwrap();
    caps.tools
        .into_iter()
        .find(|t| t.tool == Tool::TryOn)
        .unwrap()
}

fn try_on_job(edge: SocketAddr, id: &str) -> JobRequest {
    let mut r = ToolRequest::default();
    for slot in [Slot::Model, Slot::Product] {
        r.images.insert(
            slot,
            vec![ImageInput {
                width: Some(512),
                height: Some(768),
                source: ImageSource::Upload,
            }],
        );
    }
    let options = catalog::validate(
        Tool::TryOn,
        &r,
        Context {
            surface: Surface::Api,
            plan: None,
        },
    )
    .unwrap();
    let input = |name: &str, path: &str| InputRef {
        name: name.into(),
        url: format!("http://{edge}/{path}"),
        remote: false,
    };
    JobRequest {
        job_id: id.into(),
        tool: Tool::TryOn,
        options,
        inputs: vec![input("image", "person"), input("product_image", "garment")],
        outputs: vec![OutputSlot {
            index: 0,
            upload_url: format!("http://{edge}/output"),
            thumb_url: None,
        }],
        callback_url: format!("http://{edge}/events"),
        attempt: 1,
        output_format: Default::default(),
        prompt: None,
    }
}

async fn submit(node: SocketAddr, job: &JobRequest) -> u16 {
    let body = serde_json::to_vec(job).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_weights_make_try_on_generative_through_the_job_api() {
    let t = std::time::Instant::now();
    let models = models_folder("node");
    let info = install(&vton_fixtures(), &models, &small_config()).unwrap();
    let expected = atelier_vton::expected_tensors(&small_config()).unwrap();
    assert_eq!(info.tensors, expected.len(), "{info:?}");
    assert!(models.join("vton/model.safetensors").is_file());
    assert!(models.join("vton/config.json").is_file());

    let (edge, events, uploaded) = edge().await;
    let addr = node(&models).await;
    let cap = try_on(addr).await;
    assert!(cap.available && !cap.upstream, "{cap:?}");
    let engine = cap.engine.clone().unwrap();
    assert!(engine.starts_with("vton: FASHN VTON v1.5"), "{engine}");
    assert!(engine.contains("16×24"), "{engine}");
    assert_eq!(cap.max_resolution, Some(Resolution::K1));
    assert_eq!(cap.max_outputs, Some(4));
    assert_eq!(
        cap.inputs.as_deref(),
        Some(&["image".to_string(), "product_image".to_string()][..])
    );

    assert_eq!(submit(addr, &try_on_job(edge, "vton-1")).await, 202);
    let done = loop {
        let last = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| !matches!(e, JobEvent::Processing { .. }))
            .cloned();
        if let Some(e) = last {
            break e;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no result in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let JobEvent::Completed {
        outputs, engine: e, ..
    } = &done
    else {
        panic!("{done:?}");
    };
    assert_eq!(e, &engine);
    // The 512×768 model photo (2:3) fitted in the small model's 16×24.
    assert_eq!((outputs[0].width, outputs[0].height), (16, 24));
    let png = uploaded
        .lock()
        .unwrap()
        .clone()
        .expect("an uploaded output");
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (16, 24));

    // Sampler progress came before the result, between the download and the upload stages.
    let events = events.lock().unwrap().clone();
    let sampling: Vec<f32> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Processing {
                progress, stage, ..
            } if stage == "sampling" => Some(*progress),
            _ => None,
        })
        .collect();
    assert!(sampling.len() >= 2, "{events:?}");
    assert!(sampling.windows(2).all(|w| w[0] <= w[1]), "{sampling:?}");
    assert!(
        (sampling[sampling.len() - 1] - 0.85).abs() < 1e-6,
        "{sampling:?}"
    );
    assert!(matches!(events.last(), Some(JobEvent::Completed { .. })));
    eprintln!("vton job through the node in {:?}", t.elapsed());
    let _ = std::fs::remove_dir_all(&models);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_weights_try_on_stays_the_2d_engine() {
    let models = models_folder("none");
    let cap = try_on(node(&models).await).await;
    assert!(cap.available, "{cap:?}");
    assert!(
        cap.engine.as_deref().unwrap().starts_with("tryon-2d"),
        "{cap:?}"
    );
    assert_eq!(cap.max_resolution, Some(Resolution::K2));
    let _ = std::fs::remove_dir_all(&models);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_weights_leave_the_2d_engine() {
    // Weights of the small model under the published configuration's name: refused at start.
    let models = models_folder("broken");
    std::fs::create_dir_all(models.join("vton")).unwrap();
    std::fs::copy(
        vton_fixtures().join("model.safetensors"),
        models.join("vton/model.safetensors"),
    )
    .unwrap();
    let cap = try_on(node(&models).await).await;
    assert!(
        cap.engine.as_deref().unwrap().starts_with("tryon-2d"),
        "{cap:?}"
    );
    let _ = std::fs::remove_dir_all(&models);
}

#[test]
fn install_refuses_weights_of_another_configuration_by_name() {
    let models = std::env::temp_dir().join(format!("atelier-vton-refused-{}", std::process::id()));
    let err = install(&vton_fixtures(), &models, &atelier_vton::published()).unwrap_err();
    assert!(
        err.contains("does not hold the FASHN VTON v1.5 weights"),
        "{err}"
    );
    assert!(err.contains("missing") || err.contains("shape"), "{err}");
    assert!(!models.join("vton").exists(), "nothing installed");
    let empty = std::env::temp_dir().join(format!("atelier-vton-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let err = install(&empty, &models, &atelier_vton::published()).unwrap_err();
    assert!(err.contains("model.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&empty);
    let _ = std::fs::remove_dir_all(&models);
}

#[test]
fn config_json_round_trips_and_is_checked() {
    let published = atelier_vton::published();
    assert_eq!(
        config_from_json(&config_to_json(&published)).unwrap(),
        published
    );
    let mut v = config_to_json(&published);
    v["n_heads"] = serde_json::json!(7);
    assert!(config_from_json(&v).unwrap_err().contains("n_heads"));
    v.as_object_mut().unwrap().remove("theta");
    assert!(config_from_json(&v).unwrap_err().contains("theta"));
}
