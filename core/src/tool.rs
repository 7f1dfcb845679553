//! The Studio's tools and their parameters. The walking skeleton runs Background Remove; the
//! catalog names all twelve so the app and the edge agree on ids from the start.

use serde::{Deserialize, Serialize};

/// The twelve Studio tools. `id` is the Studio's id; `api_name` the Developer API's `model_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    ProductToModel,
    TryOn,
    Packshot,
    ModelSwap,
    CreateModel,
    CreateFace,
    Edit,
    Reframe,
    BackgroundRemove,
    FaceSwap,
    Upscale,
    ImageToVideo,
}

impl Tool {
    pub const ALL: [Tool; 12] = [
        Tool::ProductToModel,
        Tool::TryOn,
        Tool::Packshot,
        Tool::ModelSwap,
        Tool::CreateModel,
        Tool::CreateFace,
        Tool::Edit,
        Tool::Reframe,
        Tool::BackgroundRemove,
        Tool::FaceSwap,
        Tool::Upscale,
        Tool::ImageToVideo,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Tool::ProductToModel => "product-to-model",
            Tool::TryOn => "try-on",
            Tool::Packshot => "packshot",
            Tool::ModelSwap => "model-swap",
            Tool::CreateModel => "create-model",
            Tool::CreateFace => "create-face",
            Tool::Edit => "edit",
            Tool::Reframe => "reframe",
            Tool::BackgroundRemove => "background-remove",
            Tool::FaceSwap => "face-swap",
            Tool::Upscale => "upscale",
            Tool::ImageToVideo => "image-to-video",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tool::ProductToModel => "Product to Model",
            Tool::TryOn => "Try-On",
            Tool::Packshot => "Packshot",
            Tool::ModelSwap => "Model Swap",
            Tool::CreateModel => "Create Model",
            Tool::CreateFace => "Create Face",
            Tool::Edit => "Edit",
            Tool::Reframe => "Reframe",
            Tool::BackgroundRemove => "Background Remove",
            Tool::FaceSwap => "Face Swap",
            Tool::Upscale => "Upscale",
            Tool::ImageToVideo => "Image to Video",
        }
    }

    pub fn from_id(id: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.id() == id)
    }

    /// Whether this installation's skeleton can run the tool end to end.
    pub fn runnable(self) -> bool {
        matches!(self, Tool::BackgroundRemove)
    }
}

/// One problem with a request: where (`path`), what (`code`), and what to do (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub path: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Background Remove's output: transparent (alpha PNG) or filled with a solid color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "background", rename_all = "lowercase")]
pub enum Background {
    Transparent,
    Solid { color: Rgb },
}

/// An sRGB color, written `#rrggbb` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    pub fn parse(s: &str) -> Option<Rgb> {
        let h = s.strip_prefix('#')?;
        if h.len() != 6 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Rgb([v(0)?, v(2)?, v(4)?]))
    }

    pub fn to_hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rgb::parse(&s).ok_or_else(|| serde::de::Error::custom("expected a color like #ffffff"))
    }
}

/// Validated parameters of Background Remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackgroundRemoveParams {
    #[serde(flatten)]
    pub background: Background,
}

/// A generation request as the Studio sends it: `{tool, inputs: {image}, params: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub tool: String,
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidGeneration {
    pub tool: Tool,
    /// The content hash of the input image asset.
    pub image: String,
    pub params: BackgroundRemoveParams,
}

fn is_asset_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Validates a Studio generation request and returns every problem at once.
pub fn validate_generation(req: &GenerationRequest) -> Result<ValidGeneration, Vec<FieldError>> {
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
        Some(t) if !t.runnable() => {
            errors.push(FieldError::new(
                "tool",
                "tool_unavailable",
                format!("{} is not available on this installation yet.", t.label()),
            ));
            None
        }
        Some(t) => Some(t),
    };
    let image = match req.inputs.get("image") {
        None | Some(serde_json::Value::Null) => {
            errors.push(FieldError::new(
                "inputs.image",
                "required",
                "Background Remove needs an image. Upload one first.",
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
    let background = match req.params.get("background").and_then(|v| v.as_str()) {
        None | Some("transparent") => {
            if req.params.get("background").is_some_and(|v| !v.is_string()) {
                errors.push(FieldError::new(
                    "params.background",
                    "invalid_choice",
                    "background must be \"transparent\" or \"solid\".",
                ));
            }
            Some(Background::Transparent)
        }
        Some("solid") => match req.params.get("color").and_then(|v| v.as_str()) {
            Some(c) => match Rgb::parse(c) {
                Some(color) => Some(Background::Solid { color }),
                None => {
                    errors.push(FieldError::new(
                        "params.color",
                        "invalid_color",
                        format!("\"{c}\" is not a color; write it as #rrggbb, e.g. #ffffff."),
                    ));
                    None
                }
            },
            None => {
                errors.push(FieldError::new(
                    "params.color",
                    "required",
                    "A solid background needs a color, e.g. #ffffff.",
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::new(
                "params.background",
                "invalid_choice",
                format!("background must be \"transparent\" or \"solid\", not \"{other}\"."),
            ));
            None
        }
    };
    match (tool, image, background) {
        (Some(tool), Some(image), Some(background)) if errors.is_empty() => Ok(ValidGeneration {
            tool,
            image,
            params: BackgroundRemoveParams { background },
        }),
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
        assert_eq!(v.params.background, Background::Transparent);
        let v = validate_generation(&req(
            json!({"tool":"background-remove","inputs":{"image":H},
            "params":{"background":"solid","color":"#FF8800"}}),
        ))
        .unwrap();
        assert_eq!(
            v.params.background,
            Background::Solid {
                color: Rgb([255, 136, 0])
            }
        );
        assert_eq!(
            serde_json::to_value(v.params).unwrap(),
            json!({"background":"solid","color":"#ff8800"})
        );
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
}
