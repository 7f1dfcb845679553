//! The Studio's twelve tools (ids and names), field errors, and Background Remove's colours:
//! the words every other module uses. It imports no other module of core (the tools' slots and
//! rules are `catalog`'s, the Studio body's parser is `studio`'s).

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
}

/// One problem with a request: where (`path`), what (`code`), and what to do (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub path: String,
    pub code: String,
    pub message: String,
}

/// The problems' messages as one sentence list (for error bodies that carry one message).
pub fn messages(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join(" ")
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
