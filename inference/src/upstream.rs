//! The upstream engine: runs a tool on any FASHN-compatible API (FASHN itself with the
//! operator's key, or another Atelier) and brings the outputs back as this node's own.
//!
//! Configured by environment:
//! - `ATELIER_UPSTREAM_URL`: the API's base URL (`https://api.fashn.ai`, or another Atelier's
//!   edge); unset = no upstream, and the generative tools say they are unavailable and why;
//! - `ATELIER_UPSTREAM_KEY`: its API key (required with the URL);
//! - `ATELIER_UPSTREAM_TOOLS`: Studio tool ids to forward (comma-separated); default: every
//!   tool this node has no engine for;
//! - `ATELIER_UPSTREAM_POLL_MS` (default 1000) and `ATELIER_UPSTREAM_TIMEOUT_SECS` (default
//!   600).
//!
//! A job becomes `POST /v1/run` with the tool's API model (`ApiModel::for_tool`), the inputs as
//! base64 data URIs under the model's own field names, the resolved options, and
//! `return_base64: true`; then `GET /v1/status/{id}` until it ends. The upstream's error names
//! are FASHN's, and are passed on as they are.

use std::time::Duration;

use atelier_core::catalog::{self, ApiModel, PromptSupport, Resolved};
use atelier_core::{ErrorName, Tool};
use base64::Engine;
use serde_json::{json, Value};

/// An output brought back from upstream.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an upstream run failed: the error name to report and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError(pub ErrorName, pub String);

pub struct Upstream {
    base: String,
    key: String,
    tools: Vec<Tool>,
    http: reqwest::Client,
    poll: Duration,
    timeout: Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Upstream {
    /// The upstream from the environment; `local` are the tools this node runs itself (the
    /// default forwards every other one).
    pub fn from_env(local: &[Tool]) -> Result<Option<Upstream>, String> {
        let Some(base) = env("ATELIER_UPSTREAM_URL") else {
            return Ok(None);
        };
        let parsed = url::Url::parse(&base)
            .map_err(|e| format!("ATELIER_UPSTREAM_URL {base:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("ATELIER_UPSTREAM_URL {base:?} must be http(s)"));
        }
        let key = env("ATELIER_UPSTREAM_KEY").ok_or_else(|| {
            "ATELIER_UPSTREAM_URL is set but ATELIER_UPSTREAM_KEY is not: give the upstream API's key"
                .to_string()
        })?;
        let tools = match env("ATELIER_UPSTREAM_TOOLS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    Tool::from_id(t).ok_or_else(|| {
                        format!("ATELIER_UPSTREAM_TOOLS: {t:?} is not a tool id (e.g. product-to-model)")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Tool::ALL
                .iter()
                .copied()
                .filter(|t| !local.contains(t))
                .collect(),
        };
        let ms = |name: &str, default: u64| {
            env(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Some(Upstream {
            base: base.trim_end_matches('/').to_string(),
            key,
            tools,
            http,
            poll: Duration::from_millis(ms("ATELIER_UPSTREAM_POLL_MS", 1000).max(50)),
            timeout: Duration::from_secs(ms("ATELIER_UPSTREAM_TIMEOUT_SECS", 600)),
        }))
    }

    pub fn serves(&self, tool: Tool) -> bool {
        self.tools.contains(&tool)
    }

    /// The engine's name in capabilities and results.
    pub fn label(&self, tool: Tool) -> String {
        let host = url::Url::parse(&self.base)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    format!(
                        "{h}{}",
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    )
                })
            })
            .unwrap_or_default();
        format!(
            "upstream: FASHN-compatible API at {host} ({})",
            ApiModel::for_tool(tool).name()
        )
    }

    /// Runs `tool` upstream on `inputs` (the job's `image` and reference images by Studio
    /// field, as bytes). `progress` hears of the upstream's status while it runs.
    pub async fn run(
        &self,
        tool: Tool,
        options: &Resolved,
        prompt: Option<&str>,
        inputs: &[(String, Vec<u8>)],
        progress: impl Fn(&str),
    ) -> Result<Vec<Fetched>, UpstreamError> {
        let body = request_body(tool, options, prompt, inputs)?;
        let pipeline = |m: String| UpstreamError(ErrorName::PipelineError, m);
        let r = self
            .http
            .post(format!("{}/v1/run", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            // Another Atelier's edge then runs it on its own engines only, never forwarding it
            // again: two installations pointed at each other cannot pass a job back and forth.
            .header(FORWARDED_HEADER, "1")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| pipeline(format!("The upstream engine is unreachable: {e}")))?;
        let status = r.status();
        let v: Value = read_json(r).await;
        if !status.is_success() {
            return Err(http_error(status.as_u16(), &v));
        }
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(named(e));
        }
        let id = v["id"]
            .as_str()
            .ok_or_else(|| {
                pipeline("The upstream engine answered without a prediction id.".into())
            })?
            .to_string();
        let started = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.poll).await;
            let r = self
                .http
                .get(format!("{}/v1/status/{id}", self.base))
                .bearer_auth(&self.key)
                .send()
                .await
                .map_err(|e| pipeline(format!("The upstream engine is unreachable: {e}")))?;
            let code = r.status();
            let v: Value = read_json(r).await;
            if !code.is_success() {
                return Err(http_error(code.as_u16(), &v));
            }
            match v["status"].as_str().unwrap_or_default() {
                "completed" => {
                    let outs = v["output"].as_array().cloned().unwrap_or_default();
                    let mut fetched = vec![];
                    for o in outs.iter().filter_map(Value::as_str) {
                        fetched.push(self.output(o).await?);
                    }
                    if fetched.is_empty() {
                        return Err(pipeline(
                            "The upstream engine completed with no output.".into(),
                        ));
                    }
                    return Ok(fetched);
                }
                "failed" | "canceled" | "time_out" => {
                    return Err(v
                        .get("error")
                        .filter(|e| !e.is_null())
                        .map(named)
                        .unwrap_or_else(|| {
                            pipeline(format!(
                                "The upstream engine ended the run as {}.",
                                v["status"].as_str().unwrap_or("failed")
                            ))
                        }));
                }
                s => progress(s),
            }
            if started.elapsed() > self.timeout {
                return Err(pipeline(format!(
                    "The upstream engine did not finish within {} s.",
                    self.timeout.as_secs()
                )));
            }
        }
    }

    /// One output: a data URI (asked for), else a URL the upstream gave.
    async fn output(&self, o: &str) -> Result<Fetched, UpstreamError> {
        let pipeline = |m: String| UpstreamError(ErrorName::PipelineError, m);
        let bytes = if let Some(rest) = o.strip_prefix("data:") {
            let (_, b64) = rest
                .split_once(";base64,")
                .ok_or_else(|| pipeline("An upstream output is not a base64 data URI.".into()))?;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| pipeline(format!("An upstream output is not valid base64: {e}")))?
        } else {
            let r =
                self.http.get(o).send().await.map_err(|e| {
                    pipeline(format!("An upstream output could not be fetched: {e}"))
                })?;
            if !r.status().is_success() {
                return Err(pipeline(format!(
                    "An upstream output could not be fetched ({}).",
                    r.status()
                )));
            }
            r.bytes()
                .await
                .map_err(|e| pipeline(format!("An upstream output could not be read: {e}")))?
                .to_vec()
        };
        describe(bytes)
            .ok_or_else(|| pipeline("An upstream output is not an image or MP4 video.".into()))
    }
}

async fn read_json(r: reqwest::Response) -> Value {
    match r.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The output's type and size from its bytes.
fn describe(bytes: Vec<u8>) -> Option<Fetched> {
    if bytes.len() > 12 && &bytes[4..8] == b"ftyp" {
        return Some(Fetched {
            bytes,
            mime: "video/mp4",
            width: 0,
            height: 0,
        });
    }
    let format = image::guess_format(&bytes).ok()?;
    let mime = match format {
        image::ImageFormat::Png => "image/png",
        image::ImageFormat::Jpeg => "image/jpeg",
        image::ImageFormat::WebP => "image/webp",
        _ => return None,
    };
    let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format)
        .into_dimensions()
        .ok()?;
    Some(Fetched {
        bytes,
        mime,
        width,
        height,
    })
}

fn named(e: &Value) -> UpstreamError {
    let name = e["name"]
        .as_str()
        .and_then(|n| serde_json::from_value::<ErrorName>(Value::String(n.into())).ok())
        .unwrap_or(ErrorName::PipelineError);
    let message = e["message"]
        .as_str()
        .unwrap_or("The upstream engine failed without a message.")
        .to_string();
    UpstreamError(name, message)
}

fn http_error(status: u16, v: &Value) -> UpstreamError {
    let said = v["message"].as_str().unwrap_or_default();
    let m = match status {
        401 | 403 => format!(
            "The upstream engine refused this node's key ({status}): check ATELIER_UPSTREAM_KEY. {said}"
        ),
        429 => format!("The upstream engine is out of credits or rate-limited (429). {said}"),
        _ => format!("The upstream engine answered {status}. {said}"),
    };
    UpstreamError(ErrorName::PipelineError, m.trim_end().to_string())
}

fn data_uri(bytes: &[u8]) -> String {
    let mime = match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::WebP) => "image/webp",
        _ => "image/png",
    };
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Marks a `/v1/run` sent by a node's upstream engine (see `edge/src/api.rs`).
pub use atelier_core::job::FORWARDED_HEADER;

/// The `/v1/run` body for a job: the tool's API model, inputs under its field names, options.
pub fn request_body(
    tool: Tool,
    o: &Resolved,
    prompt: Option<&str>,
    inputs: &[(String, Vec<u8>)],
) -> Result<Value, UpstreamError> {
    let model = ApiModel::for_tool(tool);
    let sp = catalog::spec(tool);
    let mut i = serde_json::Map::new();
    for (name, bytes) in inputs {
        // The main image to its slot's field; a reference to a free field of its slot (core's
        // rule, which the edge also checks before it holds credits).
        let taken: Vec<&str> = i.keys().map(String::as_str).collect();
        let field = catalog::api_field(tool, name, &taken);
        let Some(field) = field else {
            return Err(UpstreamError(
                ErrorName::InputValidationError,
                format!(
                    "The upstream's {} API takes no {name}: remove that image, or run {} on a node with its own engine.",
                    ApiModel::for_tool(tool).name(),
                    tool.label()
                ),
            ));
        };
        i.insert(field.into(), json!(data_uri(bytes)));
    }
    if let Some(p) = prompt.filter(|p| !p.trim().is_empty()) {
        if sp.prompt != PromptSupport::None {
            i.insert("prompt".into(), json!(p));
        }
    }
    if sp.max_outputs > 1 {
        i.insert("num_images".into(), json!(o.outputs.max(1)));
    }
    if let Some(a) = o.aspect_ratio().filter(|_| !sp.aspect_ratios.is_empty()) {
        i.insert("aspect_ratio".into(), json!(a.label()));
    }
    if let Some(r) = o.resolution().filter(|_| sp.resolutions) {
        i.insert("resolution".into(), to(&r));
    }
    if let Some(m) = o.mode().filter(|_| !sp.modes.is_empty()) {
        i.insert("generation_mode".into(), to(&m));
    }
    if let Some(f) = o.face_match() {
        i.insert("face_reference_mode".into(), to(&f));
    }
    if let Some(c) = o.category() {
        i.insert("category".into(), to(&c));
    }
    if let Some(d) = o.duration() {
        let secs = match d {
            atelier_core::pricing::Duration::S5 => 5,
            atelier_core::pricing::Duration::S10 => 10,
        };
        i.insert("duration".into(), json!(secs));
    }
    if let Some(v) = o.video_resolution() {
        i.insert("resolution".into(), to(&v));
    }
    // Background Remove takes only the image and return_base64; Image to Video answers with
    // a URL and takes neither.
    if model != ApiModel::ImageToVideo {
        i.insert("return_base64".into(), json!(true));
    }
    if !matches!(model, ApiModel::ImageToVideo | ApiModel::BackgroundRemove) {
        i.insert("output_format".into(), json!("png"));
    }
    Ok(json!({"model_name": model.name(), "inputs": i}))
}

/// An option as the API spells it.
fn to<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_core::catalog::{validate, Context, ImageInput, ImageSource, Slot, ToolRequest};
    use atelier_core::pricing::Surface;

    fn resolved(tool: Tool, slots: &[Slot]) -> Resolved {
        let mut r = ToolRequest::default();
        for s in slots {
            r.images.entry(*s).or_default().push(ImageInput {
                width: Some(600),
                height: Some(900),
                source: ImageSource::Upload,
            });
        }
        if tool == Tool::TryOn {
            r.prompt = Some("a linen suit".into());
            r.num_outputs = Some(2);
        }
        validate(
            tool,
            &r,
            Context {
                surface: Surface::Api,
                plan: None,
            },
        )
        .unwrap()
    }

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0, 0, 13];

    #[test]
    fn a_try_on_job_becomes_tryon_max_with_its_fields() {
        let o = resolved(Tool::TryOn, &[Slot::Model, Slot::Product]);
        let b = request_body(
            Tool::TryOn,
            &o,
            Some("tucked shirt"),
            &[
                ("image".into(), PNG.to_vec()),
                ("product_image".into(), PNG.to_vec()),
            ],
        )
        .unwrap();
        assert_eq!(b["model_name"], "tryon-max");
        let i = &b["inputs"];
        assert!(i["model_image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR"));
        assert!(i["product_image"].is_string());
        assert_eq!(i["prompt"], "tucked shirt");
        assert_eq!(i["num_images"], 2);
        assert_eq!(i["return_base64"], true);
        assert!(i["generation_mode"].is_string());
    }

    #[test]
    fn product_to_model_references_take_their_fields_and_extra_products_are_refused() {
        let o = resolved(
            Tool::ProductToModel,
            &[Slot::Product, Slot::Product, Slot::FaceReference],
        );
        let b = request_body(
            Tool::ProductToModel,
            &o,
            None,
            &[
                ("image".into(), PNG.to_vec()),
                ("face_reference".into(), PNG.to_vec()),
            ],
        )
        .unwrap();
        assert!(b["inputs"]["product_image"].is_string());
        assert!(b["inputs"]["face_reference"].is_string());
        assert_eq!(b["inputs"]["face_reference_mode"], "match_reference");
        // The API has one product field: a 2nd product is not put over the first.
        let e = request_body(
            Tool::ProductToModel,
            &o,
            None,
            &[
                ("image".into(), PNG.to_vec()),
                ("product_image_2".into(), PNG.to_vec()),
            ],
        )
        .unwrap_err();
        assert_eq!(e.0, ErrorName::InputValidationError);
        assert!(e.1.contains("takes no product_image_2"), "{}", e.1);
    }

    #[test]
    fn unknown_inputs_and_upstream_errors_are_named() {
        let o = resolved(Tool::BackgroundRemove, &[Slot::Image]);
        let e = request_body(
            Tool::BackgroundRemove,
            &o,
            None,
            &[("end_image".into(), PNG.to_vec())],
        )
        .unwrap_err();
        assert_eq!(e.0, ErrorName::InputValidationError);
        let e = named(&json!({"name": "PoseError", "message": "no pose"}));
        assert_eq!(e, UpstreamError(ErrorName::PoseError, "no pose".into()));
        let e = named(&json!({"name": "Teleported", "message": "?"}));
        assert_eq!(e.0, ErrorName::PipelineError);
        assert!(http_error(401, &json!({}))
            .1
            .contains("ATELIER_UPSTREAM_KEY"));
        assert!(describe(b"not an image".to_vec()).is_none());
    }
}
