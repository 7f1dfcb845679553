//! The Developer API's OpenAPI 3.1 document, generated from the catalog: every `model_name`
//! with the fields [`crate::catalog::from_api`] reads, their choices from the Rust enums, and
//! the fields it requires. A new model, field or choice in Rust changes the document.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::catalog::{
    api_image_fields, field_list, from_api, spec, ApiModel, AspectRatio, Category, FaceMatch,
    PromptSupport, UpscaleFactor,
};
use crate::job::{ErrorName, JobStatus};
use crate::pricing::{Duration, Mode, Resolution, VideoResolution};
use crate::tool::{Background, Rgb, Tool};

/// Headers of a webhook delivery (as the edge sends them).
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "x-atelier-webhook-timestamp";
pub const WEBHOOK_SIGNATURE_HEADER: &str = "x-atelier-webhook-signature";
/// The signature header's value is this prefix and [`crate::sign::webhook_signature`]'s hex.
pub const WEBHOOK_SIGNATURE_PREFIX: &str = "sha256=";
/// Credits a finished prediction used, on `GET /v1/status/{id}`.
pub const CREDITS_USED_HEADER: &str = "x-fashn-credits-used";

/// tryon-v1.6's `mode` and every model's `output_format`: `from_api` checks these strings
/// without a Rust enum to list them from (the tests hold both sides together).
const TRYON_V16_MODES: [&str; 3] = ["performance", "balanced", "quality"];
const OUTPUT_FORMATS: [&str; 2] = ["png", "jpeg"];
const MAX_NUM_IMAGES: u8 = 4;

/// Every variant of a fieldless enum; a variant added to the enum fails to compile here.
macro_rules! variants {
    ($t:ident { $($v:ident),+ $(,)? }) => {{
        let _exhaustive = |x: $t| match x {
            $($t::$v)|+ => (),
        };
        [$($t::$v),+]
    }};
}

fn wire<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn wires<T: Serialize>(ts: impl IntoIterator<Item = T>) -> Vec<Value> {
    ts.into_iter().map(wire).collect()
}

fn aspect_ratios() -> Vec<Value> {
    wires(variants!(AspectRatio {
        R21x9,
        R16x9,
        R5x4,
        R4x3,
        R3x2,
        R1x1,
        R2x3,
        R3x4,
        R4x5,
        R9x16
    }))
}

fn modes() -> [Mode; 3] {
    variants!(Mode {
        Fast,
        Balanced,
        Quality
    })
}

fn job_statuses() -> Vec<Value> {
    JobStatus::ALL
        .into_iter()
        .map(|s| Value::from(s.as_str()))
        .collect()
}

fn error_names() -> Vec<Value> {
    let all = variants!(ErrorName {
        ImageLoadError,
        ContentModerationError,
        PoseError,
        InputValidationError,
        PipelineError,
        ThirdPartyError,
        ThirdPartyProviderError,
        InternalServerError,
    });
    all.into_iter().map(|n| Value::from(n.as_str())).collect()
}

/// `background`'s values: the tag of each [`Background`] variant.
fn backgrounds() -> Vec<Value> {
    let all = [
        Background::Transparent,
        Background::Solid {
            color: Rgb([255, 255, 255]),
        },
    ];
    let _exhaustive = |b: Background| match b {
        Background::Transparent | Background::Solid { .. } => (),
    };
    all.into_iter()
        .map(|b| wire(b)["background"].clone())
        .collect()
}

/// Durations are strings in Rust's serde and integers on the API.
fn durations() -> Vec<Value> {
    variants!(Duration { S5, S10 })
        .into_iter()
        .filter_map(|d| wire(d).as_str()?.parse::<u64>().ok())
        .map(Value::from)
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn inputs_name(m: ApiModel) -> String {
    format!("Inputs.{}", m.name())
}

fn run_request_name(m: ApiModel) -> String {
    format!("RunRequest.{}", m.name())
}

/// The fields `from_api` requires of a model, in field order (asked of `from_api` itself).
pub fn required_inputs(m: ApiModel) -> Vec<&'static str> {
    let missing: Vec<String> = match from_api(m, &Map::new()) {
        Ok(_) => vec![],
        Err(errors) => errors
            .into_iter()
            .filter(|e| e.code == "required")
            .filter_map(|e| e.path.strip_prefix("inputs.").map(str::to_string))
            .collect(),
    };
    field_list(m)
        .into_iter()
        .filter(|f| missing.iter().any(|r| r == f))
        .collect()
}

/// The `generation_mode` choices of a model: its tool's modes, or all where the tool lists none.
fn generation_modes(m: ApiModel) -> Vec<Value> {
    let sp = spec(m.tool());
    if sp.modes.is_empty() {
        wires(modes())
    } else {
        wires(sp.modes.iter().copied())
    }
}

/// The schema of one field of a model's `inputs`.
fn field_schema(m: ApiModel, field: &str) -> Value {
    let tool = m.tool();
    let sp = spec(tool);
    if let Some((_, slot)) = api_image_fields(m).iter().find(|(n, _)| *n == field) {
        let mut s = schema_ref("ImageInput");
        s["description"] = format!("The {}.", slot.label()).into();
        return s;
    }
    match field {
        "prompt" => {
            let description = match (m, sp.prompt) {
                (ApiModel::BackgroundChange, _) => "Describe the new background.",
                (_, PromptSupport::None) => "",
                _ => sp.prompt_placeholder,
            };
            let mut s = json!({"type": "string", "maxLength": 2000, "description": description});
            // A required prompt must say something: blank is refused like a missing one.
            if required_inputs(m).contains(&"prompt") {
                s["minLength"] = json!(1);
                s["pattern"] = json!("\\S");
            }
            s
        }
        "negative_prompt" => json!({"type": "string", "description": "What to avoid."}),
        "aspect_ratio" => schema_ref("AspectRatio"),
        "generation_mode" => json!({
            "type": "string",
            "enum": generation_modes(m),
            "description": "Omit for Auto.",
        }),
        "resolution" if m == ApiModel::ImageToVideo => schema_ref("VideoResolution"),
        "resolution" => {
            // Face Swap outputs at most 2K (`validate` refuses 4k).
            let rs = Resolution::ALL
                .into_iter()
                .filter(|r| tool != Tool::FaceSwap || *r <= Resolution::K2);
            json!({
                "type": "string",
                "enum": wires(rs),
                "description": "Omit for Auto: the tier closest to the input's size.",
            })
        }
        "num_images" | "num_samples" => json!({
            "type": "integer",
            "minimum": 1,
            "maximum": sp.max_outputs.min(MAX_NUM_IMAGES),
            "default": 1,
            "description": "Outputs to make; each is charged.",
        }),
        "face_reference_mode" => schema_ref("FaceReferenceMode"),
        "output_format" => schema_ref("OutputFormat"),
        "return_base64" => json!({
            "type": "boolean",
            "default": false,
            "description": "Return outputs as base64 data URIs instead of URLs.",
        }),
        "seed" => json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
        "width" | "height" => json!({
            "type": "integer",
            "minimum": 1,
            "maximum": u32::MAX,
            "examples": [1024],
            "description": format!("The main input's {field} in pixels, if known (for Auto resolution and mode)."),
        }),
        "category" => schema_ref("Category"),
        "mode" => json!({"type": "string", "enum": TRYON_V16_MODES}),
        "garment_photo_type" => json!({
            "type": "string",
            "examples": ["auto"],
            "description": "FASHN's values: auto, flat-lay, model.",
        }),
        "moderation_level" => json!({
            "type": "string",
            "examples": ["permissive"],
            "description": "FASHN's values: conservative, permissive, none.",
        }),
        "segmentation_free" => json!({"type": "boolean"}),
        "background" => json!({
            "type": "string",
            "enum": backgrounds(),
            "default": "transparent",
        }),
        "color" => json!({
            "type": "string",
            "pattern": "^#[0-9a-fA-F]{6}$",
            "examples": ["#ffffff"],
            "description": "The solid background's color, #rrggbb.",
        }),
        "duration" => json!({
            "type": "integer",
            "enum": durations(),
            "default": 5,
            "description": "Seconds.",
        }),
        "factor" => schema_ref("UpscaleFactor"),
        // A field the catalog added without a schema here: the tests refuse `{}`.
        _ => json!({}),
    }
}

/// The schema of a model's `inputs`; its `$ref`s point into [`document`]'s components.
pub fn inputs_schema(m: ApiModel) -> Value {
    let fields = field_list(m);
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), field_schema(m, f)))
        .collect();
    let mut s = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    let required = required_inputs(m);
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    // A match mode needs a Face Reference (Face Swap requires one anyway).
    if fields.contains(&"face_reference_mode") && !required.contains(&"face_reference") {
        s["dependentRequired"] = json!({"face_reference_mode": ["face_reference"]});
    }
    if fields.contains(&"background") && fields.contains(&"color") {
        s["allOf"] = json!([{
            "if": {"properties": {"background": {"const": "solid"}}, "required": ["background"]},
            "then": {"required": ["color"]},
        }]);
    }
    s
}

fn run_request(m: ApiModel) -> Value {
    let tool = m.tool();
    let mut description = format!("{}: runs the Studio tool {}.", m.name(), tool.label());
    if m == ApiModel::ImageToVideo {
        description.push_str(" An end_image locks the resolution to 1080p.");
    }
    json!({
        "type": "object",
        "description": description,
        "required": ["model_name", "inputs"],
        "properties": {
            "model_name": {"const": m.name()},
            "inputs": schema_ref(&inputs_name(m)),
        },
    })
}

fn error_response(description: &str, names: &[&str], extra: &str) -> Value {
    json!({
        "description": format!("{description}{extra}"),
        "content": {"application/json": {"schema": {
            "allOf": [
                schema_ref("Error"),
                {"properties": {"error": {"enum": names}}},
            ],
        }}},
    })
}

fn should_retry_header(description: &str) -> Value {
    json!({
        "description": description,
        "schema": {"type": "string", "enum": ["true", "false"]},
    })
}

fn components() -> Value {
    let mut schemas = Map::new();
    let mut put = |name: &str, s: Value| {
        schemas.insert(name.to_string(), s);
    };
    put(
        "ImageInput",
        json!({
            "type": "string",
            "description": "An https URL, or a data:image/...;base64,... URI (with its prefix).",
            "examples": ["data:image/png;base64,iVBORw0KGgo=", "https://example.com/photo.jpg"],
        }),
    );
    put(
        "AspectRatio",
        json!({"type": "string", "enum": aspect_ratios()}),
    );
    put(
        "VideoResolution",
        json!({"type": "string", "enum": wires(variants!(VideoResolution { P480, P720, P1080 }))}),
    );
    put(
        "FaceReferenceMode",
        json!({
            "type": "string",
            "enum": wires(variants!(FaceMatch { MatchReference, MatchBase })),
            "description": "match_reference keeps the reference's expression, head angle and gaze (the default); match_base adapts to the image's.",
        }),
    );
    put(
        "OutputFormat",
        json!({"type": "string", "enum": OUTPUT_FORMATS}),
    );
    put(
        "Category",
        json!({"type": "string", "enum": wires(variants!(Category { Auto, Tops, Bottoms, OnePieces }))}),
    );
    put(
        "UpscaleFactor",
        json!({"type": "string", "enum": wires(variants!(UpscaleFactor { X2, X4, Enhance }))}),
    );
    let mut one_of = vec![];
    let mut mapping = Map::new();
    for m in ApiModel::ALL {
        put(&inputs_name(m), inputs_schema(m));
        put(&run_request_name(m), run_request(m));
        let r = schema_ref(&run_request_name(m));
        mapping.insert(m.name(), r["$ref"].clone());
        one_of.push(r);
    }
    let names: Vec<String> = ApiModel::ALL.iter().map(|m| m.name()).collect();
    let aliases: Vec<String> = Tool::ALL
        .into_iter()
        .filter(|t| !names.iter().any(|n| n == t.id()))
        .map(|t| format!("{} ({})", t.id(), ApiModel::for_tool(t).name()))
        .collect();
    put(
        "RunRequest",
        json!({
            "description": format!(
                "A prediction: model_name and its inputs. model_name also takes the Studio tool ids {}.",
                aliases.join(", ")
            ),
            "oneOf": one_of,
            "discriminator": {"propertyName": "model_name", "mapping": mapping},
        }),
    );
    put(
        "RunResponse",
        json!({
            "type": "object",
            "required": ["id", "error"],
            "properties": {"id": {"type": "string"}, "error": {"type": "null"}},
        }),
    );
    put(
        "JobStatus",
        json!({"type": "string", "enum": job_statuses()}),
    );
    put(
        "ErrorName",
        json!({"type": "string", "enum": error_names()}),
    );
    put(
        "PredictionError",
        json!({
            "type": "object",
            "required": ["name", "message"],
            "properties": {"name": schema_ref("ErrorName"), "message": {"type": "string"}},
        }),
    );
    put(
        "StatusResponse",
        json!({
            "type": "object",
            "required": ["id", "status", "error"],
            "properties": {
                "id": {"type": "string"},
                "status": schema_ref("JobStatus"),
                "output": {
                    "type": ["array", "null"],
                    "items": {"type": "string"},
                    "description": "On completed: output URLs (valid 72 hours), or data URIs with return_base64.",
                },
                "error": {"oneOf": [{"type": "null"}, schema_ref("PredictionError")]},
            },
        }),
    );
    put(
        "Credits",
        json!({
            "type": "object",
            "required": ["credits"],
            "properties": {"credits": {
                "type": "object",
                "required": ["total", "subscription", "on_demand"],
                "properties": {
                    "total": {"type": "integer"},
                    "subscription": {"type": "integer"},
                    "on_demand": {"type": "integer"},
                },
            }},
        }),
    );
    put(
        "FieldError",
        json!({
            "type": "object",
            "required": ["path", "code", "message"],
            "properties": {
                "path": {"type": "string", "examples": ["inputs.image"]},
                "code": {"type": "string", "examples": ["required"]},
                "message": {"type": "string"},
            },
        }),
    );
    put(
        "Error",
        json!({
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": schema_ref("FieldError"),
                    "description": "BadRequest: every problem with the inputs, field by field.",
                },
            },
        }),
    );
    let mut too_many = error_response(
        "Too many requests or predictions in flight, or too few credits",
        &[
            "RateLimitExceeded",
            "ConcurrencyLimitExceeded",
            "OutOfCredits",
        ],
        ".",
    );
    too_many["headers"] = json!({"x-should-retry": should_retry_header(
        "false on OutOfCredits: retrying will not help until credits are added."
    )});
    let mut bad_request = error_response(
        "Invalid JSON, or missing or invalid parameters",
        &["BadRequest"],
        ".",
    );
    bad_request["headers"] = json!({"x-should-retry": should_retry_header(
        "false on invalid inputs."
    )});
    json!({
        "securitySchemes": {"apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "Your API key: Authorization: Bearer <key>.",
        }},
        "schemas": schemas,
        "responses": {
            "BadRequest": bad_request,
            "Unauthorized": error_response("The API key is missing, invalid or inactive", &["UnauthorizedAccess"], "."),
            "NotFound": error_response("Unknown route, or a prediction that is unknown or no longer tracked", &["NotFound"], "."),
            "TooManyRequests": too_many,
            "InternalServerError": error_response("Server error", &["InternalServerError"], "."),
        },
    })
}

fn errors(codes: &[(&str, &str)]) -> Map<String, Value> {
    codes
        .iter()
        .map(|(code, name)| (code.to_string(), response_ref(name)))
        .collect()
}

/// The OpenAPI 3.1 document of the Developer API, served from `server_url`.
pub fn document(server_url: &str) -> Value {
    let common_errors = [
        ("401", "Unauthorized"),
        ("429", "TooManyRequests"),
        ("500", "InternalServerError"),
    ];
    let mut run_responses = errors(&[
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("404", "NotFound"),
        ("429", "TooManyRequests"),
        ("500", "InternalServerError"),
    ]);
    run_responses.insert(
        "200".into(),
        json!({
            "description": "The prediction was accepted; poll /v1/status/{id} or wait for the webhook.",
            "content": {"application/json": {"schema": schema_ref("RunResponse")}},
        }),
    );
    let mut status_responses = errors(&[
        ("401", "Unauthorized"),
        ("404", "NotFound"),
        ("429", "TooManyRequests"),
        ("500", "InternalServerError"),
    ]);
    status_responses.insert(
        "200".into(),
        json!({
            "description": "The prediction, in any state (failed included).",
            "headers": {CREDITS_USED_HEADER: {
                "description": "On terminal states: the credits the prediction used.",
                "schema": {"type": "integer"},
            }},
            "content": {"application/json": {"schema": schema_ref("StatusResponse")}},
        }),
    );
    let mut credits_responses = errors(&common_errors);
    credits_responses.insert(
        "200".into(),
        json!({
            "description": "The API credit balance.",
            "content": {"application/json": {"schema": schema_ref("Credits")}},
        }),
    );
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Atelier Developer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "FASHN-compatible: FASHN's SDKs work by changing the base URL.",
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/run": {"post": {
                "operationId": "createPrediction",
                "summary": "Start a prediction",
                "parameters": [{
                    "name": "webhook_url",
                    "in": "query",
                    "required": false,
                    "description": "Where to POST the status body when the prediction ends (see webhooks).",
                    "schema": {"type": "string", "format": "uri"},
                }],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": schema_ref("RunRequest")}},
                },
                "responses": run_responses,
            }},
            "/v1/status/{id}": {"get": {
                "operationId": "getPredictionStatus",
                "summary": "A prediction's status and outputs",
                "parameters": [{
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {"type": "string"},
                }],
                "responses": status_responses,
            }},
            "/v1/credits": {"get": {
                "operationId": "getCredits",
                "summary": "The API credit balance",
                "responses": credits_responses,
            }},
            "/v1/openapi.json": {"get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }},
            }},
        },
        "webhooks": {"prediction": {"post": {
            "summary": "A prediction ended",
            "description": format!(
                "POSTed to the run's webhook_url when the prediction ends, with the status body. A non-2xx reply or a network error is retried with backoff (up to 5 times). {WEBHOOK_SIGNATURE_HEADER} is {WEBHOOK_SIGNATURE_PREFIX}<hex HMAC-SHA256 of \"<timestamp>.<body>\">, keyed with the hex SHA-256 of the API key that started the prediction."
            ),
            "security": [],
            "parameters": [
                {
                    "name": WEBHOOK_TIMESTAMP_HEADER,
                    "in": "header",
                    "required": true,
                    "description": "Unix seconds when the delivery was signed.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
                {
                    "name": WEBHOOK_SIGNATURE_HEADER,
                    "in": "header",
                    "required": true,
                    "description": format!("{WEBHOOK_SIGNATURE_PREFIX}<hex HMAC-SHA256 of \"<timestamp>.<body>\">"),
                    "schema": {"type": "string", "pattern": format!("^{WEBHOOK_SIGNATURE_PREFIX}[0-9a-f]{{64}}$")},
                },
            ],
            "requestBody": {
                "required": true,
                "content": {"application/json": {"schema": schema_ref("StatusResponse")}},
            },
            "responses": {"2XX": {"description": "Received; anything else is retried."}},
        }}},
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::catalog::{resolve_api, Context};
    use crate::pricing::Surface;
    use std::collections::{BTreeMap, BTreeSet};

    const API: Context = Context {
        surface: Surface::Api,
        plan: None,
    };

    fn doc() -> Value {
        document("https://api.example.com")
    }

    /// Follows `$ref`s (siblings of a `$ref` are descriptions only).
    fn deref<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = doc
                .pointer(r.strip_prefix('#').expect("local ref"))
                .unwrap_or_else(|| panic!("{r} does not resolve"));
        }
        s
    }

    /// The `inputs` schema of a model, found through the run body's `oneOf`.
    fn inputs(doc: &Value, m: ApiModel) -> &Value {
        let body = deref(
            doc,
            &doc["paths"]["/v1/run"]["post"]["requestBody"]["content"]["application/json"]
                ["schema"],
        );
        let branch = body["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| deref(doc, b))
            .find(|b| b["properties"]["model_name"]["const"] == m.name().as_str())
            .unwrap_or_else(|| panic!("{} is not in RunRequest", m.name()));
        deref(doc, &branch["properties"]["inputs"])
    }

    fn props(s: &Value) -> &Map<String, Value> {
        s["properties"].as_object().unwrap()
    }

    fn strs(v: &Value) -> Vec<&str> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// A value the schema allows: its first enum value, const or example; else by type.
    fn sample(doc: &Value, s: &Value) -> Value {
        let s = deref(doc, s);
        if let Some(v) = s["enum"].get(0).or(s.get("const")).or(s["examples"].get(0)) {
            return v.clone();
        }
        match s["type"].as_str() {
            Some("string") => "a prompt".into(),
            Some("integer") => s.get("minimum").cloned().unwrap_or(1.into()),
            Some("boolean") => true.into(),
            t => panic!("no sample for type {t:?} in {s}"),
        }
    }

    /// Adds what `dependentRequired` and `allOf: [{if, then}]` ask for, given what is there.
    fn complete(doc: &Value, s: &Value, ex: &mut Map<String, Value>) {
        loop {
            let mut need: Vec<String> = vec![];
            if let Some(deps) = s["dependentRequired"].as_object() {
                for (k, ds) in deps {
                    if ex.contains_key(k) {
                        need.extend(strs(ds).into_iter().map(String::from));
                    }
                }
            }
            for c in s["allOf"].as_array().into_iter().flatten() {
                let cond = &c["if"];
                let holds = strs(&cond["required"]).iter().all(|k| ex.contains_key(*k))
                    && cond["properties"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .all(|(k, p)| p.get("const").is_none_or(|v| ex.get(k) == Some(v)));
                if holds {
                    need.extend(strs(&c["then"]["required"]).into_iter().map(String::from));
                }
            }
            need.retain(|k| !ex.contains_key(k));
            if need.is_empty() {
                return;
            }
            for k in need {
                let v = sample(doc, &s["properties"][&k]);
                ex.insert(k, v);
            }
        }
    }

    /// The required fields, filled.
    fn minimal(doc: &Value, m: ApiModel) -> Map<String, Value> {
        let s = inputs(doc, m);
        let mut ex: Map<String, Value> = strs(&s["required"])
            .into_iter()
            .map(|k| (k.to_string(), sample(doc, &s["properties"][k])))
            .collect();
        complete(doc, s, &mut ex);
        ex
    }

    /// The minimal example plus `field = value`, completed.
    fn with(doc: &Value, m: ApiModel, field: &str, value: Value) -> Map<String, Value> {
        let mut ex = minimal(doc, m);
        ex.insert(field.into(), value);
        complete(doc, inputs(doc, m), &mut ex);
        ex
    }

    fn accepts(m: ApiModel, ex: &Map<String, Value>) -> bool {
        resolve_api(&m.name(), ex, API).is_ok()
    }

    #[test]
    fn run_body_lists_every_model_once_with_exactly_its_fields() {
        let d = doc();
        let body = &d["components"]["schemas"]["RunRequest"];
        let consts: Vec<&str> = body["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                deref(&d, b)["properties"]["model_name"]["const"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(consts.len(), ApiModel::ALL.len());
        let mapping = body["discriminator"]["mapping"].as_object().unwrap();
        assert_eq!(mapping.len(), ApiModel::ALL.len());
        for m in ApiModel::ALL {
            let n = m.name();
            assert_eq!(consts.iter().filter(|c| **c == n).count(), 1, "{n}");
            assert_eq!(
                deref(&d, &json!({"$ref": mapping[&n]}))["properties"]["model_name"]["const"],
                n.as_str()
            );
            let s = inputs(&d, m);
            assert_eq!(s["additionalProperties"], false, "{n}");
            let got: BTreeSet<&str> = props(s).keys().map(String::as_str).collect();
            let want: BTreeSet<&str> = field_list(m).into_iter().collect();
            assert_eq!(got, want, "{n}");
            for (k, p) in props(s) {
                let p = deref(&d, p);
                assert!(p.get("type").is_some(), "{n}.{k} has no type: {p}");
            }
            for (k, _) in api_image_fields(m) {
                assert_eq!(deref(&d, &s["properties"][k])["type"], "string");
            }
        }
    }

    #[test]
    fn minimal_and_full_examples_are_accepted() {
        let d = doc();
        for m in ApiModel::ALL {
            let ex = minimal(&d, m);
            let r = resolve_api(&m.name(), &ex, API);
            assert!(r.is_ok(), "{} {ex:?}: {r:?}", m.name());
            let s = inputs(&d, m);
            let mut full: Map<String, Value> = props(s)
                .iter()
                .map(|(k, p)| (k.clone(), sample(&d, p)))
                .collect();
            complete(&d, s, &mut full);
            let r = resolve_api(&m.name(), &full, API);
            assert!(r.is_ok(), "{} {full:?}: {r:?}", m.name());
        }
    }

    #[test]
    fn enum_values_are_accepted_and_nothing_else() {
        let d = doc();
        // Every value any model lists for a field name: another model's value must be refused.
        let mut universe: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in ApiModel::ALL {
            for (k, p) in props(inputs(&d, m)) {
                for v in deref(&d, p)["enum"].as_array().into_iter().flatten() {
                    let u = universe.entry(k.clone()).or_default();
                    if !u.contains(v) {
                        u.push(v.clone());
                    }
                }
            }
        }
        let mut checked = 0;
        for m in ApiModel::ALL {
            for (k, p) in props(inputs(&d, m)) {
                let Some(allowed) = deref(&d, p)["enum"].as_array() else {
                    continue;
                };
                for v in allowed {
                    let ex = with(&d, m, k, v.clone());
                    let r = resolve_api(&m.name(), &ex, API);
                    assert!(r.is_ok(), "{}.{k} = {v}: {r:?}", m.name());
                }
                let bogus = if allowed[0].is_number() {
                    json!(7)
                } else {
                    json!("not-a-choice")
                };
                let outside = universe[k]
                    .iter()
                    .filter(|v| !allowed.contains(v))
                    .chain([&bogus]);
                for v in outside {
                    let ex = with(&d, m, k, v.clone());
                    assert!(!accepts(m, &ex), "{}.{k} = {v} was accepted", m.name());
                    checked += 1;
                }
            }
        }
        assert!(checked > 40, "{checked}");
    }

    #[test]
    fn integer_bounds_are_enforced() {
        let d = doc();
        for m in ApiModel::ALL {
            for (k, p) in props(inputs(&d, m)) {
                let p = deref(&d, p);
                if let Some(min) = p["minimum"].as_i64() {
                    assert!(accepts(m, &with(&d, m, k, min.into())), "{}.{k}", m.name());
                    let below = with(&d, m, k, (min - 1).into());
                    assert!(!accepts(m, &below), "{}.{k} = {}", m.name(), min - 1);
                }
                if let Some(max) = p["maximum"].as_i64() {
                    assert!(accepts(m, &with(&d, m, k, max.into())), "{}.{k}", m.name());
                    let above = with(&d, m, k, (max + 1).into());
                    assert!(!accepts(m, &above), "{}.{k} = {}", m.name(), max + 1);
                }
            }
        }
    }

    #[test]
    fn required_fields_and_dependencies_are_enforced() {
        let d = doc();
        for m in ApiModel::ALL {
            let s = inputs(&d, m);
            let required = strs(&s["required"]);
            assert!(!required.is_empty(), "{}", m.name());
            assert_eq!(required, required_inputs(m));
            for r in &required {
                let mut ex = minimal(&d, m);
                ex.remove(*r);
                assert!(!accepts(m, &ex), "{} without {r} was accepted", m.name());
            }
            for (k, deps) in s["dependentRequired"].as_object().into_iter().flatten() {
                for dep in strs(deps) {
                    let mut ex = with(&d, m, k, sample(&d, &s["properties"][k]));
                    ex.remove(dep);
                    assert!(!accepts(m, &ex), "{}: {k} without {dep}", m.name());
                }
            }
            for c in s["allOf"].as_array().into_iter().flatten() {
                let mut ex = minimal(&d, m);
                for (k, p) in c["if"]["properties"].as_object().unwrap() {
                    ex.insert(k.clone(), p["const"].clone());
                }
                assert!(!accepts(m, &ex), "{}: {ex:?} lacks {}", m.name(), c["then"]);
                complete(&d, s, &mut ex);
                assert!(accepts(m, &ex), "{}: {ex:?}", m.name());
            }
        }
    }

    #[test]
    fn wrong_types_are_refused() {
        // Fields `from_api` accepts but does not read (or reads only with another field).
        const UNCHECKED: &[&str] = &[
            "negative_prompt",
            "garment_photo_type",
            "moderation_level",
            "segmentation_free",
            "width",
            "height",
            "color",
        ];
        let d = doc();
        for m in ApiModel::ALL {
            for (k, p) in props(inputs(&d, m)) {
                if UNCHECKED.contains(&k.as_str()) {
                    continue;
                }
                let wrong = match deref(&d, p)["type"].as_str() {
                    Some("string") => json!(12345),
                    Some("integer") => json!("1"),
                    Some("boolean") => json!("yes"),
                    t => panic!("{}.{k}: type {t:?}", m.name()),
                };
                let ex = with(&d, m, k, wrong.clone());
                assert!(!accepts(m, &ex), "{}.{k} = {wrong} was accepted", m.name());
            }
        }
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves() {
        let d = doc();
        let mut all = vec![];
        refs(&d, &mut all);
        assert!(all.len() > 50, "{}", all.len());
        for r in all {
            let p = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} is not local"));
            assert!(d.pointer(p).is_some(), "{r} does not resolve");
        }
        // Every component schema is used.
        let text = d.to_string();
        for name in d["components"]["schemas"].as_object().unwrap().keys() {
            let r = format!("\"#/components/schemas/{name}\"");
            assert!(text.contains(&r), "{name} is unused");
        }
    }

    #[test]
    fn document_shape() {
        let d = document("https://atelier.example");
        let text = serde_json::to_string(&d).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, d);
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["servers"][0]["url"], "https://atelier.example");
        let scheme = &d["components"]["securitySchemes"]["apiKey"];
        assert_eq!(
            (&scheme["type"], &scheme["scheme"]),
            (&json!("http"), &json!("bearer"))
        );
        for p in [
            "/v1/run",
            "/v1/status/{id}",
            "/v1/credits",
            "/v1/openapi.json",
        ] {
            assert!(d["paths"].get(p).is_some(), "{p}");
        }
        let run = &d["paths"]["/v1/run"]["post"];
        assert_eq!(run["parameters"][0]["name"], "webhook_url");
        assert_eq!(run["parameters"][0]["in"], "query");
        for code in ["200", "400", "401", "404", "429", "500"] {
            assert!(run["responses"].get(code).is_some(), "{code}");
        }
        let too_many = deref(&d, &run["responses"]["429"]);
        let names = &too_many["content"]["application/json"]["schema"]["allOf"][1]["properties"]
            ["error"]["enum"];
        assert_eq!(
            strs(names),
            [
                "RateLimitExceeded",
                "ConcurrencyLimitExceeded",
                "OutOfCredits"
            ]
        );
        assert!(too_many["headers"]["x-should-retry"]["description"]
            .as_str()
            .unwrap()
            .contains("OutOfCredits"));
        // Status values and error names are the Rust wire values.
        let statuses = strs(&d["components"]["schemas"]["JobStatus"]["enum"]);
        let want: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(statuses, want);
        for s in &statuses {
            assert_eq!(JobStatus::parse(s).map(wire), Some(json!(s)));
        }
        for n in strs(&d["components"]["schemas"]["ErrorName"]["enum"]) {
            let e: ErrorName = serde_json::from_value(json!(n)).unwrap();
            assert_eq!(e.as_str(), n);
        }
        let status = &d["paths"]["/v1/status/{id}"]["get"]["responses"]["200"];
        assert!(status["headers"].get(CREDITS_USED_HEADER).is_some());
        let st = deref(&d, &status["content"]["application/json"]["schema"]);
        assert_eq!(strs(&st["required"]), ["id", "status", "error"]);
        let credits = deref(
            &d,
            &d["paths"]["/v1/credits"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"],
        );
        for k in ["total", "subscription", "on_demand"] {
            assert_eq!(
                credits["properties"]["credits"]["properties"][k]["type"],
                "integer"
            );
        }
        // The webhook's signature header matches what `sign` computes.
        let hook = &d["webhooks"]["prediction"]["post"];
        let headers: Vec<&str> = hook["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            [WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER]
        );
        let value = format!(
            "{WEBHOOK_SIGNATURE_PREFIX}{}",
            crate::sign::webhook_signature("k", 10, b"{}")
        );
        let hex = value.strip_prefix(WEBHOOK_SIGNATURE_PREFIX).unwrap();
        assert!(
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(
            deref(
                &d,
                &hook["requestBody"]["content"]["application/json"]["schema"]
            ),
            st
        );
    }
}
