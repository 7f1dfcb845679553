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

/// The generative Try-On engine (FASHN VTON v1.5), when the node is built with the `vton`
/// feature and its weights are installed (`<models>/vton/`).
#[cfg(feature = "vton")]
pub type Vton = crate::vton::VtonEngine;

/// Without the `vton` feature there is no generative Try-On engine: a type with no values, so
/// the registry's arms for it type-check and can never run.
#[cfg(not(feature = "vton"))]
#[derive(Debug)]
pub enum Vton {}

#[cfg(not(feature = "vton"))]
impl Vton {
    pub fn name(&self) -> String {
        match *self {}
    }
    pub fn max_size(&self) -> (u32, u32) {
        match *self {}
    }
    pub fn run(
        &self,
        _: &DynamicImage,
        _: Option<&DynamicImage>,
        _: atelier_core::catalog::Category,
        _: Option<&str>,
        _: u8,
        _: &dyn Fn(f32),
    ) -> Result<Vec<crate::imaging::Encoded>, EngineError> {
        match *self {}
    }
}

/// The generative Try-On engine installed in `models_dir`, if any. Weights that do not match
/// their configuration are reported and left unused (Try-On stays the 2D engine).
pub fn installed_vton(models_dir: &std::path::Path) -> Option<std::sync::Arc<Vton>> {
    #[cfg(feature = "vton")]
    {
        match crate::vton::VtonEngine::installed(models_dir)? {
            Ok(v) => {
                let w = v.weights();
                tracing::info!(
                    engine = %v.name(),
                    tensors = w.tensors,
                    parameters = w.values,
                    dtype = ?w.dtype,
                    "VTON weights installed: Try-On runs the generative engine"
                );
                Some(std::sync::Arc::new(v))
            }
            Err(e) => {
                tracing::error!(error = %e, "VTON weights unusable: Try-On stays the 2D engine");
                None
            }
        }
    }
    #[cfg(not(feature = "vton"))]
    {
        if models_dir.join("vton/model.safetensors").exists() {
            tracing::warn!(
                "VTON weights are installed but this node was built without the `vton` feature: \
                 Try-On stays the 2D engine"
            );
        }
        None
    }
}

/// This node's own engine for `tool`, if it has one (`vton`: the generative Try-On engine, if
/// installed).
pub fn local(tool: Tool, bg: &BackgroundRemover, vton: Option<&Vton>) -> Option<Engine> {
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
        Tool::TryOn => match vton {
            // The generative engine: the model photo's aspect ratio fitted in the model's own
            // size (576×864 for the published weights: under the 1K tier's pixels, so 1K).
            Some(v) => {
                let (w, h) = v.max_size();
                e(
                    v.name(),
                    "sampling",
                    Some(Resolution::closest_to(w as u64 * h as u64)),
                    4,
                    &["image", "product_image"],
                )
            }
            // The 2D engine: outputs at the model photo's size, at most 2048² px.
            None => e(
                crate::tryon::ENGINE.into(),
                "fitting",
                Some(Resolution::K2),
                4,
                &["image", "product_image"],
            ),
        },
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
///
/// `progress` hears the fraction of the engine's work done, from engines that know it (the
/// generative Try-On: after each sampler step).
pub fn run(
    bg: &BackgroundRemover,
    vton: Option<&Vton>,
    options: &Resolved,
    prompt: Option<String>,
    img: &DynamicImage,
    refs: &HashMap<String, DynamicImage>,
    progress: &dyn Fn(f32),
) -> Result<(Vec<Produced>, String), EngineError> {
    let tool = options.tool();
    let name = || local(tool, bg, vton).map(|e| e.name).unwrap_or_default();
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
            if let Some(v) = vton {
                return v
                    .run(
                        img,
                        refs.get("product_image"),
                        o.category,
                        prompt.as_deref(),
                        outputs,
                        progress,
                    )
                    .map(|v| (v.into_iter().map(Produced::image).collect(), name()));
            }
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
