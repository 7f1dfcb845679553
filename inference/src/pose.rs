//! Body pose: MediaPipe's BlazePose landmark model, full variant (Apache-2.0), converted once
//! from the `mediapipe==0.10.21` wheel's .tflite to ONNX with its weights stored as float16
//! (`inference/models/mediapipe/README.md`), embedded in the binary and run on tract.
//!
//! BlazePose's own person detector does not convert (tf2onnx fails on its sparse weights), so
//! the first region of interest comes from the person's box (the matte's, or the whole image);
//! the model's two auxiliary landmarks (body centre and scale point) then give the second,
//! aligned ROI, as MediaPipe's tracking does between frames.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::face::Roi;
use crate::imaging::bilinear;
use crate::imaging::EngineError;
use crate::imaging::Plane;

static POSE_ONNX: &[u8] = include_bytes!("../models/mediapipe/pose_landmark_full.onnx");

const SIDE: usize = 256;
/// The model's pose-presence score (already a probability) below which a crop holds no person.
const MIN_PRESENCE: f32 = 0.5;

/// Landmark indices (the subject's left and right).
pub const NOSE: usize = 0;
pub const LEFT_SHOULDER: usize = 11;
pub const RIGHT_SHOULDER: usize = 12;
pub const LEFT_ELBOW: usize = 13;
pub const RIGHT_ELBOW: usize = 14;
pub const LEFT_WRIST: usize = 15;
pub const RIGHT_WRIST: usize = 16;
pub const LEFT_HIP: usize = 23;
pub const RIGHT_HIP: usize = 24;
pub const LEFT_KNEE: usize = 25;
pub const RIGHT_KNEE: usize = 26;
pub const LEFT_ANKLE: usize = 27;
pub const RIGHT_ANKLE: usize = 28;

/// One landmark in image pixels, with its visibility (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landmark {
    pub x: f32,
    pub y: f32,
    pub visibility: f32,
}

/// A person's 33 landmarks and the model's person mask, in image pixels.
#[derive(Debug, Clone)]
pub struct Pose {
    pub landmarks: Vec<Landmark>,
    pub presence: f32,
    /// The person mask (0..1) at the image's size.
    pub mask: Plane,
}

impl Pose {
    pub fn point(&self, i: usize) -> (f32, f32) {
        (self.landmarks[i].x, self.landmarks[i].y)
    }

    pub fn visible(&self, i: usize) -> bool {
        self.landmarks[i].visibility >= 0.5
    }

    fn mid(&self, a: usize, b: usize) -> (f32, f32) {
        let (p, q) = (self.point(a), self.point(b));
        ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0)
    }

    /// Midpoint of the shoulders.
    pub fn shoulder_mid(&self) -> (f32, f32) {
        self.mid(LEFT_SHOULDER, RIGHT_SHOULDER)
    }

    /// Midpoint of the hips.
    pub fn hip_mid(&self) -> (f32, f32) {
        self.mid(LEFT_HIP, RIGHT_HIP)
    }

    /// Distance between the shoulder joints.
    pub fn shoulder_span(&self) -> f32 {
        dist(self.point(LEFT_SHOULDER), self.point(RIGHT_SHOULDER))
    }

    /// Distance from the shoulders' midpoint to the hips' midpoint.
    pub fn torso_length(&self) -> f32 {
        dist(self.shoulder_mid(), self.hip_mid())
    }
}

pub fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// MediaPipe's pose ROI from the auxiliary landmarks: centred on the body centre, the side twice
/// the distance to the scale point times 1.25, rotated so the scale point is straight up.
fn roi_from_aux(center: (f32, f32), scale: (f32, f32)) -> Roi {
    let (vx, vy) = (scale.0 - center.0, scale.1 - center.1);
    Roi {
        cx: center.0,
        cy: center.1,
        side: 2.0 * (vx * vx + vy * vy).sqrt() * 1.25,
        angle: vx.atan2(-vy),
    }
}

type Model = Arc<TypedRunnableModel>;

/// The pose network, loaded once.
pub struct PoseModel {
    model: Model,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl PoseModel {
    /// Loads the network (about 0.5 s).
    pub fn load() -> Result<PoseModel, EngineError> {
        let err = |e: TractError| EngineError::Load {
            path: "embedded MediaPipe pose model".into(),
            reason: format!("{e:#}"),
        };
        let model = tract_onnx::onnx()
            .model_for_read(&mut Cursor::new(POSE_ONNX))
            .map_err(err)?
            .with_input_fact(0, f32::fact([1, SIDE, SIDE, 3]).into())
            .map_err(err)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(PoseModel { model })
    }

    /// The process's one copy, loaded on first use.
    pub fn shared() -> Result<&'static PoseModel, EngineError> {
        static MODEL: OnceLock<Result<PoseModel, String>> = OnceLock::new();
        MODEL
            .get_or_init(|| PoseModel::load().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| EngineError::Run(e.clone()))
    }

    /// Landmarks (39, in image pixels, with visibility), presence, and the crop's mask logits.
    fn run_on(
        &self,
        rgb: &RgbImage,
        roi: Roi,
    ) -> Result<(Vec<Landmark>, f32, Vec<f32>), EngineError> {
        let n = SIDE as f32;
        let mut input = vec![0f32; SIDE * SIDE * 3];
        for v in 0..SIDE {
            for u in 0..SIDE {
                let (x, y) = roi.to_image((u as f32 + 0.5) / n, (v as f32 + 0.5) / n);
                let p = bilinear(rgb, x, y, false).map(|v| v / 255.0);
                input[(v * SIDE + u) * 3..][..3].copy_from_slice(&p);
            }
        }
        let t: Tensor = tract_ndarray::Array4::from_shape_vec((1, SIDE, SIDE, 3), input)
            .map_err(|e| EngineError::Run(e.to_string()))?
            .into();
        let out = self
            .model
            .run(tvec!(t.into()))
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        let plain = |i: usize| -> Result<Vec<f32>, EngineError> {
            out.get(i)
                .ok_or_else(|| EngineError::Run("pose model: missing output".into()))?
                .to_plain_array_view::<f32>()
                .map(|v| v.iter().copied().collect())
                .map_err(|e| EngineError::Run(format!("{e:#}")))
        };
        let (lm, flag, seg) = (plain(0)?, plain(1)?, plain(2)?);
        if lm.len() != 195 || flag.is_empty() || seg.len() != SIDE * SIDE {
            return Err(EngineError::Run("unexpected pose model output".into()));
        }
        let landmarks = lm
            .chunks_exact(5)
            .map(|p| {
                let (x, y) = roi.to_image(p[0] / n, p[1] / n);
                Landmark {
                    x,
                    y,
                    visibility: sigmoid(p[3]),
                }
            })
            .collect();
        Ok((landmarks, flag[0], seg))
    }

    /// The person's pose, or `None` when the model sees no person. `person_box` (x0, y0, x1,
    /// y1) seeds the first crop; without it the whole image is used.
    pub fn pose(
        &self,
        rgb: &RgbImage,
        person_box: Option<(f32, f32, f32, f32)>,
    ) -> Result<Option<Pose>, EngineError> {
        let (w, h) = (rgb.width() as f32, rgb.height() as f32);
        let b = person_box.unwrap_or((0.0, 0.0, w, h));
        let first = Roi {
            cx: (b.0 + b.2) / 2.0,
            cy: (b.1 + b.3) / 2.0,
            side: (b.2 - b.0).max(b.3 - b.1) * 1.15,
            angle: 0.0,
        };
        let (mut lm, mut presence, mut seg) = self.run_on(rgb, first)?;
        let mut roi = first;
        if presence < MIN_PRESENCE {
            return Ok(None);
        }
        // Second pass on the model's own ROI; kept when it still sees the person.
        let second = roi_from_aux((lm[33].x, lm[33].y), (lm[34].x, lm[34].y));
        if second.side.is_finite() && second.side > 8.0 {
            let (lm2, p2, seg2) = self.run_on(rgb, second)?;
            if p2 >= MIN_PRESENCE {
                (lm, presence, seg, roi) = (lm2, p2, seg2, second);
            }
        }
        lm.truncate(33);
        // The mask back in image pixels.
        let (wu, hu) = (rgb.width() as usize, rgb.height() as usize);
        let mut mask = vec![0f32; wu * hu];
        for y in 0..hu {
            for x in 0..wu {
                let (u, v) = roi.to_crop(x as f32 + 0.5, y as f32 + 0.5);
                if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                    continue;
                }
                let (fx, fy) = (u * SIDE as f32 - 0.5, v * SIDE as f32 - 0.5);
                let (x0, y0) = (fx.floor().max(0.0) as usize, fy.floor().max(0.0) as usize);
                let (x1, y1) = ((x0 + 1).min(SIDE - 1), (y0 + 1).min(SIDE - 1));
                let (ax, ay) = (
                    (fx - x0 as f32).clamp(0.0, 1.0),
                    (fy - y0 as f32).clamp(0.0, 1.0),
                );
                let g = |xx: usize, yy: usize| seg[yy * SIDE + xx];
                let top = g(x0, y0) * (1.0 - ax) + g(x1, y0) * ax;
                let bot = g(x0, y1) * (1.0 - ax) + g(x1, y1) * ax;
                mask[y * wu + x] = sigmoid(top * (1.0 - ay) + bot * ay);
            }
        }
        Ok(Some(Pose {
            landmarks: lm,
            presence,
            mask: Plane::new(wu, hu, mask),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_round_trips_and_aligns_the_scale_point_up() {
        let r = roi_from_aux((100.0, 200.0), (130.0, 100.0));
        for (u, v) in [(0.1, 0.2), (0.5, 0.5), (0.9, 0.7)] {
            let (x, y) = r.to_image(u, v);
            let (u2, v2) = r.to_crop(x, y);
            assert!((u - u2).abs() < 1e-4 && (v - v2).abs() < 1e-4);
        }
        // The scale point lies straight above the centre in the crop.
        let (u, v) = r.to_crop(130.0, 100.0);
        assert!((u - 0.5).abs() < 1e-4, "u {u}");
        assert!(v < 0.5);
        let upright = roi_from_aux((0.0, 0.0), (0.0, -10.0));
        assert!(upright.angle.abs() < 1e-6);
        assert!((upright.side - 25.0).abs() < 1e-4);
    }
}
