//! The tool catalog: every Studio tool and every Developer API model, their inputs, options,
//! limits and documented rules; validation that returns every problem at once; and the quote
//! (credits with a line-by-line breakdown). `validate` returns the typed `Resolved` (one
//! `Options` variant per tool, every default from `defaults` applied) that the edge stores and
//! the node's engines read as is. The app shows these before Run; the edge enforces the same
//! functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::pricing::{
    face_reference_cost, image_cost, video_cost, Duration, Mode, Plan, Resolution, Surface,
    VideoResolution,
};
use crate::tool::{Background, FieldError, Rgb, Tool};

/// Aspect ratios. The Studio lists nine; the API also accepts 21:9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AspectRatio {
    #[serde(rename = "21:9")]
    R21x9,
    #[serde(rename = "16:9")]
    R16x9,
    #[serde(rename = "5:4")]
    R5x4,
    #[serde(rename = "4:3")]
    R4x3,
    #[serde(rename = "3:2")]
    R3x2,
    #[serde(rename = "1:1")]
    R1x1,
    #[serde(rename = "2:3")]
    R2x3,
    #[serde(rename = "3:4")]
    R3x4,
    #[serde(rename = "4:5")]
    R4x5,
    #[serde(rename = "9:16")]
    R9x16,
}

impl AspectRatio {
    /// The Studio's nine ratios, in Product to Model's order.
    pub const STUDIO: [AspectRatio; 9] = [
        AspectRatio::R1x1,
        AspectRatio::R3x4,
        AspectRatio::R4x3,
        AspectRatio::R9x16,
        AspectRatio::R16x9,
        AspectRatio::R2x3,
        AspectRatio::R3x2,
        AspectRatio::R4x5,
        AspectRatio::R5x4,
    ];
    /// Reframe's order in the docs.
    pub const REFRAME: [AspectRatio; 9] = [
        AspectRatio::R16x9,
        AspectRatio::R5x4,
        AspectRatio::R4x3,
        AspectRatio::R3x2,
        AspectRatio::R1x1,
        AspectRatio::R2x3,
        AspectRatio::R3x4,
        AspectRatio::R4x5,
        AspectRatio::R9x16,
    ];

    pub fn parse(s: &str) -> Option<AspectRatio> {
        serde_json::from_value(Value::String(s.into())).ok()
    }

    pub fn label(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// width / height
    pub fn value(self) -> f64 {
        let l = self.label();
        let (w, h) = l.split_once(':').unwrap_or(("1", "1"));
        w.parse::<f64>().unwrap_or(1.0) / h.parse::<f64>().unwrap_or(1.0)
    }
}

/// Image inputs a tool can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// The image the tool works on (source, base image, on-model photo…).
    Image,
    /// Product images (Product to Model: up to 3; Try-On and Packshot: 1).
    Product,
    /// The person (Try-On's model image).
    Model,
    FaceReference,
    ImagePrompt,
    BackgroundReference,
    /// Edit's and Packshot's Image Context.
    ImageContext,
    PoseReference,
    EndImage,
    /// Edit's mask (white = edit, black = keep).
    Mask,
}

impl Slot {
    pub fn label(self) -> &'static str {
        match self {
            Slot::Image => "image",
            Slot::Product => "product image",
            Slot::Model => "model image",
            Slot::FaceReference => "Face Reference",
            Slot::ImagePrompt => "Image Prompt",
            Slot::BackgroundReference => "Background reference",
            Slot::ImageContext => "Image Context",
            Slot::PoseReference => "Pose reference",
            Slot::EndImage => "End Image",
            Slot::Mask => "mask",
        }
    }

    pub fn field(self) -> String {
        format!(
            "inputs.{}",
            serde_json::to_value(self)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )
    }
}

/// What a tool's slots mean for the Studio: its main image, the references a body may name,
/// where a result goes next.
impl Tool {
    /// The slot its main image (`inputs.image`) fills: the first of Image, Product, Model in
    /// its spec; None for tools that make images from a prompt (Create Model, Create Face).
    pub fn main_slot(self) -> Option<Slot> {
        use Slot;
        spec(self)
            .slots
            .iter()
            .map(|s| s.slot)
            .find(|s| matches!(s, Slot::Image | Slot::Product | Slot::Model))
    }

    /// The tool the result screen's "What would you like to change?" runs: the same tool on the
    /// same inputs, except after Create Face and Create Model, whose results open in Edit (a
    /// variation of that face or model: "three-quarter view", "slight smile").
    pub fn iteration_tool(self) -> Tool {
        match self {
            Tool::CreateFace | Tool::CreateModel => Tool::Edit,
            t => t,
        }
    }

    /// Where a result of this tool goes when the suggestion bar carries it into `next`: a face
    /// (Create Face) becomes the next tool's Face Reference, a model (Create Model) its model
    /// image where it has one; anything else is the next tool's main image.
    pub fn carry_slot(self, next: Tool) -> Option<Slot> {
        use Slot;
        let has = |slot: Slot| spec(next).slots.iter().any(|s| s.slot == slot);
        match self {
            Tool::CreateFace if has(Slot::FaceReference) => Some(Slot::FaceReference),
            Tool::CreateModel if has(Slot::Model) => Some(Slot::Model),
            _ => next.main_slot(),
        }
    }

    /// The reference images a Studio generation of this tool may name besides `inputs.image`:
    /// (field in `inputs`, slot). Each is an asset hash.
    pub fn studio_refs(self) -> &'static [(&'static str, Slot)] {
        use Slot;
        match self {
            Tool::Packshot => &[("image_context", Slot::ImageContext)],
            Tool::ImageToVideo => &[("end_image", Slot::EndImage)],
            Tool::FaceSwap => &[("face_reference", Slot::FaceReference)],
            Tool::TryOn => &[("product_image", Slot::Product)],
            // The 2nd and 3rd products (the first is `inputs.image`).
            Tool::ProductToModel => &[
                ("product_image_2", Slot::Product),
                ("product_image_3", Slot::Product),
                ("model_image", Slot::Model),
                ("image_prompt", Slot::ImagePrompt),
                ("background_reference", Slot::BackgroundReference),
                ("face_reference", Slot::FaceReference),
            ],
            Tool::ModelSwap => &[("face_reference", Slot::FaceReference)],
            Tool::Edit => &[("image_context", Slot::ImageContext), ("mask", Slot::Mask)],
            Tool::CreateModel => &[
                ("face_reference", Slot::FaceReference),
                ("pose_reference", Slot::PoseReference),
            ],
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlotSpec {
    pub slot: Slot,
    pub min: u8,
    pub max: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSupport {
    None,
    Optional,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Generate,
    Refine,
    EnhanceAndAnimate,
}

/// How a tool is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Pricing {
    /// Mode × resolution table; `face_reference`: the Face Reference surcharge applies.
    Image {
        face_reference: bool,
    },
    /// A fixed number of credits per output.
    Fixed {
        credits: u32,
    },
    Video,
}

/// Everything the Studio and the edge need to know about a tool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ToolSpec {
    pub tool: Tool,
    pub group: Group,
    pub slots: &'static [SlotSpec],
    pub prompt: PromptSupport,
    pub prompt_placeholder: &'static str,
    pub max_outputs: u8,
    /// Empty: the tool has no aspect-ratio option.
    pub aspect_ratios: &'static [AspectRatio],
    pub resolutions: bool,
    /// Empty: the tool has no mode option.
    pub modes: &'static [Mode],
    pub pricing: Pricing,
    /// The documented "Where Next?" suggestions.
    pub where_next: &'static [Tool],
    /// The plan a tool needs (Create Face: Agency).
    pub plan: Option<Plan>,
}

const fn s(slot: Slot, min: u8, max: u8) -> SlotSpec {
    SlotSpec { slot, min, max }
}
const ALL_MODES: &[Mode] = &[Mode::Fast, Mode::Balanced, Mode::Quality];
const NO_FAST: &[Mode] = &[Mode::Balanced, Mode::Quality];

pub fn spec(tool: Tool) -> ToolSpec {
    use Slot::*;
    use Tool as T;
    let base = ToolSpec {
        tool,
        group: Group::Generate,
        slots: const { &[] },
        prompt: PromptSupport::None,
        prompt_placeholder: "",
        max_outputs: 1,
        aspect_ratios: &[],
        resolutions: false,
        modes: &[],
        pricing: Pricing::Image {
            face_reference: false,
        },
        where_next: &[],
        plan: None,
    };
    match tool {
        T::ProductToModel => ToolSpec {
            slots: const {
                &[
                    s(Product, 1, 3),
                    s(Model, 0, 1),
                    s(ImagePrompt, 0, 1),
                    s(BackgroundReference, 0, 1),
                    s(FaceReference, 0, 1),
                ]
            },
            prompt: PromptSupport::Optional,
            prompt_placeholder: "Describe the model, pose and scene (optional)",
            max_outputs: 4,
            aspect_ratios: &AspectRatio::STUDIO,
            resolutions: true,
            modes: ALL_MODES,
            pricing: Pricing::Image {
                face_reference: true,
            },
            where_next: &[T::Upscale, T::Edit, T::Reframe, T::ImageToVideo],
            ..base
        },
        T::TryOn => ToolSpec {
            slots: const { &[s(Model, 1, 1), s(Product, 1, 1)] },
            prompt: PromptSupport::Optional,
            prompt_placeholder: "Styling, e.g. \"tucked shirt\", \"open jacket\" (optional)",
            max_outputs: 4,
            resolutions: true,
            modes: NO_FAST,
            where_next: &[T::Upscale, T::Reframe, T::ImageToVideo],
            ..base
        },
        T::Packshot => ToolSpec {
            slots: const { &[s(Image, 1, 1), s(ImageContext, 0, 1)] },
            prompt: PromptSupport::Optional,
            prompt_placeholder: "Style, e.g. \"flat-lay on light grey\" (default: ghost mannequin)",
            max_outputs: 4,
            aspect_ratios: &AspectRatio::STUDIO,
            resolutions: true,
            modes: ALL_MODES,
            where_next: &[T::Edit, T::Upscale, T::Reframe, T::ImageToVideo],
            ..base
        },
        T::ModelSwap => ToolSpec {
            slots: const { &[s(Image, 1, 1), s(FaceReference, 0, 1)] },
            prompt: PromptSupport::Optional,
            prompt_placeholder: "Describe the new model (optional)",
            max_outputs: 4,
            resolutions: true,
            modes: ALL_MODES,
            pricing: Pricing::Image {
                face_reference: true,
            },
            where_next: &[T::Upscale, T::Edit, T::Reframe, T::ImageToVideo],
            ..base
        },
        T::CreateModel => ToolSpec {
            slots: const { &[s(FaceReference, 0, 1), s(PoseReference, 0, 1)] },
            prompt: PromptSupport::Required,
            prompt_placeholder:
                "Describe the model: age, body type, expression, styling and lighting",
            max_outputs: 4,
            resolutions: true,
            modes: ALL_MODES,
            pricing: Pricing::Image {
                face_reference: true,
            },
            where_next: &[T::TryOn, T::ProductToModel, T::Edit, T::Upscale],
            ..base
        },
        T::CreateFace => ToolSpec {
            prompt: PromptSupport::Required,
            prompt_placeholder: "Describe the face, e.g. \"woman in her 30s, short curly hair\"",
            max_outputs: 4,
            resolutions: true,
            modes: ALL_MODES,
            where_next: &[T::ProductToModel, T::ModelSwap, T::CreateModel, T::FaceSwap],
            plan: Some(Plan::Agency),
            ..base
        },
        T::Edit => ToolSpec {
            group: Group::Refine,
            slots: const { &[s(Image, 1, 1), s(ImageContext, 0, 1), s(Mask, 0, 1)] },
            prompt: PromptSupport::Required,
            prompt_placeholder: "What would you like to change?",
            max_outputs: 4,
            resolutions: true,
            modes: ALL_MODES,
            where_next: &[
                T::Upscale,
                T::Reframe,
                T::BackgroundRemove,
                T::FaceSwap,
                T::ImageToVideo,
            ],
            ..base
        },
        T::Reframe => ToolSpec {
            group: Group::Refine,
            slots: const { &[s(Image, 1, 1)] },
            aspect_ratios: &AspectRatio::REFRAME,
            where_next: &[T::Upscale, T::ImageToVideo],
            max_outputs: 4,
            ..base
        },
        T::BackgroundRemove => ToolSpec {
            group: Group::Refine,
            slots: const { &[s(Image, 1, 1)] },
            pricing: Pricing::Fixed {
                credits: crate::pricing::APP_BACKGROUND_REMOVE,
            },
            where_next: &[T::Edit],
            ..base
        },
        T::FaceSwap => ToolSpec {
            group: Group::Refine,
            slots: const { &[s(Image, 1, 1), s(FaceReference, 1, 1)] },
            pricing: Pricing::Fixed {
                credits: crate::pricing::APP_FACE_SWAP,
            },
            where_next: &[T::Upscale, T::Edit, T::Reframe, T::ImageToVideo],
            ..base
        },
        T::Upscale => ToolSpec {
            group: Group::EnhanceAndAnimate,
            slots: const { &[s(Image, 1, 1)] },
            pricing: Pricing::Fixed {
                credits: crate::pricing::APP_UPSCALE,
            },
            ..base
        },
        T::ImageToVideo => ToolSpec {
            group: Group::EnhanceAndAnimate,
            slots: const { &[s(Image, 1, 1), s(EndImage, 0, 1)] },
            prompt: PromptSupport::Optional,
            prompt_placeholder:
                "Motion, e.g. \"touch fabric\", \"subtle camera pan\" (optional; often best empty)",
            pricing: Pricing::Video,
            ..base
        },
    }
}

/// Face Swap's and Face Reference's match mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceMatch {
    /// Keep the reference's expression, head angle and gaze (the default).
    MatchReference,
    /// Adapt to the current model's direction and expression (API: `match_base`).
    #[serde(alias = "match_current_model")]
    MatchBase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpscaleFactor {
    #[serde(rename = "2x")]
    X2,
    #[serde(rename = "4x")]
    X4,
    #[serde(rename = "enhance")]
    Enhance,
}

/// Try-On garment category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Auto,
    Tops,
    Bottoms,
    OnePieces,
}

/// Where a Face Reference comes from: the shared FASHN Faces-style library, or the user's own
/// upload (Agency only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    #[default]
    Upload,
    Library,
}

/// The starter libraries an installation offers every account as quick-picks: faces for a
/// Face Reference, backgrounds for a Background reference, packshot references for Packshot's
/// Image Context, models for a model image. A library face needs no plan to use (uploading your
/// own Face Reference is the Agency plan's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibraryKind {
    Face,
    Background,
    PackshotReference,
    Model,
}

impl LibraryKind {
    pub const ALL: [LibraryKind; 4] = [
        LibraryKind::Face,
        LibraryKind::Background,
        LibraryKind::PackshotReference,
        LibraryKind::Model,
    ];

    pub fn id(self) -> &'static str {
        match self {
            LibraryKind::Face => "face",
            LibraryKind::Background => "background",
            LibraryKind::PackshotReference => "packshot-reference",
            LibraryKind::Model => "model",
        }
    }

    pub fn from_id(id: &str) -> Option<LibraryKind> {
        LibraryKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The picker's name for it.
    pub fn label(self) -> &'static str {
        match self {
            LibraryKind::Face => "Starter Faces",
            LibraryKind::Background => "Starter Backgrounds",
            LibraryKind::PackshotReference => "Packshot References",
            LibraryKind::Model => "Starter Models",
        }
    }

    /// Which library a tool's slot picks from, if any.
    pub fn for_slot(tool: Tool, slot: Slot) -> Option<LibraryKind> {
        match slot {
            Slot::FaceReference => Some(LibraryKind::Face),
            Slot::BackgroundReference => Some(LibraryKind::Background),
            Slot::ImageContext if tool == Tool::Packshot => Some(LibraryKind::PackshotReference),
            Slot::Model => Some(LibraryKind::Model),
            _ => None,
        }
    }
}

/// One image input; its size is known once uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageInput {
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[serde(default)]
    pub source: ImageSource,
}

/// A request for any tool, in one shape for the Studio and the API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolRequest {
    pub images: BTreeMap<Slot, Vec<ImageInput>>,
    pub prompt: Option<String>,
    pub num_outputs: Option<u8>,
    pub aspect_ratio: Option<AspectRatio>,
    /// None: Auto.
    pub resolution: Option<Resolution>,
    /// None: Auto.
    pub mode: Option<Mode>,
    pub face_match: Option<FaceMatch>,
    pub upscale: Option<UpscaleFactor>,
    pub duration: Option<Duration>,
    pub video_resolution: Option<VideoResolution>,
    pub background: Option<Background>,
    pub category: Option<Category>,
    /// The input's size when no image is attached (quotes): `inputs.width` × `inputs.height`.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl ToolRequest {
    /// Sets the size of the tool's main image (the first image of its main slot; none for
    /// prompt-only tools) once it is known.
    pub fn set_main_size(&mut self, tool: Tool, width: u32, height: u32) {
        if let Some(first) = tool
            .main_slot()
            .and_then(|s| self.images.get_mut(&s))
            .and_then(|v| v.first_mut())
        {
            (first.width, first.height) = (Some(width), Some(height));
        }
    }
}

/// Who is asking: the surface prices and validates; the plan gates (None: no gate check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub surface: Surface,
    pub plan: Option<Plan>,
}

/// The value every option takes when it is left out: the one place that knows them. The app's
/// controls start from these, the edge stores what [`validate`] resolves with them, and the
/// node's engines receive them already applied (they never default anything themselves).
pub mod defaults {
    use super::{Category, FaceMatch, UpscaleFactor};
    use crate::pricing::{Duration, VideoResolution};
    use crate::tool::Background;

    pub const OUTPUTS: u8 = 1;
    pub const BACKGROUND: Background = Background::Transparent;
    pub const UPSCALE: UpscaleFactor = UpscaleFactor::X2;
    pub const DURATION: Duration = Duration::S5;
    pub const VIDEO_RESOLUTION: VideoResolution = VideoResolution::P720;
    /// With an End Image the resolution is locked to 1080p.
    pub const VIDEO_RESOLUTION_WITH_END_IMAGE: VideoResolution = VideoResolution::P1080;
    pub const FACE_MATCH: FaceMatch = FaceMatch::MatchReference;
    pub const CATEGORY: Category = Category::Auto;
}

/// The options of the image tools priced by mode × resolution (Product to Model, Packshot,
/// Model Swap, Create Model, Create Face, Edit), every Auto resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOptions {
    pub resolution: Resolution,
    pub mode: Mode,
    /// The output's ratio; None keeps the main input's own ratio (what "Auto" means here).
    pub aspect_ratio: Option<AspectRatio>,
    /// Some exactly when a Face Reference is given: how it is matched.
    pub face_match: Option<FaceMatch>,
}

/// Try-On's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TryOnOptions {
    pub resolution: Resolution,
    pub mode: Mode,
    /// The output's ratio (tryon-max's field); None keeps the model photo's.
    pub aspect_ratio: Option<AspectRatio>,
    pub category: Category,
}

/// Reframe's options: the target ratio (required); priced 1K in its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReframeOptions {
    pub aspect_ratio: AspectRatio,
    pub resolution: Resolution,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackgroundRemoveOptions {
    pub background: Background,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceSwapOptions {
    pub face_match: FaceMatch,
    /// At most 2K.
    pub resolution: Resolution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpscaleOptions {
    pub factor: UpscaleFactor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoOptions {
    pub duration: Duration,
    pub resolution: VideoResolution,
}

/// One tool's resolved options: a variant per tool, nothing left to default. An engine matches
/// on this exhaustively, so a tool can only ever reach its own engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum Options {
    ProductToModel(ImageOptions),
    TryOn(TryOnOptions),
    Packshot(ImageOptions),
    ModelSwap(ImageOptions),
    CreateModel(ImageOptions),
    CreateFace(ImageOptions),
    Edit(ImageOptions),
    Reframe(ReframeOptions),
    BackgroundRemove(BackgroundRemoveOptions),
    FaceSwap(FaceSwapOptions),
    Upscale(UpscaleOptions),
    ImageToVideo(VideoOptions),
}

impl Options {
    pub fn tool(&self) -> Tool {
        match self {
            Options::ProductToModel(_) => Tool::ProductToModel,
            Options::TryOn(_) => Tool::TryOn,
            Options::Packshot(_) => Tool::Packshot,
            Options::ModelSwap(_) => Tool::ModelSwap,
            Options::CreateModel(_) => Tool::CreateModel,
            Options::CreateFace(_) => Tool::CreateFace,
            Options::Edit(_) => Tool::Edit,
            Options::Reframe(_) => Tool::Reframe,
            Options::BackgroundRemove(_) => Tool::BackgroundRemove,
            Options::FaceSwap(_) => Tool::FaceSwap,
            Options::Upscale(_) => Tool::Upscale,
            Options::ImageToVideo(_) => Tool::ImageToVideo,
        }
    }

    /// The image options of the mode × resolution tools.
    pub fn image(&self) -> Option<&ImageOptions> {
        match self {
            Options::ProductToModel(o)
            | Options::Packshot(o)
            | Options::ModelSwap(o)
            | Options::CreateModel(o)
            | Options::CreateFace(o)
            | Options::Edit(o) => Some(o),
            _ => None,
        }
    }
}

/// A request with every Auto resolved and every default applied, ready to price and run: what
/// the edge stores with a generation and hands the node as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub outputs: u8,
    /// On the wire the options sit beside `outputs`: `{"outputs": 2, "tool": "try-on", …}`.
    #[serde(flatten)]
    pub options: Options,
    /// Fixed cost per output on the API where it differs from the tool's (tryon-v1.6).
    #[serde(skip)]
    pub fixed_override: Option<u32>,
}

impl Resolved {
    pub fn tool(&self) -> Tool {
        self.options.tool()
    }

    /// The generation mode, for the tools that have one.
    pub fn mode(&self) -> Option<Mode> {
        match &self.options {
            Options::TryOn(o) => Some(o.mode),
            Options::Reframe(o) => Some(o.mode),
            o => o.image().map(|o| o.mode),
        }
    }

    /// The output resolution tier, for the tools that have one (Face Swap: at most 2K).
    pub fn resolution(&self) -> Option<Resolution> {
        match &self.options {
            Options::TryOn(o) => Some(o.resolution),
            Options::Reframe(o) => Some(o.resolution),
            Options::FaceSwap(o) => Some(o.resolution),
            o => o.image().map(|o| o.resolution),
        }
    }

    pub fn aspect_ratio(&self) -> Option<AspectRatio> {
        match &self.options {
            Options::TryOn(o) => o.aspect_ratio,
            Options::Reframe(o) => Some(o.aspect_ratio),
            o => o.image().and_then(|o| o.aspect_ratio),
        }
    }

    /// Face Swap's match mode, or a Face Reference's.
    pub fn face_match(&self) -> Option<FaceMatch> {
        match &self.options {
            Options::FaceSwap(o) => Some(o.face_match),
            o => o.image().and_then(|o| o.face_match),
        }
    }

    /// Whether a Face Reference joins the request (the surcharge applies where the tool's
    /// pricing says so).
    pub fn face_reference(&self) -> bool {
        self.options.image().is_some_and(|o| o.face_match.is_some())
    }

    pub fn upscale(&self) -> Option<UpscaleFactor> {
        match &self.options {
            Options::Upscale(o) => Some(o.factor),
            _ => None,
        }
    }

    pub fn duration(&self) -> Option<Duration> {
        match &self.options {
            Options::ImageToVideo(o) => Some(o.duration),
            _ => None,
        }
    }

    pub fn video_resolution(&self) -> Option<VideoResolution> {
        match &self.options {
            Options::ImageToVideo(o) => Some(o.resolution),
            _ => None,
        }
    }

    pub fn background(&self) -> Option<Background> {
        match &self.options {
            Options::BackgroundRemove(o) => Some(o.background),
            _ => None,
        }
    }

    pub fn category(&self) -> Option<Category> {
        match &self.options {
            Options::TryOn(o) => Some(o.category),
            _ => None,
        }
    }
}

fn err(path: &str, code: &str, msg: impl Into<String>) -> FieldError {
    FieldError::new(path, code, msg)
}

fn plan_name(p: Plan) -> &'static str {
    p.info().name
}

fn main_pixels(req: &ToolRequest) -> Option<u64> {
    let from_image = [Slot::Image, Slot::Model, Slot::Product]
        .iter()
        .filter_map(|s| req.images.get(s).and_then(|v| v.first()))
        .find_map(|i| Some(i.width? as u64 * i.height? as u64));
    from_image.or_else(|| Some(req.width? as u64 * req.height? as u64))
}

/// Auto resolution: the tier closest to the input's pixel count; text-only tools default to 1K.
pub fn auto_resolution(tool: Tool, req: &ToolRequest) -> Resolution {
    match tool {
        Tool::CreateModel | Tool::CreateFace => Resolution::K1,
        _ => main_pixels(req)
            .map(Resolution::closest_to)
            .unwrap_or(Resolution::K1),
    }
}

/// Auto mode: Fast or Balanced, never Quality. Balanced at 2K and above, for Try-On (which has
/// no Fast), and when reference images join the main input (multi-image requests, e.g. Packshot
/// or Edit with an Image Context); Fast otherwise.
pub fn auto_mode(tool: Tool, req: &ToolRequest, resolution: Resolution) -> Mode {
    let extra_images = req
        .images
        .iter()
        .filter(|(s, v)| !matches!(s, Slot::Image | Slot::Model | Slot::Mask) && !v.is_empty())
        .map(|(s, v)| {
            if *s == Slot::Product {
                v.len().saturating_sub(1)
            } else {
                v.len()
            }
        })
        .sum::<usize>();
    if tool == Tool::TryOn || resolution >= Resolution::K2 || extra_images > 0 {
        Mode::Balanced
    } else {
        Mode::Fast
    }
}

/// Validates a request for a tool; returns every problem at once, or the resolved request.
pub fn validate(tool: Tool, req: &ToolRequest, ctx: Context) -> Result<Resolved, Vec<FieldError>> {
    let sp = spec(tool);
    let mut e = vec![];
    let gates = ctx.surface == Surface::App;
    let plan_ok = |need: Plan| !gates || ctx.plan.is_none_or(|p| p >= need);
    if let Some(need) = sp.plan {
        if !plan_ok(need) {
            e.push(err(
                "tool",
                "plan_required",
                format!("{} requires the {} plan.", tool.label(), plan_name(need)),
            ));
        }
    }
    // Images.
    for (slot, imgs) in &req.images {
        if !imgs.is_empty() && !sp.slots.iter().any(|s| s.slot == *slot) {
            e.push(err(
                &slot.field(),
                "not_supported",
                format!("{} does not take a {}.", tool.label(), slot.label()),
            ));
        }
    }
    for ss in sp.slots {
        let n = req.images.get(&ss.slot).map_or(0, Vec::len);
        if n < ss.min as usize {
            e.push(err(
                &ss.slot.field(),
                "required",
                format!(
                    "{} needs {} {}.",
                    tool.label(),
                    if ss.slot.label().starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "an"
                    } else {
                        "a"
                    },
                    ss.slot.label()
                ),
            ));
        } else if n > ss.max as usize {
            e.push(err(
                &ss.slot.field(),
                "too_many",
                format!(
                    "{} takes at most {} {}{}; remove {}.",
                    tool.label(),
                    ss.max,
                    ss.slot.label(),
                    if ss.max > 1 { "s" } else { "" },
                    n - ss.max as usize
                ),
            ));
        }
    }
    let face_reference = req
        .images
        .get(&Slot::FaceReference)
        .is_some_and(|v| !v.is_empty());
    if face_reference
        && tool != Tool::FaceSwap
        && req.images[&Slot::FaceReference]
            .iter()
            .any(|i| i.source == ImageSource::Upload)
        && !plan_ok(Plan::Agency)
    {
        e.push(err("inputs.face_reference", "plan_required", "Uploading your own Face Reference requires the Agency plan; pick one from the face library instead."));
    }
    // Prompt.
    let prompt = req
        .prompt
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    match (sp.prompt, prompt) {
        (PromptSupport::Required, None) => e.push(err(
            "prompt",
            "required",
            format!(
                "{} needs a prompt: {}.",
                tool.label(),
                sp.prompt_placeholder.trim_end_matches('.')
            ),
        )),
        (PromptSupport::None, Some(_)) => e.push(err(
            "prompt",
            "not_supported",
            format!("{} does not take a prompt.", tool.label()),
        )),
        _ => {}
    }
    if req
        .prompt
        .as_ref()
        .is_some_and(|p| p.chars().count() > 2000)
    {
        e.push(err(
            "prompt",
            "too_long",
            "Keep the prompt under 2,000 characters; one to three sentences work best.",
        ));
    }
    // Outputs.
    let outputs = req.num_outputs.unwrap_or(defaults::OUTPUTS);
    if outputs < 1 || outputs > sp.max_outputs {
        let msg = if sp.max_outputs == 1 {
            format!("{} makes one output per run.", tool.label())
        } else {
            format!("Number of outputs must be 1 to {}.", sp.max_outputs)
        };
        e.push(err("num_outputs", "out_of_range", msg));
    }
    // Aspect ratio.
    // On the API, which models take aspect_ratio is decided by their field lists (AR10 on all).
    if let Some(ar) = req.aspect_ratio.filter(|_| ctx.surface == Surface::App) {
        let ok = sp.aspect_ratios.contains(&ar)
            || (ctx.surface == Surface::Api
                && ar == AspectRatio::R21x9
                && !sp.aspect_ratios.is_empty());
        if sp.aspect_ratios.is_empty() && tool != Tool::Reframe {
            e.push(err(
                "aspect_ratio",
                "not_supported",
                format!("{} has no aspect ratio option.", tool.label()),
            ));
        } else if !ok {
            let list: Vec<String> = sp.aspect_ratios.iter().map(|a| a.label()).collect();
            e.push(err(
                "aspect_ratio",
                "invalid_choice",
                format!(
                    "{} is not offered; choose one of {}.",
                    ar.label(),
                    list.join(", ")
                ),
            ));
        }
    } else if tool == Tool::Reframe && req.aspect_ratio.is_none() {
        e.push(err(
            "aspect_ratio",
            "required",
            "Reframe needs a target aspect ratio.",
        ));
    }
    // Reframe to the ratio the image already has (within 2 %) is refused, as FASHN's API does.
    if let (Tool::Reframe, Some(ar)) = (tool, req.aspect_ratio) {
        let dims = req
            .images
            .get(&Slot::Image)
            .and_then(|v| v.first())
            .and_then(|i| Some((i.width?, i.height?)));
        if let Some((w, h)) = dims {
            if ((w as f64 / h as f64) / ar.value() - 1.0).abs() < 0.02 {
                e.push(err(
                    "aspect_ratio",
                    "already_matches",
                    format!("The image is already {}; choose another ratio.", ar.label()),
                ));
            }
        }
    }
    // Resolution.
    let mut resolution = None;
    if sp.resolutions || tool == Tool::FaceSwap {
        let r = req.resolution.unwrap_or_else(|| auto_resolution(tool, req));
        if tool == Tool::FaceSwap && r == Resolution::K4 {
            if req.resolution.is_some() {
                e.push(err(
                    "resolution",
                    "out_of_range",
                    "Face Swap outputs at most 2K.",
                ));
            }
            resolution = Some(Resolution::K2);
        } else {
            resolution = Some(r);
        }
    } else if tool == Tool::Reframe {
        resolution = Some(Resolution::K1);
    } else if req.resolution.is_some() {
        e.push(err(
            "resolution",
            "not_supported",
            format!("{} has no resolution option.", tool.label()),
        ));
    }
    // Mode.
    let mut mode = None;
    if !sp.modes.is_empty() || tool == Tool::Reframe {
        let r = resolution.unwrap_or(Resolution::K1);
        let m = req.mode.unwrap_or_else(|| auto_mode(tool, req, r));
        if !sp.modes.is_empty() && !sp.modes.contains(&m) {
            let list: Vec<&str> = sp.modes.iter().map(|m| m.label()).collect();
            e.push(err(
                "mode",
                "invalid_choice",
                format!("{} offers Auto, {}.", tool.label(), list.join(", ")),
            ));
        }
        if m == Mode::Quality && !plan_ok(Plan::Pro) {
            e.push(err(
                "mode",
                "plan_required",
                "Quality mode is available on Pro and higher.",
            ));
        }
        mode = Some(m);
    } else if req.mode.is_some() {
        e.push(err(
            "mode",
            "not_supported",
            format!("{} has no generation mode option.", tool.label()),
        ));
    }
    // Tool-specific options.
    let mut check_only = |present: bool, field: &str, name: &str, owner: Tool| {
        if present && tool != owner {
            e.push(err(
                field,
                "not_supported",
                format!("{} has no {} option.", tool.label(), name),
            ));
        }
    };
    check_only(
        req.face_match.is_some() && tool != Tool::FaceSwap && !face_reference,
        "face_match",
        "match mode",
        Tool::FaceSwap,
    );
    check_only(
        req.upscale.is_some(),
        "upscale",
        "upscaling factor",
        Tool::Upscale,
    );
    check_only(
        req.duration.is_some(),
        "duration",
        "duration",
        Tool::ImageToVideo,
    );
    check_only(
        req.video_resolution.is_some(),
        "video_resolution",
        "video resolution",
        Tool::ImageToVideo,
    );
    check_only(
        req.background.is_some(),
        "background",
        "background",
        Tool::BackgroundRemove,
    );
    check_only(req.category.is_some(), "category", "category", Tool::TryOn);
    let (mut duration, mut video_resolution) = (None, None);
    if tool == Tool::ImageToVideo {
        let end = req
            .images
            .get(&Slot::EndImage)
            .is_some_and(|v| !v.is_empty());
        let mut vr = req.video_resolution.unwrap_or(if end {
            defaults::VIDEO_RESOLUTION_WITH_END_IMAGE
        } else {
            defaults::VIDEO_RESOLUTION
        });
        if end {
            if !plan_ok(Plan::Pro) {
                e.push(err(
                    "inputs.end_image",
                    "plan_required",
                    "End Image is available on Pro and higher.",
                ));
            }
            if vr != VideoResolution::P1080 {
                if ctx.surface == Surface::App {
                    e.push(err(
                        "video_resolution",
                        "end_image_requires_1080p",
                        "End Image requires 1080p.",
                    ));
                }
                // The API locks the resolution to 1080p, as the Studio does when an End Image is set.
                vr = VideoResolution::P1080;
            }
        }
        if vr == VideoResolution::P1080 && !end && !plan_ok(Plan::Pro) {
            e.push(err(
                "video_resolution",
                "plan_required",
                "1080p video is available on Pro and higher.",
            ));
        }
        duration = Some(req.duration.unwrap_or(defaults::DURATION));
        video_resolution = Some(vr);
    }
    if !e.is_empty() {
        return Err(e);
    }
    let image = |aspect_ratio: Option<AspectRatio>| ImageOptions {
        resolution: resolution.unwrap_or(Resolution::K1),
        mode: mode.unwrap_or(Mode::Balanced),
        aspect_ratio,
        face_match: face_reference.then(|| req.face_match.unwrap_or(defaults::FACE_MATCH)),
    };
    let options = match tool {
        Tool::ProductToModel => Options::ProductToModel(image(req.aspect_ratio)),
        Tool::Packshot => Options::Packshot(image(req.aspect_ratio)),
        Tool::ModelSwap => Options::ModelSwap(image(req.aspect_ratio)),
        Tool::CreateModel => Options::CreateModel(image(req.aspect_ratio)),
        Tool::CreateFace => Options::CreateFace(image(req.aspect_ratio)),
        Tool::Edit => Options::Edit(image(req.aspect_ratio)),
        Tool::TryOn => Options::TryOn(TryOnOptions {
            resolution: resolution.unwrap_or(Resolution::K1),
            mode: mode.unwrap_or(Mode::Balanced),
            aspect_ratio: req.aspect_ratio,
            category: req.category.unwrap_or(defaults::CATEGORY),
        }),
        Tool::Reframe => {
            let Some(aspect_ratio) = req.aspect_ratio else {
                // Refused above ("Reframe needs a target aspect ratio").
                return Err(vec![err(
                    "aspect_ratio",
                    "required",
                    "Reframe needs a target aspect ratio.",
                )]);
            };
            Options::Reframe(ReframeOptions {
                aspect_ratio,
                resolution: resolution.unwrap_or(Resolution::K1),
                mode: mode.unwrap_or(Mode::Fast),
            })
        }
        Tool::BackgroundRemove => Options::BackgroundRemove(BackgroundRemoveOptions {
            background: req.background.unwrap_or(defaults::BACKGROUND),
        }),
        Tool::FaceSwap => Options::FaceSwap(FaceSwapOptions {
            face_match: req.face_match.unwrap_or(defaults::FACE_MATCH),
            resolution: resolution.unwrap_or(Resolution::K1),
        }),
        Tool::Upscale => Options::Upscale(UpscaleOptions {
            factor: req.upscale.unwrap_or(defaults::UPSCALE),
        }),
        Tool::ImageToVideo => Options::ImageToVideo(VideoOptions {
            duration: duration.unwrap_or(defaults::DURATION),
            resolution: video_resolution.unwrap_or(defaults::VIDEO_RESOLUTION),
        }),
    };
    Ok(Resolved {
        outputs,
        options,
        fixed_override: None,
    })
}

/// Where a Studio body names a field that [`validate`] reports under its catalog name: one
/// error path per field in the Studio (`mode` → `params.generation_mode`, `num_outputs` →
/// `params.num_images`), whichever check found the problem. Image and tool paths stay as they
/// are.
pub fn studio_path(path: &str) -> String {
    match path {
        "prompt" | "aspect_ratio" | "resolution" | "duration" | "video_resolution"
        | "face_match" | "category" | "background" => format!("params.{path}"),
        "mode" => "params.generation_mode".into(),
        "num_outputs" => "params.num_images".into(),
        "upscale" => "params.factor".into(),
        p => p.to_string(),
    }
}

/// [`validate`]'s problems under the Studio body's paths ([`studio_path`]).
pub fn in_studio(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            path: studio_path(&e.path),
            ..e
        })
        .collect()
}

/// Upscale's output size: 2x or 4x, capped at 4K (4096 px on the long side); Enhance keeps it.
pub fn upscale_output(factor: UpscaleFactor, width: u32, height: u32) -> (u32, u32) {
    let f: f64 = match factor {
        UpscaleFactor::X2 => 2.0,
        UpscaleFactor::X4 => 4.0,
        UpscaleFactor::Enhance => 1.0,
    };
    let long = width.max(height) as f64;
    let scale = f.min(4096.0 / long).max(1.0);
    (
        (width as f64 * scale).round() as u32,
        (height as f64 * scale).round() as u32,
    )
}

/// One line of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteLine {
    pub label: String,
    pub credits: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub credits: u32,
    pub per_output: u32,
    pub outputs: u32,
    pub breakdown: Vec<QuoteLine>,
}

/// Credits for a resolved request: (per-output cost + modifiers) × outputs.
pub fn quote(surface: Surface, r: &Resolved) -> Quote {
    let tool = r.tool();
    let sp = spec(tool);
    let mut lines = vec![];
    let base = match (sp.pricing, r.fixed_override) {
        (_, Some(c)) => {
            lines.push(QuoteLine {
                label: format!("{} (fixed)", tool.label()),
                credits: c,
            });
            c
        }
        (Pricing::Image { .. }, None) => {
            let (m, res) = (
                r.mode().unwrap_or(Mode::Fast),
                r.resolution().unwrap_or(Resolution::K1),
            );
            let c = image_cost(surface, m, res);
            lines.push(QuoteLine {
                label: format!("{} {} {}", tool.label(), res.label(), m.label()),
                credits: c,
            });
            c
        }
        (Pricing::Fixed { credits }, None) => {
            lines.push(QuoteLine {
                label: tool.label().to_string(),
                credits,
            });
            credits
        }
        (Pricing::Video, None) => {
            let (d, vr) = (
                r.duration().unwrap_or(defaults::DURATION),
                r.video_resolution().unwrap_or(defaults::VIDEO_RESOLUTION),
            );
            let c = video_cost(d, vr);
            let secs = if d == Duration::S5 { 5 } else { 10 };
            lines.push(QuoteLine {
                label: format!("Video {} for {} seconds", vr.label(), secs),
                credits: c,
            });
            c
        }
    };
    let mut per_output = base;
    if r.face_reference()
        && matches!(
            sp.pricing,
            Pricing::Image {
                face_reference: true
            }
        )
    {
        let c = face_reference_cost(surface);
        lines.push(QuoteLine {
            label: "Face Reference".into(),
            credits: c,
        });
        per_output += c;
    }
    let outputs = r.outputs as u32;
    if outputs > 1 {
        lines.push(QuoteLine {
            label: format!("× {outputs} outputs"),
            credits: per_output * (outputs - 1),
        });
    }
    Quote {
        credits: per_output * outputs,
        per_output,
        outputs,
        breakdown: lines,
    }
}

/// Developer API model names, FASHN's and ours (for tools FASHN's API lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiModel {
    TryonMax,
    #[serde(rename = "tryon-v1.6")]
    TryonV16,
    ProductToModel,
    FaceToModel,
    ModelCreate,
    ModelSwap,
    Reframe,
    BackgroundChange,
    BackgroundRemove,
    ImageToVideo,
    Edit,
    Packshot,
    /// Ours: Upscale.
    Upscale,
    /// Ours: Face Swap.
    FaceSwap,
    /// Ours: Create Face.
    FaceCreate,
}

impl ApiModel {
    pub const ALL: [ApiModel; 15] = [
        ApiModel::TryonMax,
        ApiModel::TryonV16,
        ApiModel::ProductToModel,
        ApiModel::FaceToModel,
        ApiModel::ModelCreate,
        ApiModel::ModelSwap,
        ApiModel::Reframe,
        ApiModel::BackgroundChange,
        ApiModel::BackgroundRemove,
        ApiModel::ImageToVideo,
        ApiModel::Edit,
        ApiModel::Packshot,
        ApiModel::Upscale,
        ApiModel::FaceSwap,
        ApiModel::FaceCreate,
    ];

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn parse(s: &str) -> Option<ApiModel> {
        serde_json::from_value(Value::String(s.into())).ok()
    }

    /// The Studio tool that runs this model.
    pub fn tool(self) -> Tool {
        match self {
            ApiModel::TryonMax | ApiModel::TryonV16 => Tool::TryOn,
            ApiModel::ProductToModel => Tool::ProductToModel,
            ApiModel::FaceToModel | ApiModel::ModelCreate => Tool::CreateModel,
            ApiModel::ModelSwap => Tool::ModelSwap,
            ApiModel::Reframe => Tool::Reframe,
            ApiModel::BackgroundChange | ApiModel::Edit => Tool::Edit,
            ApiModel::BackgroundRemove => Tool::BackgroundRemove,
            ApiModel::ImageToVideo => Tool::ImageToVideo,
            ApiModel::Packshot => Tool::Packshot,
            ApiModel::Upscale => Tool::Upscale,
            ApiModel::FaceSwap => Tool::FaceSwap,
            ApiModel::FaceCreate => Tool::CreateFace,
        }
    }

    /// The API model for a Studio tool.
    pub fn for_tool(tool: Tool) -> ApiModel {
        match tool {
            Tool::ProductToModel => ApiModel::ProductToModel,
            Tool::TryOn => ApiModel::TryonMax,
            Tool::Packshot => ApiModel::Packshot,
            Tool::ModelSwap => ApiModel::ModelSwap,
            Tool::CreateModel => ApiModel::ModelCreate,
            Tool::CreateFace => ApiModel::FaceCreate,
            Tool::Edit => ApiModel::Edit,
            Tool::Reframe => ApiModel::Reframe,
            Tool::BackgroundRemove => ApiModel::BackgroundRemove,
            Tool::FaceSwap => ApiModel::FaceSwap,
            Tool::Upscale => ApiModel::Upscale,
            Tool::ImageToVideo => ApiModel::ImageToVideo,
        }
    }
}

/// An image field of an API request: its slot, and whether it is the model's required input.
pub fn api_image_fields(m: ApiModel) -> &'static [(&'static str, Slot)] {
    use Slot::*;
    match m {
        ApiModel::TryonMax => &[("model_image", Model), ("product_image", Product)],
        ApiModel::TryonV16 => &[("model_image", Model), ("garment_image", Product)],
        ApiModel::ProductToModel => &[
            ("product_image", Product),
            ("model_image", Model),
            ("image_prompt", ImagePrompt),
            ("face_reference", FaceReference),
        ],
        ApiModel::FaceToModel => &[("face_image", FaceReference)],
        ApiModel::ModelCreate => &[
            ("image_reference", PoseReference),
            ("face_reference", FaceReference),
        ],
        ApiModel::ModelSwap => &[("model_image", Image), ("face_reference", FaceReference)],
        ApiModel::Reframe | ApiModel::BackgroundRemove | ApiModel::Upscale => &[("image", Image)],
        ApiModel::BackgroundChange => &[("image", Image)],
        ApiModel::ImageToVideo => &[("image", Image), ("end_image", EndImage)],
        ApiModel::Edit => &[
            ("image", Image),
            ("image_context", ImageContext),
            ("mask", Mask),
        ],
        ApiModel::Packshot => &[("product_image", Image), ("image_context", ImageContext)],
        ApiModel::FaceSwap => &[("image", Image), ("face_reference", FaceReference)],
        ApiModel::FaceCreate => &[],
    }
}

/// Where a Studio job's image goes among its API model's inputs when the job is forwarded to a
/// FASHN-compatible API: `image` to the main slot's field (else the model's first); a
/// reference (by its `studio_refs` field) to a field of its slot not `taken` yet. None: the
/// API has no place for it (Product to Model's 2nd product, its Background reference).
pub fn api_field(tool: Tool, name: &str, taken: &[&str]) -> Option<&'static str> {
    let fields = api_image_fields(ApiModel::for_tool(tool));
    if name == "image" {
        return tool
            .main_slot()
            .and_then(|m| fields.iter().find(|(_, s)| *s == m))
            .or(fields.first())
            .map(|(f, _)| *f);
    }
    let slot = tool
        .studio_refs()
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, s)| *s)?;
    fields
        .iter()
        .find(|(f, s)| *s == slot && !taken.contains(f))
        .map(|(f, _)| *f)
}

/// The references of a Studio generation (by field, in `studio_refs` order) that a
/// FASHN-compatible API cannot take, as field errors: what the edge refuses before it holds
/// credits when the tool runs upstream.
pub fn upstream_ref_problems(tool: Tool, with_image: bool, refs: &[&str]) -> Vec<FieldError> {
    let mut taken: Vec<&str> = vec![];
    if with_image {
        taken.extend(api_field(tool, "image", &[]));
    }
    let mut e = vec![];
    for name in refs {
        match api_field(tool, name, &taken) {
            Some(f) => taken.push(f),
            None => e.push(FieldError::new(
                &format!("inputs.{name}"),
                "not_supported_upstream",
                format!(
                    "{}: this installation runs {} through a FASHN-compatible API, whose {} takes no {name}. Remove that image.",
                    tool.studio_refs()
                        .iter()
                        .find(|(f, _)| f == name)
                        .map_or("This image", |(_, s)| s.label()),
                    tool.label(),
                    ApiModel::for_tool(tool).name()
                ),
            )),
        }
    }
    e
}

/// Fields every model accepts besides its own (SDK transport options).
const COMMON: &[&str] = &["output_format", "return_base64", "seed", "width", "height"];

/// The input fields `/v1/run` accepts for a model.
pub fn field_list(m: ApiModel) -> Vec<&'static str> {
    let mut f: Vec<&str> = api_image_fields(m).iter().map(|(n, _)| *n).collect();
    let extra: &[&str] = match m {
        ApiModel::TryonMax => &[
            "prompt",
            "aspect_ratio",
            "generation_mode",
            "resolution",
            "num_images",
        ],
        ApiModel::TryonV16 => &[
            "category",
            "garment_photo_type",
            "mode",
            "moderation_level",
            "num_samples",
            "segmentation_free",
        ],
        ApiModel::ProductToModel => &[
            "prompt",
            "aspect_ratio",
            "generation_mode",
            "resolution",
            "num_images",
            "face_reference_mode",
        ],
        ApiModel::FaceToModel => &[
            "prompt",
            "aspect_ratio",
            "generation_mode",
            "resolution",
            "num_images",
        ],
        ApiModel::ModelCreate => &[
            "prompt",
            "aspect_ratio",
            "face_reference_mode",
            "generation_mode",
            "resolution",
            "num_images",
        ],
        ApiModel::ModelSwap => &[
            "prompt",
            "aspect_ratio",
            "face_reference_mode",
            "generation_mode",
            "resolution",
            "num_images",
        ],
        ApiModel::Reframe => &["aspect_ratio", "num_images", "generation_mode"],
        ApiModel::BackgroundChange => &["prompt", "generation_mode", "num_images", "resolution"],
        ApiModel::BackgroundRemove => &["background", "color"],
        ApiModel::ImageToVideo => &["duration", "resolution", "prompt", "negative_prompt"],
        ApiModel::Edit => &[
            "prompt",
            "num_images",
            "resolution",
            "aspect_ratio",
            "generation_mode",
        ],
        ApiModel::Packshot => &[
            "prompt",
            "aspect_ratio",
            "generation_mode",
            "num_images",
            "resolution",
        ],
        ApiModel::Upscale => &["factor"],
        ApiModel::FaceSwap => &["face_reference_mode", "resolution"],
        ApiModel::FaceCreate => &["prompt", "generation_mode", "resolution", "num_images"],
    };
    f.extend_from_slice(extra);
    f.extend_from_slice(COMMON);
    f
}

/// Reads a `/v1/run`-style `inputs` object for a model into a [`ToolRequest`]. Image fields
/// are URLs or data URIs (their size, if known, comes from `width`/`height`); this checks
/// presence and shape, not the bytes.
pub fn from_api(
    model: ApiModel,
    inputs: &Map<String, Value>,
) -> Result<ToolRequest, Vec<FieldError>> {
    let mut e = vec![];
    let mut req = ToolRequest::default();
    let fields = field_list(model);
    for (k, v) in inputs {
        // Found by schemathesis (#23): null was taken as "left out" by some fields and not
        // others, and the document allows it for none.
        if v.is_null() && fields.contains(&k.as_str()) {
            e.push(err(
                &format!("inputs.{k}"),
                "null_value",
                format!("{k} is null; leave it out to use its default, or give a value."),
            ));
            continue;
        }
        if !fields.contains(&k.as_str()) {
            e.push(err(
                &format!("inputs.{k}"),
                "unknown_field",
                format!(
                    "{} does not take \"{k}\"; it takes {}.",
                    model.name(),
                    fields.join(", ")
                ),
            ));
        }
    }
    let size = |k: &str| {
        inputs
            .get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    req.width = size("width");
    req.height = size("height");
    for (name, slot) in api_image_fields(model) {
        match inputs.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if is_image_ref(s) => {
                let first = req.images.get(slot).is_none_or(|v| v.is_empty());
                let dims = if first && matches!(slot, Slot::Image | Slot::Product | Slot::Model) { (req.width, req.height) } else { (None, None) };
                req.images.entry(*slot).or_default().push(ImageInput { width: dims.0, height: dims.1, source: ImageSource::Upload });
            }
            Some(_) => e.push(err(&format!("inputs.{name}"), "invalid_image", format!("{name} must be an https URL or a base64 data URI with its prefix (data:image/png;base64,…)."))),
        }
    }
    let string = |k: &str, e: &mut Vec<FieldError>| -> Option<String> {
        match inputs.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                e.push(err(
                    &format!("inputs.{k}"),
                    "invalid_type",
                    format!("{k} must be a string."),
                ));
                None
            }
        }
    };
    fn choice<T: for<'de> Deserialize<'de>>(
        k: &str,
        v: Option<String>,
        allowed: &str,
        e: &mut Vec<FieldError>,
    ) -> Option<T> {
        let v = v?;
        match serde_json::from_value(Value::String(v.clone())) {
            Ok(t) => Some(t),
            Err(_) => {
                e.push(err(
                    &format!("inputs.{k}"),
                    "invalid_choice",
                    format!("{k} \"{v}\" is not valid; use one of {allowed}."),
                ));
                None
            }
        }
    }
    req.prompt = string("prompt", &mut e);
    let ar = string("aspect_ratio", &mut e);
    req.aspect_ratio = choice(
        "aspect_ratio",
        ar,
        "21:9, 1:1, 4:3, 3:2, 2:3, 5:4, 4:5, 3:4, 16:9, 9:16",
        &mut e,
    );
    let gm = string("generation_mode", &mut e);
    req.mode = choice("generation_mode", gm, "fast, balanced, quality", &mut e);
    if model == ApiModel::TryonV16 {
        let m = string("mode", &mut e);
        let _: Option<Value> = m.and_then(|m| match m.as_str() {
            "performance" | "balanced" | "quality" => None,
            _ => {
                e.push(err(
                    "inputs.mode",
                    "invalid_choice",
                    "mode must be performance, balanced or quality.",
                ));
                None
            }
        });
        let c = string("category", &mut e);
        req.category = choice("category", c, "auto, tops, bottoms, one-pieces", &mut e);
    }
    let res = string("resolution", &mut e);
    if model == ApiModel::ImageToVideo {
        req.video_resolution = choice("resolution", res, "480p, 720p, 1080p", &mut e);
        match inputs.get("duration") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64() == Some(5) => req.duration = Some(Duration::S5),
            Some(Value::Number(n)) if n.as_u64() == Some(10) => req.duration = Some(Duration::S10),
            Some(_) => e.push(err(
                "inputs.duration",
                "invalid_choice",
                "duration must be 5 or 10 (seconds).",
            )),
        }
    } else {
        req.resolution = choice("resolution", res, "1k, 2k, 4k", &mut e);
    }
    let count_key = if model == ApiModel::TryonV16 {
        "num_samples"
    } else {
        "num_images"
    };
    match inputs.get(count_key) {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v @ 1..=4) => req.num_outputs = Some(v as u8),
            _ => e.push(err(
                &format!("inputs.{count_key}"),
                "out_of_range",
                format!("{count_key} must be 1 to 4."),
            )),
        },
        Some(_) => e.push(err(
            &format!("inputs.{count_key}"),
            "invalid_type",
            format!("{count_key} must be an integer from 1 to 4."),
        )),
    }
    let fm = string("face_reference_mode", &mut e);
    req.face_match = choice(
        "face_reference_mode",
        fm,
        "match_base, match_reference",
        &mut e,
    );
    let of = string("output_format", &mut e);
    let _: Option<OutputFormat> = choice("output_format", of, "png, jpeg", &mut e);
    if let Some(v) = inputs.get("return_base64") {
        if !v.is_boolean() && !v.is_null() {
            e.push(err(
                "inputs.return_base64",
                "invalid_type",
                "return_base64 must be true or false.",
            ));
        }
    }
    // Found by schemathesis (#23): a width of `{}` or null was silently ignored.
    for k in ["width", "height"] {
        if let Some(v) = inputs.get(k) {
            if v.as_u64().is_none_or(|s| s == 0 || s > u32::MAX as u64) {
                e.push(err(
                    &format!("inputs.{k}"),
                    "out_of_range",
                    format!("{k} must be the main image's {k} in pixels: an integer from 1 to 4294967295."),
                ));
            }
        }
    }
    if let Some(v) = inputs.get("seed") {
        if v.as_u64().is_none_or(|s| s > u32::MAX as u64) {
            e.push(err(
                "inputs.seed",
                "out_of_range",
                "seed must be an integer from 0 to 4294967295.",
            ));
        }
    }
    if model == ApiModel::Upscale {
        let f = string("factor", &mut e);
        req.upscale = choice("factor", f, "2x, 4x, enhance", &mut e);
    }
    if model == ApiModel::BackgroundRemove {
        match string("background", &mut e).as_deref() {
            None | Some("transparent") => {}
            Some("solid") => match string("color", &mut e).as_deref().map(Rgb::parse) {
                Some(Some(color)) => req.background = Some(Background::Solid { color }),
                _ => e.push(err(
                    "inputs.color",
                    "invalid_color",
                    "A solid background needs color as #rrggbb.",
                )),
            },
            Some(o) => e.push(err(
                "inputs.background",
                "invalid_choice",
                format!("background \"{o}\" is not valid; use transparent or solid."),
            )),
        }
    }
    // Required inputs of the API model (the Studio tool's own rules follow in `validate`).
    let required: &[&str] = match model {
        ApiModel::TryonMax | ApiModel::TryonV16 => &["model_image"],
        ApiModel::ProductToModel | ApiModel::Packshot => &["product_image"],
        ApiModel::FaceToModel => &["face_image"],
        ApiModel::ModelCreate | ApiModel::FaceCreate => &["prompt"],
        ApiModel::ModelSwap => &["model_image"],
        ApiModel::Reframe => &["image", "aspect_ratio"],
        ApiModel::BackgroundChange | ApiModel::Edit => &["image", "prompt"],
        ApiModel::FaceSwap => &["image", "face_reference"],
        ApiModel::BackgroundRemove | ApiModel::ImageToVideo | ApiModel::Upscale => &["image"],
    };
    for r in required {
        if inputs.get(*r).is_none_or(Value::is_null) {
            e.push(err(
                &format!("inputs.{r}"),
                "required",
                format!("{} requires {r}.", model.name()),
            ));
        }
    }
    if matches!(model, ApiModel::TryonMax) && inputs.get("product_image").is_none_or(Value::is_null)
    {
        e.push(err(
            "inputs.product_image",
            "required",
            "tryon-max requires product_image.",
        ));
    }
    if matches!(model, ApiModel::TryonV16) && inputs.get("garment_image").is_none_or(Value::is_null)
    {
        e.push(err(
            "inputs.garment_image",
            "required",
            "tryon-v1.6 requires garment_image.",
        ));
    }
    if e.is_empty() {
        Ok(req)
    } else {
        Err(e)
    }
}

/// The encoding of image outputs (`inputs.output_format`): PNG (default, keeps transparency) or
/// JPEG (transparent areas flattened onto white).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Png,
    Jpeg,
}

impl OutputFormat {
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
        }
    }
}

fn is_image_ref(s: &str) -> bool {
    let l = s.trim_start().to_ascii_lowercase();
    l.starts_with("https://")
        || l.starts_with("http://")
        || (l.starts_with("data:image/") && l.contains(";base64,"))
}

/// Parses and validates an API request: `model_name` + `inputs` → resolved request.
pub fn resolve_api(
    model_name: &str,
    inputs: &Map<String, Value>,
    ctx: Context,
) -> Result<(ApiModel, Resolved), Vec<FieldError>> {
    let model = ApiModel::parse(model_name)
        .or_else(|| Tool::from_id(model_name).map(ApiModel::for_tool))
        .ok_or_else(|| {
            let names: Vec<String> = ApiModel::ALL.iter().map(|m| m.name()).collect();
            vec![err(
                "model_name",
                "unknown_model",
                format!(
                    "\"{model_name}\" is not a model; use one of {}.",
                    names.join(", ")
                ),
            )]
        })?;
    let mut resolved = validate(model.tool(), &api_request(model, inputs)?, ctx)?;
    if model == ApiModel::TryonV16 {
        resolved.fixed_override = Some(crate::pricing::API_TRYON_V16);
    }
    Ok((model, resolved))
}

/// The catalog request a model's `inputs` stand for ([`from_api`], with face-to-model's face
/// as its input rather than a surcharged reference); [`resolve_api`] validates it. The edge
/// asks for it again to add the sizes it learns when it loads the images.
pub fn api_request(
    model: ApiModel,
    inputs: &Map<String, Value>,
) -> Result<ToolRequest, Vec<FieldError>> {
    let mut req = from_api(model, inputs)?;
    if model == ApiModel::FaceToModel {
        req.images.remove(&Slot::FaceReference);
        req.prompt = req.prompt.or(Some("model from face".into()));
    }
    Ok(req)
}

/// FASHN's API error body for validation problems: `{"error": "BadRequest", "message", "errors"}`.
pub fn fashn_bad_request(errors: &[FieldError]) -> Value {
    let message = errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join(" ");
    serde_json::json!({"error": "BadRequest", "message": message, "errors": errors})
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use serde_json::json;

    fn img(w: u32, h: u32) -> ImageInput {
        ImageInput {
            width: Some(w),
            height: Some(h),
            source: ImageSource::Upload,
        }
    }

    fn with(pairs: &[(Slot, usize)]) -> ToolRequest {
        let mut r = ToolRequest::default();
        for (s, n) in pairs {
            r.images.insert(*s, vec![img(1024, 1024); *n]);
        }
        r
    }

    const APP_PRO: Context = Context {
        surface: Surface::App,
        plan: Some(Plan::Pro),
    };
    const APP_BASIC: Context = Context {
        surface: Surface::App,
        plan: Some(Plan::Basic),
    };
    const API: Context = Context {
        surface: Surface::Api,
        plan: None,
    };

    fn credits(tool: Tool, req: &ToolRequest, ctx: Context) -> u32 {
        quote(ctx.surface, &validate(tool, req, ctx).unwrap()).credits
    }

    #[test]
    fn forwarded_references_take_their_api_fields_and_extras_are_refused_by_name() {
        assert_eq!(api_field(Tool::TryOn, "image", &[]), Some("model_image"));
        assert_eq!(
            api_field(Tool::TryOn, "product_image", &[]),
            Some("product_image")
        );
        assert_eq!(
            api_field(Tool::ProductToModel, "image", &[]),
            Some("product_image")
        );
        assert_eq!(
            api_field(Tool::ProductToModel, "product_image_2", &["product_image"]),
            None
        );
        assert_eq!(
            api_field(Tool::ProductToModel, "face_reference", &["product_image"]),
            Some("face_reference")
        );
        assert!(upstream_ref_problems(
            Tool::ProductToModel,
            true,
            &["model_image", "face_reference"]
        )
        .is_empty());
        let e = upstream_ref_problems(
            Tool::ProductToModel,
            true,
            &["product_image_2", "background_reference", "image_prompt"],
        );
        assert_eq!(
            e.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["inputs.product_image_2", "inputs.background_reference"]
        );
        assert!(e[1]
            .message
            .starts_with("Background reference: this installation runs Product to Model"));
        assert!(upstream_ref_problems(
            Tool::CreateModel,
            false,
            &["face_reference", "pose_reference"]
        )
        .is_empty());
    }

    #[test]
    fn starter_libraries_by_slot_and_a_library_face_needs_no_agency_plan() {
        for k in LibraryKind::ALL {
            assert_eq!(LibraryKind::from_id(k.id()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.id()));
        }
        assert_eq!(LibraryKind::from_id("faces"), None);
        use LibraryKind as L;
        assert_eq!(
            L::for_slot(Tool::ModelSwap, Slot::FaceReference),
            Some(L::Face)
        );
        assert_eq!(
            L::for_slot(Tool::ProductToModel, Slot::BackgroundReference),
            Some(L::Background)
        );
        assert_eq!(
            L::for_slot(Tool::Packshot, Slot::ImageContext),
            Some(L::PackshotReference)
        );
        assert_eq!(L::for_slot(Tool::Edit, Slot::ImageContext), None);
        assert_eq!(L::for_slot(Tool::TryOn, Slot::Model), Some(L::Model));
        assert_eq!(L::for_slot(Tool::FaceSwap, Slot::Image), None);
        let free = Context {
            surface: Surface::App,
            plan: Some(Plan::Free),
        };
        let mut r = with(&[(Slot::Image, 1), (Slot::FaceReference, 1)]);
        let e = validate(Tool::ModelSwap, &r, free).unwrap_err();
        assert_eq!(e[0].code, "plan_required");
        r.images.get_mut(&Slot::FaceReference).unwrap()[0].source = ImageSource::Library;
        assert!(validate(Tool::ModelSwap, &r, free).is_ok());
    }

    /// Each tool's defaults, resolved from a request that leaves every option out: the table
    /// the app's controls, the edge and the node read (none of them defaults anything itself).
    #[test]
    fn every_tool_resolves_its_defaults_from_one_table() {
        use defaults as d;
        let image = |ar: Option<AspectRatio>, face: Option<FaceMatch>| ImageOptions {
            resolution: Resolution::K1,
            mode: Mode::Fast,
            aspect_ratio: ar,
            face_match: face,
        };
        let table: [(Tool, &[Slot], Option<&str>, Options); 12] = [
            (
                Tool::ProductToModel,
                &[Slot::Product],
                None,
                Options::ProductToModel(image(None, None)),
            ),
            (
                Tool::TryOn,
                &[Slot::Model, Slot::Product],
                None,
                Options::TryOn(TryOnOptions {
                    resolution: Resolution::K1,
                    mode: Mode::Balanced,
                    aspect_ratio: None,
                    category: d::CATEGORY,
                }),
            ),
            (
                Tool::Packshot,
                &[Slot::Image],
                None,
                Options::Packshot(image(None, None)),
            ),
            // A reference joins the main image: Auto mode is Balanced.
            (
                Tool::ModelSwap,
                &[Slot::Image, Slot::FaceReference],
                None,
                Options::ModelSwap(ImageOptions {
                    mode: Mode::Balanced,
                    ..image(None, Some(d::FACE_MATCH))
                }),
            ),
            (
                Tool::CreateModel,
                &[],
                Some("a model"),
                Options::CreateModel(image(None, None)),
            ),
            (
                Tool::CreateFace,
                &[],
                Some("a face"),
                Options::CreateFace(image(None, None)),
            ),
            (
                Tool::Edit,
                &[Slot::Image],
                Some("red"),
                Options::Edit(image(None, None)),
            ),
            (
                Tool::Reframe,
                &[Slot::Image],
                None,
                Options::Reframe(ReframeOptions {
                    aspect_ratio: AspectRatio::R16x9,
                    resolution: Resolution::K1,
                    mode: Mode::Fast,
                }),
            ),
            (
                Tool::BackgroundRemove,
                &[Slot::Image],
                None,
                Options::BackgroundRemove(BackgroundRemoveOptions {
                    background: d::BACKGROUND,
                }),
            ),
            (
                Tool::FaceSwap,
                &[Slot::Image, Slot::FaceReference],
                None,
                Options::FaceSwap(FaceSwapOptions {
                    face_match: d::FACE_MATCH,
                    resolution: Resolution::K1,
                }),
            ),
            (
                Tool::Upscale,
                &[Slot::Image],
                None,
                Options::Upscale(UpscaleOptions { factor: d::UPSCALE }),
            ),
            (
                Tool::ImageToVideo,
                &[Slot::Image],
                None,
                Options::ImageToVideo(VideoOptions {
                    duration: d::DURATION,
                    resolution: d::VIDEO_RESOLUTION,
                }),
            ),
        ];
        let agency = Context {
            surface: Surface::App,
            plan: Some(Plan::Agency),
        };
        for (tool, slots, prompt, want) in table {
            let mut r = with(&slots.iter().map(|s| (*s, 1)).collect::<Vec<_>>());
            r.prompt = prompt.map(str::to_string);
            if tool == Tool::Reframe {
                r.aspect_ratio = Some(AspectRatio::R16x9);
            }
            let v = validate(tool, &r, agency).unwrap_or_else(|e| panic!("{tool:?}: {e:?}"));
            assert_eq!(v.options, want, "{tool:?}");
            assert_eq!(v.tool(), tool);
            assert_eq!(v.outputs, d::OUTPUTS);
            // The wire form (edge → node) round-trips, flat beside `outputs`.
            let wire = serde_json::to_value(&v).unwrap();
            assert_eq!(wire["tool"], json!(tool.id()));
            assert_eq!(serde_json::from_value::<Resolved>(wire).unwrap(), v);
        }
        // An End Image locks 1080p.
        let v = validate(
            Tool::ImageToVideo,
            &with(&[(Slot::Image, 1), (Slot::EndImage, 1)]),
            agency,
        )
        .unwrap();
        assert_eq!(
            v.video_resolution(),
            Some(d::VIDEO_RESOLUTION_WITH_END_IMAGE)
        );
    }

    /// A field has one path in the Studio, whether the body's parser or the catalog's rules
    /// found the problem.
    #[test]
    fn studio_errors_name_the_studio_body_fields() {
        use crate::studio::{validate_generation, GenerationRequest};
        let h = "a".repeat(64);
        let body: GenerationRequest = serde_json::from_value(json!({
            "tool": "packshot", "inputs": {"image": h},
            "params": {"num_images": 9, "generation_mode": "quality", "resolution": "2k"}
        }))
        .unwrap();
        let v = validate_generation(&body).unwrap();
        let e = in_studio(validate(Tool::Packshot, &v.request(1024, 1024), APP_BASIC).unwrap_err());
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["params.num_images", "params.generation_mode"]);
        // The parser's own paths for the same fields are the same names.
        let bad: GenerationRequest = serde_json::from_value(json!({
            "tool": "packshot", "inputs": {"image": h},
            "params": {"num_images": "nine", "generation_mode": "turbo"}
        }))
        .unwrap();
        let p: Vec<String> = validate_generation(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(p, ["params.num_images", "params.generation_mode"]);
        for f in [
            "upscale",
            "mode",
            "num_outputs",
            "prompt",
            "video_resolution",
        ] {
            assert!(studio_path(f).starts_with("params."), "{f}");
        }
        assert_eq!(studio_path("inputs.end_image"), "inputs.end_image");
        assert_eq!(studio_path("tool"), "tool");
    }

    #[test]
    fn documented_examples() {
        // "Product-to-Model at 1K with Face Reference, requesting 2 images: (1 + 2) x 2 = 6 credits."
        let mut r = with(&[(Slot::Product, 1), (Slot::FaceReference, 1)]);
        r.images.get_mut(&Slot::FaceReference).unwrap()[0].source = ImageSource::Library;
        r.resolution = Some(Resolution::K1);
        r.num_outputs = Some(2);
        let q = quote(
            Surface::App,
            &validate(Tool::ProductToModel, &r, APP_PRO).unwrap(),
        );
        assert_eq!(q.credits, 6);
        assert_eq!(
            q.breakdown.iter().map(|l| l.credits).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // "Model Swap at 2K Quality for 4 images: 2 x 4 = 8 credits."
        let mut r = with(&[(Slot::Image, 1)]);
        r.resolution = Some(Resolution::K2);
        r.mode = Some(Mode::Quality);
        r.num_outputs = Some(4);
        assert_eq!(credits(Tool::ModelSwap, &r, APP_PRO), 8);
        r.num_outputs = Some(2);
        assert_eq!(credits(Tool::ModelSwap, &r, APP_PRO), 4, "2 x 2 = 4");
        // "Video Generation at 720p for 10 seconds: 6 credits."
        let mut r = with(&[(Slot::Image, 1)]);
        r.duration = Some(Duration::S10);
        r.video_resolution = Some(VideoResolution::P720);
        assert_eq!(credits(Tool::ImageToVideo, &r, APP_PRO), 6);
    }

    #[test]
    fn fixed_costs() {
        let mut fs = with(&[(Slot::Image, 1), (Slot::FaceReference, 1)]);
        fs.images.get_mut(&Slot::FaceReference).unwrap()[0].source = ImageSource::Library;
        assert_eq!(credits(Tool::FaceSwap, &fs, APP_PRO), 2);
        assert_eq!(
            credits(Tool::BackgroundRemove, &with(&[(Slot::Image, 1)]), APP_PRO),
            1
        );
        assert_eq!(
            credits(Tool::Upscale, &with(&[(Slot::Image, 1)]), APP_PRO),
            1
        );
        let (_, r) = resolve_api("tryon-v1.6", json!({"model_image": "https://x/a.jpg", "garment_image": "https://x/b.jpg", "num_samples": 3}).as_object().unwrap(), API).unwrap();
        assert_eq!(quote(Surface::Api, &r).credits, 3);
        let (_, r) = resolve_api(
            "background-remove",
            json!({"image": "data:image/png;base64,AAAA"})
                .as_object()
                .unwrap(),
            API,
        )
        .unwrap();
        assert_eq!(quote(Surface::Api, &r).credits, 1);
    }

    #[test]
    fn api_prices_differ_from_app() {
        let i = json!({"model_image": "https://x/a.jpg", "face_reference": "https://x/f.jpg", "resolution": "2k", "generation_mode": "quality", "num_images": 2});
        let (_, r) = resolve_api("model-swap", i.as_object().unwrap(), API).unwrap();
        // (4 + 3) × 2
        assert_eq!(quote(Surface::Api, &r).credits, 14);
        let (_, r) = resolve_api(
            "model-swap",
            i.as_object().unwrap(),
            Context {
                surface: Surface::App,
                plan: None,
            },
        )
        .unwrap();
        // (2 + 2) × 2
        assert_eq!(quote(Surface::App, &r).credits, 8);
        // model-create Fast 1K with face_reference: 1 + 3 = 4 ("4 per image with face_reference").
        let (_, r) = resolve_api(
            "model-create",
            json!({"prompt": "p", "face_reference": "https://x/f.jpg", "generation_mode": "fast"})
                .as_object()
                .unwrap(),
            API,
        )
        .unwrap();
        assert_eq!(quote(Surface::Api, &r).credits, 4);
    }

    #[test]
    fn auto_resolution_and_mode() {
        let mut r = with(&[(Slot::Image, 1)]);
        r.images.get_mut(&Slot::Image).unwrap()[0] = img(832, 1248);
        let v = validate(
            Tool::Edit,
            &ToolRequest {
                prompt: Some("x".into()),
                ..r.clone()
            },
            APP_PRO,
        )
        .unwrap();
        assert_eq!(
            (v.resolution(), v.mode()),
            (Some(Resolution::K1), Some(Mode::Fast))
        );
        r.images.get_mut(&Slot::Image).unwrap()[0] = img(3000, 4000);
        let v = validate(
            Tool::Edit,
            &ToolRequest {
                prompt: Some("x".into()),
                ..r.clone()
            },
            APP_PRO,
        )
        .unwrap();
        assert_eq!(
            (v.resolution(), v.mode()),
            (Some(Resolution::K4), Some(Mode::Balanced))
        );
        // Text-only tools default to 1K.
        let v = validate(
            Tool::CreateModel,
            &ToolRequest {
                prompt: Some("a model".into()),
                ..Default::default()
            },
            APP_PRO,
        )
        .unwrap();
        assert_eq!(v.resolution(), Some(Resolution::K1));
        // Packshot elevates to Balanced with an Image Context.
        let v = validate(
            Tool::Packshot,
            &with(&[(Slot::Image, 1), (Slot::ImageContext, 1)]),
            APP_PRO,
        )
        .unwrap();
        assert_eq!(v.mode(), Some(Mode::Balanced));
        let v = validate(Tool::Packshot, &with(&[(Slot::Image, 1)]), APP_PRO).unwrap();
        assert_eq!(v.mode(), Some(Mode::Fast));
        // Try-On has no Fast: Auto is Balanced, and Fast is refused.
        let t = with(&[(Slot::Model, 1), (Slot::Product, 1)]);
        assert_eq!(
            validate(Tool::TryOn, &t, APP_PRO).unwrap().mode(),
            Some(Mode::Balanced)
        );
        let e = validate(
            Tool::TryOn,
            &ToolRequest {
                mode: Some(Mode::Fast),
                ..t
            },
            APP_PRO,
        )
        .unwrap_err();
        assert_eq!(e[0].message, "Try-On offers Auto, Balanced, Quality.");
        // Quotes accept a size without an image.
        let q = ToolRequest {
            width: Some(2048),
            height: Some(2048),
            ..Default::default()
        };
        assert_eq!(auto_resolution(Tool::Upscale, &q), Resolution::K2);
    }

    #[test]
    fn plan_gates() {
        let mut r = with(&[(Slot::Image, 1)]);
        r.mode = Some(Mode::Quality);
        let e = validate(Tool::ModelSwap, &r, APP_BASIC).unwrap_err();
        assert_eq!(
            (e[0].code.as_str(), e[0].message.as_str()),
            (
                "plan_required",
                "Quality mode is available on Pro and higher."
            )
        );
        assert!(
            validate(Tool::ModelSwap, &r, API).is_ok(),
            "the API has no plan gates"
        );
        let e = validate(
            Tool::CreateFace,
            &ToolRequest {
                prompt: Some("f".into()),
                ..Default::default()
            },
            APP_PRO,
        )
        .unwrap_err();
        assert_eq!(e[0].message, "Create Face requires the Agency plan.");
        let mut v = with(&[(Slot::Image, 1)]);
        v.video_resolution = Some(VideoResolution::P1080);
        assert_eq!(
            validate(Tool::ImageToVideo, &v, APP_BASIC).unwrap_err()[0].message,
            "1080p video is available on Pro and higher."
        );
        let own_face = with(&[(Slot::Image, 1), (Slot::FaceReference, 1)]);
        assert_eq!(
            validate(Tool::ModelSwap, &own_face, APP_PRO).unwrap_err()[0].code,
            "plan_required"
        );
        assert!(validate(
            Tool::ModelSwap,
            &own_face,
            Context {
                surface: Surface::App,
                plan: Some(Plan::Agency2x)
            }
        )
        .is_ok());
    }

    #[test]
    fn end_image_rules() {
        let mut v = with(&[(Slot::Image, 1), (Slot::EndImage, 1)]);
        let r = validate(Tool::ImageToVideo, &v, APP_PRO).unwrap();
        assert_eq!(
            r.video_resolution(),
            Some(VideoResolution::P1080),
            "End Image locks 1080p"
        );
        assert_eq!(quote(Surface::App, &r).credits, 6);
        v.video_resolution = Some(VideoResolution::P480);
        assert_eq!(
            validate(Tool::ImageToVideo, &v, APP_PRO).unwrap_err()[0].message,
            "End Image requires 1080p."
        );
        // The API coerces instead (FASHN's own SDK tests send end_image with 480p).
        let (_, r) = resolve_api("image-to-video", json!({"image": "https://x/a.jpg", "end_image": "https://x/b.jpg", "resolution": "480p", "duration": 5}).as_object().unwrap(), API).unwrap();
        assert_eq!(r.video_resolution(), Some(VideoResolution::P1080));
        let e = validate(
            Tool::ImageToVideo,
            &with(&[(Slot::Image, 1), (Slot::EndImage, 1)]),
            APP_BASIC,
        )
        .unwrap_err();
        assert_eq!(e[0].message, "End Image is available on Pro and higher.");
    }

    #[test]
    fn every_problem_at_once() {
        let mut r = with(&[(Slot::Product, 4), (Slot::EndImage, 1)]);
        r.num_outputs = Some(5);
        r.aspect_ratio = Some(AspectRatio::R21x9);
        let e = validate(Tool::ProductToModel, &r, APP_PRO).unwrap_err();
        let codes: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("inputs.end_image", "not_supported"),
                ("inputs.product", "too_many"),
                ("num_outputs", "out_of_range"),
                ("aspect_ratio", "invalid_choice")
            ]
        );
        let e = validate(Tool::TryOn, &ToolRequest::default(), APP_PRO).unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            [
                "Try-On needs a model image.",
                "Try-On needs a product image."
            ]
        );
        let e = validate(Tool::Reframe, &with(&[(Slot::Image, 1)]), APP_PRO).unwrap_err();
        assert_eq!(e[0].message, "Reframe needs a target aspect ratio.");
        let e = validate(
            Tool::BackgroundRemove,
            &ToolRequest {
                prompt: Some("x".into()),
                ..with(&[(Slot::Image, 1)])
            },
            APP_PRO,
        )
        .unwrap_err();
        assert_eq!(e[0].code, "not_supported");
    }

    #[test]
    fn face_swap_and_upscale_caps() {
        let mut fs = with(&[(Slot::Image, 1), (Slot::FaceReference, 1)]);
        fs.images.get_mut(&Slot::Image).unwrap()[0] = img(4096, 4096);
        fs.images.get_mut(&Slot::FaceReference).unwrap()[0].source = ImageSource::Library;
        let r = validate(Tool::FaceSwap, &fs, APP_PRO).unwrap();
        assert_eq!(
            r.resolution(),
            Some(Resolution::K2),
            "Face Swap outputs at most 2K"
        );
        assert_eq!(r.face_match(), Some(FaceMatch::MatchReference));
        fs.resolution = Some(Resolution::K4);
        assert_eq!(
            validate(Tool::FaceSwap, &fs, APP_PRO).unwrap_err()[0].message,
            "Face Swap outputs at most 2K."
        );
        assert_eq!(upscale_output(UpscaleFactor::X2, 1024, 1536), (2048, 3072));
        assert_eq!(upscale_output(UpscaleFactor::X4, 1024, 1536), (2731, 4096));
        assert_eq!(upscale_output(UpscaleFactor::X4, 4096, 4096), (4096, 4096));
        assert_eq!(upscale_output(UpscaleFactor::Enhance, 800, 600), (800, 600));
    }

    #[test]
    fn api_inputs_are_checked_field_by_field() {
        let bad = json!({"image": "not a url", "aspect_ratio": "7:3", "num_images": 9, "colour": "red", "seed": -1});
        let e = resolve_api("reframe", bad.as_object().unwrap(), API).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "inputs.colour",
                "inputs.image",
                "inputs.aspect_ratio",
                "inputs.num_images",
                "inputs.seed"
            ]
        );
        // Found by schemathesis: a size that is not a positive integer is refused, not ignored.
        for size in [
            json!({}),
            json!(null),
            json!(0),
            json!(-3),
            json!("1024"),
            json!(1.5),
        ] {
            let body = json!({"prompt": "p", "width": size});
            let e = resolve_api("face-create", body.as_object().unwrap(), API).unwrap_err();
            assert_eq!(e[0].path, "inputs.width", "{size}");
        }
        let ok = json!({"image": "https://x/a.jpg", "aspect_ratio": "16:9"});
        let (_, r) = resolve_api("reframe", ok.as_object().unwrap(), API).unwrap();
        assert_eq!(quote(Surface::Api, &r).credits, 1, "Reframe: 1K Fast");
        let mut same = with(&[(Slot::Image, 1)]);
        same.aspect_ratio = Some(AspectRatio::R1x1);
        assert_eq!(
            validate(Tool::Reframe, &same, APP_PRO).unwrap_err()[0].code,
            "already_matches"
        );
        let e = resolve_api("teleport", &Map::new(), API).unwrap_err();
        assert_eq!(e[0].code, "unknown_model");
        // The SDK's all-params bodies pass.
        let all = json!({"model_image": "https://x/a.jpg", "product_image": "https://x/b.jpg", "prompt": "p", "aspect_ratio": "21:9",
            "generation_mode": "balanced", "resolution": "1k", "num_images": 1, "output_format": "png", "seed": 0, "return_base64": true});
        assert!(resolve_api("tryon-max", all.as_object().unwrap(), API).is_ok());
        let body = fashn_bad_request(&e);
        assert_eq!(body["error"], "BadRequest");
    }

    /// The bodies FASHN's official Python SDK tests send (required-only and all-params).
    #[test]
    fn sdk_test_bodies_pass() {
        let u = "https://example.com/a.jpg";
        let bodies = [
            ("tryon-max", json!({"model_image": u, "product_image": u})),
            ("tryon-v1.6", json!({"garment_image": u, "model_image": u})),
            ("product-to-model", json!({"product_image": u})),
            ("face-to-model", json!({"face_image": u})),
            (
                "model-create",
                json!({"prompt": "A professional model wearing casual clothes"}),
            ),
            ("model-swap", json!({"model_image": u})),
            ("reframe", json!({"aspect_ratio": "16:9", "image": u})),
            (
                "background-change",
                json!({"image": u, "prompt": "modern office space with large windows"}),
            ),
            ("background-remove", json!({"image": u})),
            ("image-to-video", json!({"image": u})),
            (
                "edit",
                json!({"image": u, "prompt": "change the dress to red"}),
            ),
            ("packshot", json!({"product_image": u})),
            (
                "tryon-max",
                json!({"model_image": u, "product_image": u, "aspect_ratio": "21:9", "generation_mode": "balanced", "num_images": 1, "output_format": "png", "prompt": "p", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "tryon-v1.6",
                json!({"garment_image": u, "model_image": u, "category": "auto", "garment_photo_type": "auto", "mode": "performance", "moderation_level": "conservative", "num_samples": 1, "output_format": "png", "return_base64": true, "seed": 0, "segmentation_free": true}),
            ),
            (
                "product-to-model",
                json!({"product_image": u, "aspect_ratio": "21:9", "generation_mode": "fast", "image_prompt": u, "model_image": u, "output_format": "png", "prompt": "p", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "face-to-model",
                json!({"face_image": u, "aspect_ratio": "21:9", "generation_mode": "fast", "num_images": 1, "output_format": "png", "prompt": "p", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "model-create",
                json!({"prompt": "p", "aspect_ratio": "21:9", "face_reference": u, "face_reference_mode": "match_base", "generation_mode": "fast", "image_reference": u, "num_images": 1, "output_format": "png", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "model-swap",
                json!({"model_image": u, "aspect_ratio": "21:9", "face_reference": u, "face_reference_mode": "match_base", "generation_mode": "fast", "num_images": 1, "output_format": "png", "prompt": "p", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "reframe",
                json!({"aspect_ratio": "21:9", "image": u, "generation_mode": "fast", "num_images": 1, "output_format": "png", "return_base64": true, "seed": 0}),
            ),
            (
                "background-change",
                json!({"image": u, "prompt": "p", "generation_mode": "fast", "num_images": 1, "output_format": "png", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "background-remove",
                json!({"image": u, "return_base64": true}),
            ),
            (
                "image-to-video",
                json!({"image": u, "duration": 5, "end_image": u, "negative_prompt": "n", "prompt": "p", "resolution": "480p", "seed": 0}),
            ),
            (
                "edit",
                json!({"image": u, "prompt": "p", "aspect_ratio": "21:9", "generation_mode": "fast", "image_context": u, "mask": u, "num_images": 1, "output_format": "png", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
            (
                "packshot",
                json!({"product_image": u, "aspect_ratio": "21:9", "generation_mode": "fast", "image_context": u, "num_images": 1, "output_format": "png", "prompt": "p", "resolution": "1k", "return_base64": true, "seed": 0}),
            ),
        ];
        for (model, body) in bodies {
            let r = resolve_api(model, body.as_object().unwrap(), API);
            assert!(r.is_ok(), "{model} {body}: {r:?}");
            assert!(quote(Surface::Api, &r.unwrap().1).credits >= 1);
        }
    }

    #[test]
    fn every_tool_and_model_is_described() {
        for t in Tool::ALL {
            let s = spec(t);
            assert!(!s.where_next.contains(&t), "{t:?} suggests itself");
            assert!((1..=4).contains(&s.max_outputs));
            assert_eq!(ApiModel::for_tool(t).tool(), t);
        }
        for m in ApiModel::ALL {
            assert_eq!(ApiModel::parse(&m.name()), Some(m));
        }
        assert_eq!(ApiModel::TryonV16.name(), "tryon-v1.6");
    }
}
