//! The Studio body's one parser: `validate_generation_with` checks a body's names and types
//! (errors under `inputs.*` / `params.*`) and reads it into a typed `catalog::ToolRequest`, which
//! `catalog::validate` resolves once the images' sizes are known. Whether a tool runs here is the
//! inference node's answer, passed in.

use serde::{Deserialize, Serialize};

use crate::tool::{Background, FieldError, Rgb, Tool};

/// A generation request as the Studio sends it: `{tool, inputs: {image}, params: {...}}`.
/// Params by tool: Background Remove `{background: "transparent"}` or
/// `{background: "solid", color: "#rrggbb"}`; Upscale `{factor: "2x" | "4x" | "enhance"}`;
/// Reframe `{aspect_ratio}`. The other tools take the generic options their
/// [`crate::catalog::spec`] lists: `prompt`, `num_images`, `aspect_ratio`, `resolution`
/// (`1k`/`2k`/`4k`; absent = Auto), `generation_mode` (`fast`/`balanced`/`quality`; absent =
/// Auto), `duration` (`5`/`10`) and `video_resolution` (`480p`/`720p`/`1080p`), `face_match`,
/// `category`; their reference images go in `inputs` by [`Tool::studio_refs`] field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub tool: String,
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A request that passed the Studio-body checks; `catalog::validate` applies the tool's rules
/// once the input's size is known (see [`ValidGeneration::request`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidGeneration {
    pub tool: Tool,
    /// The content hash of the input image asset (None for prompt-only tools).
    pub image: Option<String>,
    /// The params, normalised (defaults filled in), as stored with the generation: what the
    /// user asked for (Auto stays Auto), so branching restores the same choices.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Reference images by `inputs` field ([`Tool::studio_refs`]): asset hashes.
    pub refs: Vec<(String, crate::catalog::Slot, String)>,
    /// The typed request, read once from `params`; sizes are added as they become known.
    pub options: crate::catalog::ToolRequest,
}

impl ValidGeneration {
    /// The catalog request for a main input of `width` × `height`.
    pub fn request(&self, width: u32, height: u32) -> crate::catalog::ToolRequest {
        let mut r = self.options.clone();
        r.set_main_size(self.tool, width, height);
        r
    }
}

/// The typed request of a Studio body's (checked, normalised) params.
fn typed_request(
    tool: Tool,
    params: &serde_json::Map<String, serde_json::Value>,
) -> crate::catalog::ToolRequest {
    use crate::catalog::{ImageInput, ImageSource, ToolRequest, UpscaleFactor};
    let mut r = ToolRequest::default();
    // The main image fills the tool's first image slot (Try-On's model image); prompt-only
    // tools have none. Its size is set once known.
    if let Some(main) = tool.main_slot() {
        r.images.insert(
            main,
            vec![ImageInput {
                width: None,
                height: None,
                source: ImageSource::Upload,
            }],
        );
    }
    match tool {
        Tool::BackgroundRemove => {
            r.background = match params.get("background").and_then(|v| v.as_str()) {
                Some("solid") => params
                    .get("color")
                    .and_then(|v| v.as_str())
                    .and_then(Rgb::parse)
                    .map(|color| Background::Solid { color }),
                _ => None,
            };
        }
        Tool::Reframe => {
            r.aspect_ratio = params
                .get("aspect_ratio")
                .and_then(|v| v.as_str())
                .and_then(crate::catalog::AspectRatio::parse);
        }
        Tool::Upscale => {
            r.upscale = params
                .get("factor")
                .cloned()
                .and_then(|v| serde_json::from_value::<UpscaleFactor>(v).ok());
        }
        _ => generic_request(tool, params, &mut r),
    }
    r
}

/// The generic options of a stored Studio generation (see [`GenerationRequest`]).
fn generic_request(
    tool: Tool,
    params: &serde_json::Map<String, serde_json::Value>,
    r: &mut crate::catalog::ToolRequest,
) {
    fn get<T: serde::de::DeserializeOwned>(
        params: &serde_json::Map<String, serde_json::Value>,
        k: &str,
    ) -> Option<T> {
        params
            .get(k)
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
    }
    r.prompt = params
        .get("prompt")
        .and_then(|v| v.as_str())
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string);
    r.num_outputs = params
        .get("num_images")
        .and_then(|v| v.as_u64())
        .map(|n| n.min(255) as u8);
    r.aspect_ratio = params
        .get("aspect_ratio")
        .and_then(|v| v.as_str())
        .and_then(crate::catalog::AspectRatio::parse);
    r.resolution = get(params, "resolution");
    r.mode = get(params, "generation_mode");
    r.duration = get(params, "duration");
    r.video_resolution = get(params, "video_resolution");
    r.face_match = get(params, "face_match");
    if tool == Tool::TryOn {
        r.category = get(params, "category");
    }
}

/// Adds a reference image of `width` × `height` to a catalog request.
pub fn add_reference(
    r: &mut crate::catalog::ToolRequest,
    slot: crate::catalog::Slot,
    width: u32,
    height: u32,
) {
    add_reference_from(r, slot, width, height, crate::catalog::ImageSource::Upload);
}

/// Adds a reference image that came from `source` (a starter library, or an upload).
pub fn add_reference_from(
    r: &mut crate::catalog::ToolRequest,
    slot: crate::catalog::Slot,
    width: u32,
    height: u32,
    source: crate::catalog::ImageSource,
) {
    r.images
        .entry(slot)
        .or_default()
        .push(crate::catalog::ImageInput {
            width: Some(width),
            height: Some(height),
            source,
        });
}

/// The generic options a tool takes in a Studio body, from its spec.
fn generic_keys(tool: Tool) -> Vec<&'static str> {
    use crate::catalog::{spec, Pricing, PromptSupport};
    let sp = spec(tool);
    let mut k = vec![];
    if sp.prompt != PromptSupport::None {
        k.push("prompt");
    }
    if sp.max_outputs > 1 {
        k.push("num_images");
    }
    if !sp.aspect_ratios.is_empty() {
        k.push("aspect_ratio");
    }
    if sp.resolutions {
        k.push("resolution");
    }
    if !sp.modes.is_empty() {
        k.push("generation_mode");
    }
    if sp.pricing == Pricing::Video {
        k.extend(["duration", "video_resolution"]);
    }
    // Face Swap's match mode, and Face Reference's on every tool that takes one.
    if sp
        .slots
        .iter()
        .any(|s| s.slot == crate::catalog::Slot::FaceReference)
    {
        k.push("face_match");
    }
    if tool == Tool::TryOn {
        k.push("category");
    }
    k
}

/// Checks the generic options' types and choices (the catalog checks ranges, gates and
/// combinations once the images are known) and normalises them.
fn generic_params(
    tool: Tool,
    params: &serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    fn choice<T: serde::de::DeserializeOwned>(v: &Value) -> bool {
        serde_json::from_value::<T>(v.clone()).is_ok()
    }
    for key in generic_keys(tool) {
        let Some(v) = params.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        // Durations may come as numbers (5) or as the catalog's strings ("5").
        let v = &match v {
            Value::Number(n) if key == "duration" => Value::String(n.to_string()),
            v => v.clone(),
        };
        let (ok, hint): (bool, String) = match key {
            "prompt" => (v.is_string(), "a text".into()),
            "num_images" => (
                v.as_u64().is_some(),
                format!(
                    "a whole number from 1 to {}",
                    crate::catalog::spec(tool).max_outputs
                ),
            ),
            "aspect_ratio" => (
                v.as_str()
                    .and_then(crate::catalog::AspectRatio::parse)
                    .is_some_and(|a| crate::catalog::spec(tool).aspect_ratios.contains(&a)),
                format!(
                    "one of {}",
                    crate::catalog::spec(tool)
                        .aspect_ratios
                        .iter()
                        .map(|a| a.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            "resolution" => (
                choice::<crate::pricing::Resolution>(v),
                "\"1k\", \"2k\" or \"4k\" (leave it out for Auto)".into(),
            ),
            "generation_mode" => (
                choice::<crate::pricing::Mode>(v),
                "\"fast\", \"balanced\" or \"quality\" (leave it out for Auto)".into(),
            ),
            "duration" => (
                choice::<crate::pricing::Duration>(v),
                "\"5\" or \"10\" (seconds)".into(),
            ),
            "video_resolution" => (
                choice::<crate::pricing::VideoResolution>(v),
                "\"480p\", \"720p\" or \"1080p\"".into(),
            ),
            "face_match" => (
                choice::<crate::catalog::FaceMatch>(v),
                "\"match_reference\" or \"match_base\"".into(),
            ),
            _ => (
                choice::<crate::catalog::Category>(v),
                "\"auto\", \"tops\", \"bottoms\" or \"one-pieces\"".into(),
            ),
        };
        if ok {
            out.insert(key.into(), v.clone());
        } else {
            errors.push(FieldError::new(
                &format!("params.{key}"),
                "invalid_choice",
                format!("{} must be {hint}, not {v}.", key.replace('_', " ")),
            ));
        }
    }
    out
}

fn is_asset_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn params_for(
    tool: Tool,
    params: &serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value};
    let generic = generic_keys(tool);
    let allowed: &[&str] = match tool {
        Tool::BackgroundRemove => &["background", "color"],
        Tool::Upscale => &["factor"],
        Tool::Reframe => &["aspect_ratio"],
        _ => &generic,
    };
    for k in params.keys() {
        if !allowed.contains(&k.as_str()) {
            errors.push(FieldError::new(
                &format!("params.{k}"),
                "unknown_param",
                format!("{} has no \"{k}\" option.", tool.label()),
            ));
        }
    }
    let mut out = serde_json::Map::new();
    match tool {
        Tool::BackgroundRemove => match params.get("background") {
            None | Some(Value::Null) => {
                let d = json!(crate::catalog::defaults::BACKGROUND);
                out.insert("background".into(), d["background"].clone());
            }
            Some(Value::String(b)) if b == "transparent" => {
                out.insert("background".into(), json!("transparent"));
            }
            Some(Value::String(b)) if b == "solid" => {
                match params.get("color").and_then(|v| v.as_str()) {
                    Some(c) => match Rgb::parse(c) {
                        Some(color) => {
                            out.insert("background".into(), json!("solid"));
                            out.insert("color".into(), json!(color.to_hex()));
                        }
                        None => errors.push(FieldError::new(
                            "params.color",
                            "invalid_color",
                            format!("\"{c}\" is not a color; write it as #rrggbb, e.g. #ffffff."),
                        )),
                    },
                    None => errors.push(FieldError::new(
                        "params.color",
                        "required",
                        "A solid background needs a color, e.g. #ffffff.",
                    )),
                }
            }
            Some(other) => errors.push(FieldError::new(
                "params.background",
                "invalid_choice",
                format!("background must be \"transparent\" or \"solid\", not {other}."),
            )),
        },
        Tool::Reframe => match params.get("aspect_ratio").and_then(|v| v.as_str()) {
            Some(a) if crate::catalog::spec(Tool::Reframe)
                .aspect_ratios
                .iter()
                .any(|r| r.label() == a) =>
            {
                out.insert("aspect_ratio".into(), json!(a));
            }
            Some(a) => errors.push(FieldError::new(
                "params.aspect_ratio",
                "invalid_choice",
                format!("\"{a}\" is not a Reframe ratio; choose 16:9, 5:4, 4:3, 3:2, 1:1, 2:3, 3:4, 4:5 or 9:16."),
            )),
            None => errors.push(FieldError::new(
                "params.aspect_ratio",
                "required",
                "Reframe needs a target aspect ratio, e.g. 4:5.",
            )),
        },
        Tool::Upscale => match params.get("factor") {
            None | Some(Value::Null) => {
                out.insert("factor".into(), json!(crate::catalog::defaults::UPSCALE));
            }
            Some(Value::String(f)) if ["2x", "4x", "enhance"].contains(&f.as_str()) => {
                out.insert("factor".into(), json!(f));
            }
            Some(other) => errors.push(FieldError::new(
                "params.factor",
                "invalid_choice",
                format!("factor must be \"2x\", \"4x\" or \"enhance\", not {other}."),
            )),
        },
        _ => return generic_params(tool, params, errors),
    }
    out
}

/// Validates a Studio generation body and returns every problem at once, whether or not this
/// installation can run the tool (see [`validate_generation_with`]).
pub fn validate_generation(req: &GenerationRequest) -> Result<ValidGeneration, Vec<FieldError>> {
    validate_generation_with(req, &|_| true)
}

/// [`validate_generation`] with the installation's answer to "does this tool have an engine?"
/// (the inference node's capabilities: its own engines and its upstream).
pub fn validate_generation_with(
    req: &GenerationRequest,
    available: &dyn Fn(Tool) -> bool,
) -> Result<ValidGeneration, Vec<FieldError>> {
    let mut errors = Vec::new();
    let tool = match Tool::from_id(&req.tool) {
        None => {
            errors.push(FieldError::new(
                "tool",
                "unknown_tool",
                format!("\"{}\" is not a Studio tool.", req.tool),
            ));
            None
        }
        Some(t) if !available(t) => {
            errors.push(FieldError::new(
                "tool",
                "tool_unavailable",
                format!("{} is not available on this installation yet.", t.label()),
            ));
            None
        }
        Some(t) => Some(t),
    };
    let label = tool.map(|t| t.label()).unwrap_or("This tool");
    let prompt_only = tool.is_some_and(|t| t.main_slot().is_none());
    let image = match req.inputs.get("image") {
        None | Some(serde_json::Value::Null) if prompt_only => None,
        Some(_) if prompt_only => {
            errors.push(FieldError::new(
                "inputs.image",
                "not_supported",
                format!(
                    "{label} makes images from the prompt and takes no main image; give references in their own fields."
                ),
            ));
            None
        }
        None | Some(serde_json::Value::Null) => {
            errors.push(FieldError::new(
                "inputs.image",
                "required",
                format!("{label} needs an image. Upload one first."),
            ));
            None
        }
        Some(serde_json::Value::String(s)) if is_asset_hash(s) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                "inputs.image",
                "invalid_asset",
                "inputs.image must be the id of an uploaded asset (64 hex characters).",
            ));
            None
        }
    };
    let mut refs = vec![];
    for (key, v) in &req.inputs {
        if key == "image" {
            continue;
        }
        let slot = tool.and_then(|t| {
            t.studio_refs()
                .iter()
                .find(|(f, _)| f == key)
                .map(|(_, s)| *s)
        });
        match (slot, v) {
            (None, _) if tool.is_some() => errors.push(FieldError::new(
                &format!("inputs.{key}"),
                "unknown_input",
                match tool.map(|t| t.studio_refs()).unwrap_or_default() {
                    [] => format!("{label} takes no \"{key}\" image, only inputs.image."),
                    refs => format!(
                        "{label} takes no \"{key}\" image; its references are {}.",
                        refs.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                    ),
                },
            )),
            (_, serde_json::Value::Null) | (None, _) => {}
            (Some(slot), serde_json::Value::String(s)) if is_asset_hash(s) => {
                refs.push((key.clone(), slot, s.clone()))
            }
            (Some(slot), _) => errors.push(FieldError::new(
                &format!("inputs.{key}"),
                "invalid_asset",
                format!(
                    "inputs.{key} ({}) must be the id of an uploaded asset (64 hex characters).",
                    slot.label()
                ),
            )),
        }
    }
    let params = tool.map(|t| params_for(t, &req.params, &mut errors));
    match (tool, image, params) {
        (Some(tool), image, Some(params))
            if errors.is_empty() && (image.is_some() || prompt_only) =>
        {
            Ok(ValidGeneration {
                tool,
                image,
                options: typed_request(tool, &params),
                params,
                refs,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn req(v: serde_json::Value) -> GenerationRequest {
        serde_json::from_value(v).unwrap()
    }

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn created_faces_and_models_iterate_in_edit() {
        assert_eq!(Tool::CreateFace.iteration_tool(), Tool::Edit);
        assert_eq!(Tool::CreateModel.iteration_tool(), Tool::Edit);
        assert_eq!(Tool::Packshot.iteration_tool(), Tool::Packshot);
        // Edit takes the result as its image and a prompt.
        assert_eq!(Tool::Edit.main_slot(), Some(crate::catalog::Slot::Image));
        assert_eq!(
            crate::catalog::spec(Tool::Edit).prompt,
            crate::catalog::PromptSupport::Required
        );
    }

    #[test]
    fn a_created_face_is_carried_as_the_face_reference_a_model_as_the_model() {
        use crate::catalog::Slot;
        assert_eq!(
            Tool::CreateFace.carry_slot(Tool::ProductToModel),
            Some(Slot::FaceReference)
        );
        assert_eq!(
            Tool::CreateFace.carry_slot(Tool::FaceSwap),
            Some(Slot::FaceReference)
        );
        assert_eq!(
            Tool::CreateFace.carry_slot(Tool::CreateModel),
            Some(Slot::FaceReference)
        );
        assert_eq!(Tool::CreateModel.carry_slot(Tool::TryOn), Some(Slot::Model));
        assert_eq!(
            Tool::CreateModel.carry_slot(Tool::ProductToModel),
            Some(Slot::Model)
        );
        assert_eq!(Tool::CreateModel.carry_slot(Tool::Edit), Some(Slot::Image));
        assert_eq!(
            Tool::ProductToModel.carry_slot(Tool::Upscale),
            Some(Slot::Image)
        );
        // Every documented next step has a slot for the result.
        for t in Tool::ALL {
            for n in crate::catalog::spec(t).where_next {
                assert!(t.carry_slot(*n).is_some(), "{t:?} -> {n:?}");
            }
        }
    }

    #[test]
    fn product_to_model_takes_three_products_background_face_and_a_match_mode() {
        let v = validate_generation_with(&req(json!({"tool":"product-to-model",
            "inputs":{"image":H,"product_image_2":H,"product_image_3":H,"background_reference":H,"face_reference":H},
            "params":{"face_match":"match_base"}})), &|_| true)
        .unwrap();
        let slots: Vec<_> = v.refs.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(slots.len(), 4, "{slots:?}");
        assert_eq!(v.params["face_match"], "match_base");
        let e = validate_generation_with(
            &req(json!({"tool":"product-to-model",
            "inputs":{"image":H,"product_image_4":H}})),
            &|_| true,
        )
        .unwrap_err();
        assert_eq!(e[0].path, "inputs.product_image_4");
        let e = validate_generation_with(
            &req(json!({"tool":"model-swap",
            "inputs":{"image":H},"params":{"face_match":"sideways"}})),
            &|_| true,
        )
        .unwrap_err();
        assert_eq!(e[0].path, "params.face_match");
        // Edit's mask is an input of its own.
        assert!(validate_generation_with(
            &req(json!({"tool":"edit","inputs":{"image":H,"mask":H},"params":{"prompt":"red"}})),
            &|_| true
        )
        .is_ok());
    }

    #[test]
    fn ids_round_trip() {
        for t in Tool::ALL {
            assert_eq!(Tool::from_id(t.id()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.id()));
        }
    }

    #[test]
    fn valid_transparent_and_solid() {
        let v = validate_generation(&req(
            json!({"tool":"background-remove","inputs":{"image":H}}),
        ))
        .unwrap();
        assert_eq!(v.params["background"], "transparent");
        let v = validate_generation(&req(
            json!({"tool":"background-remove","inputs":{"image":H},
            "params":{"background":"solid","color":"#FF8800"}}),
        ))
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(v.params.clone()),
            json!({"background":"solid","color":"#ff8800"})
        );
        let r = v.request(100, 100);
        assert_eq!(
            r.background,
            Some(Background::Solid {
                color: Rgb([255, 136, 0])
            })
        );
        let u = validate_generation(&req(json!({"tool":"upscale","inputs":{"image":H}}))).unwrap();
        assert_eq!(u.params["factor"], "2x", "Upscale defaults to 2x");
        let e = validate_generation(&req(json!({"tool":"upscale","inputs":{"image":H},
            "params":{"factor":"8x","background":"solid"}})))
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["params.background", "params.factor"]);
    }

    #[test]
    fn every_problem_at_once() {
        let e = validate_generation(&req(
            json!({"tool":"background-remove","params":{"background":"solid","color":"red"}}),
        ))
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["inputs.image", "params.color"]);
        let e = validate_generation(&req(json!({"tool":"teleport","inputs":{"image":"x"}})))
            .unwrap_err();
        assert_eq!(e[0].code, "unknown_tool");
        assert_eq!(e[1].code, "invalid_asset");
    }

    #[test]
    fn packshot_and_video_take_their_generic_options_and_references() {
        use crate::catalog::{validate, AspectRatio, Context, Slot};
        use crate::pricing::{Duration, Mode, Resolution, Surface, VideoResolution};
        let v = validate_generation(&req(json!({"tool":"packshot",
            "inputs":{"image":H,"image_context":H},
            "params":{"prompt":"flat-lay on light grey","num_images":3,"aspect_ratio":"4:5",
                      "resolution":"2k","generation_mode":"fast"}})))
        .unwrap();
        assert_eq!(
            v.refs,
            vec![(
                "image_context".to_string(),
                Slot::ImageContext,
                H.to_string()
            )]
        );
        let mut r = v.request(1000, 1500);
        assert_eq!(r.prompt.as_deref(), Some("flat-lay on light grey"));
        add_reference(&mut r, Slot::ImageContext, 800, 800);
        let ctx = Context {
            surface: Surface::App,
            plan: None,
        };
        let res = validate(Tool::Packshot, &r, ctx).unwrap();
        assert_eq!(res.outputs, 3);
        assert_eq!(res.aspect_ratio(), Some(AspectRatio::R4x5));
        assert_eq!(res.resolution(), Some(Resolution::K2));
        assert_eq!(res.mode(), Some(Mode::Fast));

        let v = validate_generation(&req(json!({"tool":"image-to-video",
            "inputs":{"image":H,"end_image":H},
            "params":{"duration":"10","video_resolution":"1080p","prompt":"slow push in"}})))
        .unwrap();
        let mut r = v.request(720, 1280);
        add_reference(&mut r, Slot::EndImage, 720, 1280);
        let res = validate(Tool::ImageToVideo, &r, ctx).unwrap();
        assert_eq!(res.duration(), Some(Duration::S10));
        assert_eq!(res.video_resolution(), Some(VideoResolution::P1080));

        // Prompt-only tools take no main image (when an engine, e.g. an upstream, runs them).
        let body = req(json!({"tool":"create-face","params":{"prompt":"woman in her 30s"}}));
        let v = validate_generation_with(&body, &|_| true).unwrap();
        assert_eq!(v.image, None);
        let r = v.request(0, 0);
        assert!(r.images.is_empty());
        validate(Tool::CreateFace, &r, ctx).unwrap();
        let e = validate_generation_with(
            &req(json!({"tool":"create-face","inputs":{"image":H},"params":{"prompt":"p"}})),
            &|_| true,
        )
        .unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].code.as_str()),
            ("inputs.image", "not_supported")
        );
        let v = validate_generation_with(
            &req(json!({"tool":"create-model","inputs":{"face_reference":H},"params":{"prompt":"p"}})),
            &|_| true,
        )
        .unwrap();
        assert_eq!(v.refs.len(), 1);
        // Without an engine they are refused, as before.
        assert!(validate_generation_with(&body, &|t| t != Tool::CreateFace).is_err());
        // Try-On: the main image is the model image; the product image is a reference.
        let v = validate_generation(&req(json!({"tool":"try-on",
            "inputs":{"image":H,"product_image":H},
            "params":{"num_images":2,"category":"tops"}})))
        .unwrap();
        let mut r = v.request(512, 768);
        assert!(
            validate(Tool::TryOn, &r, ctx).is_err(),
            "the product image is required"
        );
        add_reference(&mut r, Slot::Product, 576, 864);
        let res = validate(Tool::TryOn, &r, ctx).unwrap();
        assert_eq!(res.outputs, 2);
        assert_eq!(res.category(), Some(crate::catalog::Category::Tops));
    }

    #[test]
    fn generic_options_are_checked_by_name_and_type() {
        let e = validate_generation(&req(json!({"tool":"packshot",
            "inputs":{"image":H,"end_image":H,"image_context":"nope"},
            "params":{"num_images":"two","aspect_ratio":"21:9","resolution":"8k",
                      "duration":"5","factor":"2x"}})))
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "inputs.end_image",
                "inputs.image_context",
                "params.duration",
                "params.factor",
                "params.num_images",
                "params.aspect_ratio",
                "params.resolution"
            ]
        );
        assert!(
            e[0].message.contains("Packshot takes no \"end_image\""),
            "{}",
            e[0].message
        );
        let ar = e.iter().find(|e| e.path == "params.aspect_ratio").unwrap();
        assert!(ar.message.contains("4:5"), "{}", ar.message);
        let e = validate_generation(&req(json!({"tool":"image-to-video","inputs":{"image":H},
            "params":{"video_resolution":"4k","duration":7}})))
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["params.duration", "params.video_resolution"]);
    }
}
