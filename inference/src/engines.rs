//! The node's engine registry: which tools this node runs with its own engines, what each
//! delivers (its largest resolution tier, its outputs, the inputs it uses), and the one
//! dispatch from a job's typed options to its engine.
//!
//! Invariant: both [`local`] and [`run`] match every tool (every [`Options`] variant) with no
//! catch-all arm, so a tool can only ever reach its own engine; a tool without one is refused
//! (`NoEngine`), never run as another. The node's capabilities (`GET /v1/capabilities`) are
//! built from [`local`] and the upstream engine, and are the edge's only answer to "can this
//! tool run here, and up to what".

use std::collections::HashMap;

use atelier_core::catalog::{Options, Resolved};
use atelier_core::pricing::{Resolution, VideoResolution};
use atelier_core::Tool;
use image::DynamicImage;
use serde::Serialize;

use crate::bgremove::BackgroundRemover;
use crate::imaging::EngineError;

/// What one of this node's own engines can deliver.
#[derive(Debug, Clone, Serialize)]
pub struct Engine {
    /// The engine's name, as reported with each result.
    pub name: String,
    /// The largest resolution tier it delivers at its own size (None: the tool has no tiers,
    /// or keeps the input's size); asking for more is refused before anything is held.
    pub max_resolution: Option<Resolution>,
    /// The largest video resolution (Image to Video).
    pub max_video_resolution: Option<VideoResolution>,
    /// Outputs per job.
    pub max_outputs: u8,
    /// The stage reported while it runs ("segmenting", "fitting"…).
    pub stage: &'static str,
    /// The job inputs it reads: `image`, then reference fields; any other reference is refused.
    pub inputs: &'static [&'static str],
}

/// This node's own engine for `tool`, if it has one.
pub fn local(tool: Tool, bg: &BackgroundRemover) -> Option<Engine> {
    let e = |name: String,
             stage: &'static str,
             max_resolution: Option<Resolution>,
             max_outputs: u8,
             inputs: &'static [&'static str]| {
        Some(Engine {
            name,
            stage,
            max_resolution,
            max_video_resolution: None,
            max_outputs,
            inputs,
        })
    };
    match tool {
        Tool::BackgroundRemove => e(
            format!("u2netp-onnx-{}+guided-filter", bg.runtime()),
            "segmenting",
            None,
            1,
            &["image"],
        ),
        Tool::Upscale => e(crate::upscale::ENGINE.into(), "upscaling", None, 1, &["image"]),
        Tool::Reframe => e(
            "reframe: subject-aware crop or mirror-blur expansion".into(),
            "segmenting",
            Some(Resolution::K1),
            1,
            &["image"],
        ),
        Tool::Packshot => e(
            format!(
                "packshot-2d: u2netp-{} matte, on-model skin removal, studio composite",
                bg.runtime()
            ),
            "composing",
            Some(Resolution::K4),
            4,
            // Image Context is accepted and not used by the 2D engine.
            &["image", "image_context"],
        ),
        Tool::FaceSwap => e(
            "face-swap-2d: MediaPipe face detection + 468-point mesh (tract), triangulated warp, Lab colour match, seamless blend".into(),
            "segmenting",
            Some(Resolution::K2),
            1,
            &["image", "face_reference"],
        ),
        // Outputs at the model photo's size, at most 2048² px.
        Tool::TryOn => e(
            crate::tryon::ENGINE.into(),
            "fitting",
            Some(Resolution::K2),
            4,
            &["image", "product_image"],
        ),
        Tool::ImageToVideo => Some(Engine {
            name: "video-2d: camera motion (push-in, pan, parallax) or End Image transition, H.264 (openh264) in MP4".into(),
            stage: "animating",
            max_resolution: None,
            max_video_resolution: Some(VideoResolution::P1080),
            max_outputs: 1,
            inputs: &["image", "end_image"],
        }),
        // The generative tools need a generative engine: the upstream engine, or a GPU node.
        Tool::ProductToModel
        | Tool::ModelSwap
        | Tool::CreateModel
        | Tool::CreateFace
        | Tool::Edit => None,
    }
}

/// One finished output, encoded.
pub struct Produced {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    /// A video's poster frame (its Gallery thumbnail is made from it); `None` for an image,
    /// whose thumbnail is made from the image itself.
    pub poster: Option<image::DynamicImage>,
}

impl Produced {
    fn image(e: crate::imaging::Encoded) -> Produced {
        Produced {
            bytes: e.png,
            mime: "image/png",
            width: e.width,
            height: e.height,
            poster: None,
        }
    }
}

/// Why a tool cannot run here.
pub const NO_ENGINE: &str = "no engine for this tool on this node: it needs a generative engine. \
    Set ATELIER_UPSTREAM_URL and ATELIER_UPSTREAM_KEY on the inference node to forward it to a \
    FASHN-compatible API (FASHN, or another Atelier).";

/// Runs a job's tool on decoded inputs (call it on a blocking thread): the outputs and the
/// engine's name. The options carry every default already (core's `catalog::validate`).
pub fn run(
    bg: &BackgroundRemover,
    options: &Resolved,
    prompt: Option<String>,
    img: &DynamicImage,
    refs: &HashMap<String, DynamicImage>,
) -> Result<(Vec<Produced>, String), EngineError> {
    let tool = options.tool();
    let name = || local(tool, bg).map(|e| e.name).unwrap_or_default();
    let outputs = options.outputs.clamp(1, 4);
    match &options.options {
        Options::Upscale(o) => {
            crate::upscale::run(img, o.factor).map(|e| (vec![Produced::image(e)], name()))
        }
        Options::Reframe(o) => crate::reframe::run(bg, img, o.aspect_ratio)
            .map(|(e, m)| (vec![Produced::image(e)], m.engine().to_string())),
        Options::Packshot(o) => {
            let spec = crate::packshot::PackshotSpec {
                aspect_ratio: o.aspect_ratio,
                resolution: o.resolution,
                variants: outputs,
                prompt,
            };
            crate::packshot::run(bg, img, &spec)
                .map(|v| (v.into_iter().map(Produced::image).collect(), name()))
        }
        Options::ImageToVideo(o) => {
            let spec = crate::video::VideoSpec {
                seconds: match o.duration {
                    atelier_core::pricing::Duration::S5 => 5,
                    atelier_core::pricing::Duration::S10 => 10,
                },
                height: match o.resolution {
                    VideoResolution::P480 => 480,
                    VideoResolution::P720 => 720,
                    VideoResolution::P1080 => 1080,
                },
                prompt,
            };
            let v = crate::video::run(bg, img, refs.get("end_image"), &spec)?;
            Ok((
                vec![Produced {
                    bytes: v.mp4,
                    mime: "video/mp4",
                    width: v.width,
                    height: v.height,
                    poster: Some(v.poster.into()),
                }],
                format!("{} ({})", name(), v.motion.label()),
            ))
        }
        Options::FaceSwap(o) => crate::faceswap::run(
            crate::face::FaceModels::shared()?,
            img,
            refs.get("face_reference"),
            o.face_match,
        )
        .map(|e| (vec![Produced::image(e)], name())),
        Options::TryOn(o) => {
            let spec = crate::tryon::TryOnSpec {
                category: Some(o.category),
                photo_type: crate::tryon::PhotoType::Auto,
                prompt,
                outputs,
            };
            crate::tryon::run(bg, img, refs.get("product_image"), &spec)
                .map(|(v, label)| (v.into_iter().map(Produced::image).collect(), label))
        }
        Options::BackgroundRemove(o) => bg
            .run(img, o.background)
            .map(|e| (vec![Produced::image(e)], name())),
        Options::ProductToModel(_)
        | Options::ModelSwap(_)
        | Options::CreateModel(_)
        | Options::CreateFace(_)
        | Options::Edit(_) => Err(EngineError::Input(format!("{}: {NO_ENGINE}", tool.label()))),
    }
}
