//! Background Remove: U²-Netp salient-object segmentation (ONNX) at 320², joined by the pose
//! model's person mask when there is a person (so no limb is dropped), then refined at working
//! resolution with a guided filter and applied to the photo.
//!
//! The network runs on ONNX Runtime (the `ort` crate, loading `libonnxruntime` from the PyPI
//! wheel at run time — `onnxruntime-gpu`'s on a GPU node) when the library is there, else on
//! tract (pure Rust, about 2–5× slower on CPU). Both give the same mask (tested).

use std::path::Path;
use std::sync::Arc;

use atelier_core::tool::Background;
use fast_image_resize as fr;
use image::{DynamicImage, ImageEncoder, RgbImage, RgbaImage};
use tract_onnx::prelude::*;

use crate::imaging::{guided_filter, stretch, Plane};
use crate::imaging::{image_to_plane, plane_to_image, resize, resize_rgb, Encoded, EngineError};

/// The model's square input side.
const SIDE: usize = 320;
/// Refinement runs at most at this long side; larger photos get the alpha upsampled after.
const WORK_SIDE: u32 = 2048;

type Model = Arc<TypedRunnableModel>;

/// The runtime that executes the network.
#[derive(Clone)]
enum Backend {
    Tract(Model),
    /// `Session::run` takes `&mut`; jobs share one session in turn.
    Ort(Arc<std::sync::Mutex<ort::session::Session>>),
}

/// ONNX Runtime's environment: one per process.
static ORT_ENV: std::sync::OnceLock<Result<ort::environment::Environment, String>> =
    std::sync::OnceLock::new();

fn ort_env(lib: &Path) -> Result<ort::environment::Environment, String> {
    ORT_ENV
        .get_or_init(|| {
            ort::init_from(lib)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?
                .with_name("atelier")
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// The loaded segmentation model; cheap to clone, safe to share between jobs.
#[derive(Clone)]
pub struct BackgroundRemover {
    backend: Backend,
}

impl BackgroundRemover {
    /// Loads U²-Netp on ONNX Runtime from the shared library `ort_lib` (2 intra-op threads).
    pub fn load_ort(path: &Path, ort_lib: &Path) -> Result<Self, EngineError> {
        let err = |reason: String| EngineError::Load {
            path: path.display().to_string(),
            reason,
        };
        let env = ort_env(ort_lib).map_err(err)?;
        let builder = ort::session::Session::builder(&env).map_err(|e| err(e.to_string()))?;
        let mut builder = builder
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(2)
            .map_err(|e| err(e.to_string()))?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| err(e.to_string()))?;
        Ok(BackgroundRemover {
            backend: Backend::Ort(Arc::new(std::sync::Mutex::new(session))),
        })
    }

    /// Which runtime runs the network: "ort" or "tract".
    pub fn runtime(&self) -> &'static str {
        match self.backend {
            Backend::Tract(_) => "tract",
            Backend::Ort(_) => "ort",
        }
    }

    /// Loads and optimises U²-Netp (`u2netp.onnx`) on tract.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let err = |e: TractError| EngineError::Load {
            path: path.display().to_string(),
            reason: format!("{e:#}"),
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(err)?
            .with_input_fact(0, f32::fact([1, 3, SIDE, SIDE]).into())
            .map_err(err)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(BackgroundRemover {
            backend: Backend::Tract(model),
        })
    }

    /// The raw 320² saliency matte for an RGB photo, normalised to 0..1 as rembg does.
    pub fn matte(&self, rgb: &RgbImage) -> Result<Plane, EngineError> {
        let src = fr::images::Image::from_vec_u8(
            rgb.width(),
            rgb.height(),
            rgb.as_raw().clone(),
            fr::PixelType::U8x3,
        )
        .map_err(|e| EngineError::Run(e.to_string()))?;
        let small = resize(
            &src,
            SIDE as u32,
            SIDE as u32,
            fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3),
        );
        let px = small.buffer();
        let max = px.iter().copied().max().unwrap_or(1).max(1) as f32;
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let mut input = vec![0f32; 3 * SIDE * SIDE];
        for c in 0..3 {
            for i in 0..SIDE * SIDE {
                input[c * SIDE * SIDE + i] = (px[i * 3 + c] as f32 / max - MEAN[c]) / STD[c];
            }
        }
        let data: Vec<f32> = match &self.backend {
            Backend::Tract(model) => {
                let t: Tensor = tract_ndarray::Array4::from_shape_vec((1, 3, SIDE, SIDE), input)
                    .map_err(|e| EngineError::Run(e.to_string()))?
                    .into();
                let out = model
                    .run(tvec!(t.into()))
                    .map_err(|e| EngineError::Run(format!("{e:#}")))?;
                let pred = out[0]
                    .to_plain_array_view::<f32>()
                    .map_err(|e| EngineError::Run(format!("{e:#}")))?;
                pred.iter().copied().collect()
            }
            Backend::Ort(session) => {
                let run = |e: ort::Error| EngineError::Run(e.to_string());
                let t = ort::value::Tensor::from_array(([1usize, 3, SIDE, SIDE], input))
                    .map_err(run)?;
                let mut session = session
                    .lock()
                    .map_err(|_| EngineError::Run("the model session is poisoned".into()))?;
                let out = session.run(ort::inputs![t]).map_err(run)?;
                let (_, pred) = out[0].try_extract_tensor::<f32>().map_err(run)?;
                pred.to_vec()
            }
        };
        if data.len() != SIDE * SIDE {
            return Err(EngineError::Run(format!(
                "unexpected output size {}",
                data.len()
            )));
        }
        let (lo, hi) = data
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        let span = (hi - lo).max(1e-6);
        Ok(Plane::new(
            SIDE,
            SIDE,
            data.into_iter().map(|v| (v - lo) / span).collect(),
        ))
    }

    /// The refined full-resolution alpha (0..1) for a photo: the salient object.
    pub fn alpha(&self, rgb: &RgbImage) -> Result<Plane, EngineError> {
        let coarse = self.matte(rgb)?;
        self.refine(rgb, &coarse, None)
    }

    /// [`Self::alpha`] for Background Remove, person-aware (#21): a salient-object network is
    /// not a person model and drops limbs it finds less salient (the seated model's lower leg
    /// and boot). When the pose model sees a person, its person mask joins the matte before the
    /// refinement, so every body part it sees is kept and the guided filter still gives the
    /// edges; a photo without a person (a product) keeps the salient matte alone.
    pub fn person_alpha(&self, rgb: &RgbImage) -> Result<Plane, EngineError> {
        let coarse = self.matte(rgb)?;
        let prior = person_prior(rgb, &coarse)?;
        self.refine(rgb, &coarse, prior.as_ref())
    }

    /// The coarse matte upsampled and refined at working resolution (with `prior`, an
    /// image-sized 0..1 plane that may only add to it).
    fn refine(
        &self,
        rgb: &RgbImage,
        coarse: &Plane,
        prior: Option<&Plane>,
    ) -> Result<Plane, EngineError> {
        let (w, h) = (rgb.width(), rgb.height());
        // Work at the photo's size, up to WORK_SIDE on the long side.
        let scale = (WORK_SIDE as f32 / w.max(h) as f32).min(1.0);
        let (ww, wh) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let guide_rgb = if (ww, wh) == (w, h) {
            rgb.clone()
        } else {
            resize_rgb(rgb, ww, wh, fr::FilterType::Bilinear)?
        };
        let guide = Plane::new(
            ww as usize,
            wh as usize,
            guide_rgb
                .pixels()
                .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
                .collect(),
        );
        let mut up = image_to_plane(&resize(
            &plane_to_image(coarse),
            ww,
            wh,
            fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
        ));
        if let Some(prior) = prior {
            let p = if (prior.width, prior.height) == (ww as usize, wh as usize) {
                prior.clone()
            } else {
                image_to_plane(&resize(
                    &plane_to_image(prior),
                    ww,
                    wh,
                    fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
                ))
            };
            for (a, b) in up.data.iter_mut().zip(&p.data) {
                *a = a.max(*b);
            }
        }
        // The radius tracks the upsampling factor so the filter spans the coarse mask's blur.
        let r = ((ww.max(wh) as f32 / SIDE as f32) * 2.0).ceil().max(2.0) as usize;
        let mut q = guided_filter(&guide, &up, r, 1e-3);
        stretch(&mut q, 0.08, 0.92);
        if (ww, wh) == (w, h) {
            return Ok(q);
        }
        Ok(image_to_plane(&resize(
            &plane_to_image(&q),
            w,
            h,
            fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
        )))
    }

    /// Runs the tool: returns the PNG (RGBA when transparent, RGB on a solid color).
    pub fn run(&self, img: &DynamicImage, background: Background) -> Result<Encoded, EngineError> {
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        let alpha = self.person_alpha(&rgb)?;
        let mut png = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut png);
        match background {
            Background::Transparent => {
                let mut out = RgbaImage::new(w, h);
                for (i, (p, o)) in rgb.pixels().zip(out.pixels_mut()).enumerate() {
                    let a = (alpha.data[i].clamp(0.0, 1.0) * 255.0).round() as u8;
                    *o = image::Rgba([p[0], p[1], p[2], a]);
                }
                enc.write_image(out.as_raw(), w, h, image::ExtendedColorType::Rgba8)
                    .map_err(|e| EngineError::Encode(e.to_string()))?;
            }
            Background::Solid { color } => {
                let mut out = RgbImage::new(w, h);
                for (i, (p, o)) in rgb.pixels().zip(out.pixels_mut()).enumerate() {
                    let a = alpha.data[i].clamp(0.0, 1.0);
                    let mix = |f: u8, b: u8| (f as f32 * a + b as f32 * (1.0 - a)).round() as u8;
                    *o = image::Rgb([
                        mix(p[0], color.0[0]),
                        mix(p[1], color.0[1]),
                        mix(p[2], color.0[2]),
                    ]);
                }
                enc.write_image(out.as_raw(), w, h, image::ExtendedColorType::Rgb8)
                    .map_err(|e| EngineError::Encode(e.to_string()))?;
            }
        }
        Ok(Encoded {
            png,
            width: w,
            height: h,
        })
    }
}

/// What the pose model knows of the person in a photo, as a 0..1 plane at the photo's size, or
/// None when it sees no person (or only a part too small to trust: it needs a shoulder and a
/// hip). The pose model's crop is seeded with the salient matte's box.
fn person_prior(rgb: &RgbImage, coarse: &Plane) -> Result<Option<Plane>, EngineError> {
    use crate::pose::{PoseModel, LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER};
    let (w, h) = (rgb.width() as f32, rgb.height() as f32);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..coarse.height {
        for x in 0..coarse.width {
            if coarse.data[y * coarse.width + x] > 0.5 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    let person_box = (x0 <= x1).then(|| {
        let (sx, sy) = (w / coarse.width as f32, h / coarse.height as f32);
        (
            x0 as f32 * sx,
            y0 as f32 * sy,
            (x1 + 1) as f32 * sx,
            (y1 + 1) as f32 * sy,
        )
    });
    let Some(pose) = PoseModel::shared()?.pose(rgb, person_box)? else {
        return Ok(None);
    };
    let seen = |a: usize, b: usize| pose.visible(a) || pose.visible(b);
    if !(seen(LEFT_SHOULDER, RIGHT_SHOULDER) && seen(LEFT_HIP, RIGHT_HIP)) {
        return Ok(None);
    }
    // The pose model's mask is soft at 256² of its crop: its confident part only (above 0.5,
    // ramping to 1 at 0.8), so it adds limbs, not a halo; the refinement makes the edge.
    let mut mask = pose.mask;
    for v in mask.data.iter_mut() {
        *v = ((*v - 0.5) / 0.3).clamp(0.0, 1.0);
    }
    Ok(Some(mask))
}
