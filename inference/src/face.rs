//! Faces: MediaPipe's BlazeFace short-range detector and its 468-point face mesh (both
//! Apache-2.0), converted once from the `mediapipe==0.10.21` wheel's .tflite to ONNX
//! (`inference/models/mediapipe/README.md`), embedded in the binary and run on tract.
//!
//! [`FaceModels::faces`] follows MediaPipe's face-mesh graph: detect on a letterboxed 128² view,
//! decode the 896 SSD anchors, weighted NMS, a square ROI 1.5× the box rotated by the eye line,
//! the mesh on that 192² crop, then a second mesh pass on the ROI of the first pass's landmarks.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use fast_image_resize as fr;
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::imaging::bilinear;
use crate::imaging::EngineError;

static DETECTOR_ONNX: &[u8] = include_bytes!("../models/mediapipe/face_detection_short_range.onnx");
static MESH_ONNX: &[u8] = include_bytes!("../models/mediapipe/face_landmark.onnx");

const DET_SIDE: usize = 128;
const MESH_SIDE: usize = 192;
/// BlazeFace short range: a detection needs this sigmoid score.
const MIN_SCORE: f32 = 0.5;
/// Weighted NMS merges boxes overlapping more than this.
const NMS_IOU: f32 = 0.3;
/// The mesh's face-presence score (sigmoid) below which a crop holds no face.
const MIN_PRESENCE: f32 = 0.5;

/// Indices of the mesh's face outline, in order around the face (MediaPipe's
/// `FACEMESH_FACE_OVAL`, from the forehead's top clockwise on the image).
pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
/// Mesh landmarks: the outer corners of the right and left eye (subject's), the nose tip, the
/// upper and lower inner lip, the chin.
pub const RIGHT_EYE_OUTER: usize = 33;
pub const LEFT_EYE_OUTER: usize = 263;
pub const NOSE_TIP: usize = 1;
pub const UPPER_LIP: usize = 13;
pub const LOWER_LIP: usize = 14;
pub const CHIN: usize = 152;

type Model = Arc<TypedRunnableModel>;

/// The two face networks, loaded once.
pub struct FaceModels {
    detector: Model,
    mesh: Model,
    anchors: Vec<(f32, f32)>,
}

/// A detected face: the box and six keypoints (right eye, left eye, nose tip, mouth, right ear,
/// left ear), in image pixels.
#[derive(Debug, Clone)]
pub struct Detection {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
    pub keypoints: [(f32, f32); 6],
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
}

/// A face with its mesh: 468 landmarks in image pixels (z in the same unit, relative to the
/// face's centre; smaller is nearer the camera).
#[derive(Debug, Clone)]
pub struct Face {
    pub detection: Detection,
    pub landmarks: Vec<[f32; 3]>,
    pub presence: f32,
}

impl Face {
    pub fn point(&self, i: usize) -> (f32, f32) {
        (self.landmarks[i][0], self.landmarks[i][1])
    }

    /// The distance between the outer eye corners: the face's scale.
    pub fn eye_span(&self) -> f32 {
        let (a, b) = (self.point(RIGHT_EYE_OUTER), self.point(LEFT_EYE_OUTER));
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }

    /// The face outline as a polygon.
    pub fn oval(&self) -> Vec<(f32, f32)> {
        FACE_OVAL.iter().map(|&i| self.point(i)).collect()
    }

    /// The bounding box of the landmarks.
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        let mut b = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &self.landmarks {
            b.0 = b.0.min(p[0]);
            b.1 = b.1.min(p[1]);
            b.2 = b.2.max(p[0]);
            b.3 = b.3.max(p[1]);
        }
        b
    }

    /// Mouth opening: the inner lips' gap over the eye span.
    pub fn mouth_open(&self) -> f32 {
        let (u, l) = (self.point(UPPER_LIP), self.point(LOWER_LIP));
        ((u.0 - l.0).powi(2) + (u.1 - l.1).powi(2)).sqrt() / self.eye_span().max(1.0)
    }

    /// Head roll: the angle of the eye line, in degrees (0: level).
    pub fn roll_degrees(&self) -> f32 {
        let (a, b) = (self.point(RIGHT_EYE_OUTER), self.point(LEFT_EYE_OUTER));
        (b.1 - a.1).atan2(b.0 - a.0).to_degrees()
    }
}

/// A square region of the image rotated by `angle` (radians, clockwise on the image): the crop
/// a landmark network sees (the face mesh's, BlazePose's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Roi {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) side: f32,
    pub(crate) angle: f32,
}

impl Roi {
    /// Image point of the crop point (u, v), each in 0..1.
    pub(crate) fn to_image(self, u: f32, v: f32) -> (f32, f32) {
        let (lx, ly) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        let (s, c) = self.angle.sin_cos();
        (self.cx + c * lx - s * ly, self.cy + s * lx + c * ly)
    }

    /// Crop point (u, v) of the image point (x, y): the inverse of [`Roi::to_image`].
    pub(crate) fn to_crop(self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (s, c) = self.angle.sin_cos();
        (
            (c * dx + s * dy) / self.side + 0.5,
            (-s * dx + c * dy) / self.side + 0.5,
        )
    }

    /// The ROI MediaPipe derives from two eye points and a box: centred on the box, square on
    /// its long side, scaled 1.5×, rotated to level the eyes.
    fn around(b: (f32, f32, f32, f32), right_eye: (f32, f32), left_eye: (f32, f32)) -> Roi {
        let angle = (left_eye.1 - right_eye.1).atan2(left_eye.0 - right_eye.0);
        Roi {
            cx: (b.0 + b.2) / 2.0,
            cy: (b.1 + b.3) / 2.0,
            side: (b.2 - b.0).max(b.3 - b.1) * 1.5,
            angle,
        }
    }
}

fn load(bytes: &[u8], side: usize) -> Result<Model, EngineError> {
    let err = |e: TractError| EngineError::Load {
        path: "embedded MediaPipe face model".into(),
        reason: format!("{e:#}"),
    };
    tract_onnx::onnx()
        .model_for_read(&mut Cursor::new(bytes))
        .map_err(err)?
        .with_input_fact(0, f32::fact([1, side, side, 3]).into())
        .map_err(err)?
        .into_optimized()
        .map_err(err)?
        .into_runnable()
        .map_err(err)
}

/// BlazeFace short range's SSD anchors: stride 8 with 2 anchors per cell, then stride 16 with 6
/// (three layers of 2 merged), centres only (fixed anchor size 1).
fn anchors() -> Vec<(f32, f32)> {
    let mut a = Vec::with_capacity(896);
    for (stride, per_cell) in [(8usize, 2usize), (16, 6)] {
        let g = DET_SIDE / stride;
        for y in 0..g {
            for x in 0..g {
                for _ in 0..per_cell {
                    a.push(((x as f32 + 0.5) / g as f32, (y as f32 + 0.5) / g as f32));
                }
            }
        }
    }
    a
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let ix = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let iy = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    let inter = ix * iy;
    let area = |d: &Detection| (d.x1 - d.x0).max(0.0) * (d.y1 - d.y0).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their score-weighted mean.
fn weighted_nms(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !dets.is_empty() {
        let top = dets[0].clone();
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) =
            dets.into_iter().partition(|d| iou(&top, d) > NMS_IOU);
        dets = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut m = top.clone();
        let avg = |f: &dyn Fn(&Detection) -> f32| {
            cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
        };
        m.x0 = avg(&|d| d.x0);
        m.y0 = avg(&|d| d.y0);
        m.x1 = avg(&|d| d.x1);
        m.y1 = avg(&|d| d.y1);
        for k in 0..6 {
            m.keypoints[k] = (avg(&|d| d.keypoints[k].0), avg(&|d| d.keypoints[k].1));
        }
        out.push(m);
    }
    out
}

impl FaceModels {
    /// Loads both networks (about 0.3 s).
    pub fn load() -> Result<FaceModels, EngineError> {
        Ok(FaceModels {
            detector: load(DETECTOR_ONNX, DET_SIDE)?,
            mesh: load(MESH_ONNX, MESH_SIDE)?,
            anchors: anchors(),
        })
    }

    /// The process's one copy, loaded on first use.
    pub fn shared() -> Result<&'static FaceModels, EngineError> {
        static MODELS: OnceLock<Result<FaceModels, String>> = OnceLock::new();
        MODELS
            .get_or_init(|| FaceModels::load().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| EngineError::Run(e.clone()))
    }

    fn run(model: &Model, input: Vec<f32>, side: usize) -> Result<Vec<Vec<f32>>, EngineError> {
        let t: Tensor = tract_ndarray::Array4::from_shape_vec((1, side, side, 3), input)
            .map_err(|e| EngineError::Run(e.to_string()))?
            .into();
        let out = model
            .run(tvec!(t.into()))
            .map_err(|e| EngineError::Run(format!("{e:#}")))?;
        out.iter()
            .map(|o| {
                o.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(|e| EngineError::Run(format!("{e:#}")))
            })
            .collect()
    }

    /// Faces found by the detector, largest first, in image pixels.
    pub fn detect(&self, rgb: &RgbImage) -> Result<Vec<Detection>, EngineError> {
        let (w, h) = (rgb.width(), rgb.height());
        let side = w.max(h) as f32;
        // Letterbox: the image centred in a square, scaled to 128² (area-filtered).
        let scale = DET_SIDE as f32 / side;
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).clamp(1, DET_SIDE as u32),
            ((h as f32 * scale).round() as u32).clamp(1, DET_SIDE as u32),
        );
        let small = crate::imaging::resize_rgb(rgb, sw, sh, fr::FilterType::Bilinear)?;
        let (ox, oy) = ((DET_SIDE as u32 - sw) / 2, (DET_SIDE as u32 - sh) / 2);
        let mut input = vec![-1f32; DET_SIDE * DET_SIDE * 3];
        for (x, y, p) in small.enumerate_pixels() {
            let i = ((y + oy) as usize * DET_SIDE + (x + ox) as usize) * 3;
            for c in 0..3 {
                input[i + c] = p.0[c] as f32 / 127.5 - 1.0;
            }
        }
        let out = Self::run(&self.detector, input, DET_SIDE)?;
        let (reg, cls) = (&out[0], &out[1]);
        if reg.len() != 896 * 16 || cls.len() != 896 {
            return Err(EngineError::Run("unexpected face detector output".into()));
        }
        // Square coordinates (0..1) → image pixels.
        let to_img = |u: f32, v: f32| {
            (
                (u * DET_SIDE as f32 - ox as f32) / scale,
                (v * DET_SIDE as f32 - oy as f32) / scale,
            )
        };
        let d = DET_SIDE as f32;
        let mut dets = Vec::new();
        for (i, &(ax, ay)) in self.anchors.iter().enumerate() {
            let score = sigmoid(cls[i]);
            if score < MIN_SCORE {
                continue;
            }
            let r = &reg[i * 16..i * 16 + 16];
            let (cx, cy, bw, bh) = (r[0] / d + ax, r[1] / d + ay, r[2] / d, r[3] / d);
            let (x0, y0) = to_img(cx - bw / 2.0, cy - bh / 2.0);
            let (x1, y1) = to_img(cx + bw / 2.0, cy + bh / 2.0);
            let mut keypoints = [(0f32, 0f32); 6];
            for (k, kp) in keypoints.iter_mut().enumerate() {
                *kp = to_img(r[4 + 2 * k] / d + ax, r[5 + 2 * k] / d + ay);
            }
            dets.push(Detection {
                x0,
                y0,
                x1,
                y1,
                score,
                keypoints,
            });
        }
        let mut faces = weighted_nms(dets);
        faces.sort_by(|a, b| b.width().total_cmp(&a.width()));
        Ok(faces)
    }

    /// The mesh on one ROI: landmarks in image pixels and the presence score.
    fn mesh_on(&self, rgb: &RgbImage, roi: Roi) -> Result<(Vec<[f32; 3]>, f32), EngineError> {
        let mut input = vec![0f32; MESH_SIDE * MESH_SIDE * 3];
        let n = MESH_SIDE as f32;
        for v in 0..MESH_SIDE {
            for u in 0..MESH_SIDE {
                let (x, y) = roi.to_image((u as f32 + 0.5) / n, (v as f32 + 0.5) / n);
                let p = bilinear(rgb, x, y, false).map(|v| v / 255.0);
                input[(v * MESH_SIDE + u) * 3..][..3].copy_from_slice(&p);
            }
        }
        let out = Self::run(&self.mesh, input, MESH_SIDE)?;
        let (pts, flag) = if out[0].len() == 1404 {
            (&out[0], &out[1])
        } else {
            (&out[1], &out[0])
        };
        if pts.len() != 1404 || flag.is_empty() {
            return Err(EngineError::Run("unexpected face mesh output".into()));
        }
        let zs = roi.side / n;
        let lm = pts
            .chunks_exact(3)
            .map(|p| {
                let (x, y) = roi.to_image(p[0] / n, p[1] / n);
                [x, y, p[2] * zs]
            })
            .collect();
        Ok((lm, sigmoid(flag[0])))
    }

    /// Faces with their meshes, largest first. A crop the mesh finds no face in is dropped.
    pub fn faces(&self, rgb: &RgbImage) -> Result<Vec<Face>, EngineError> {
        let mut out = Vec::new();
        for det in self.detect(rgb)?.into_iter().take(4) {
            let roi = Roi::around(
                (det.x0, det.y0, det.x1, det.y1),
                det.keypoints[0],
                det.keypoints[1],
            );
            let (lm, presence) = self.mesh_on(rgb, roi)?;
            if presence < MIN_PRESENCE {
                continue;
            }
            let mut face = Face {
                detection: det,
                landmarks: lm,
                presence,
            };
            // Second pass on the landmarks' own ROI, as MediaPipe tracks between frames.
            let roi2 = Roi::around(
                face.bounds(),
                face.point(RIGHT_EYE_OUTER),
                face.point(LEFT_EYE_OUTER),
            );
            let (lm2, p2) = self.mesh_on(rgb, roi2)?;
            if p2 >= MIN_PRESENCE {
                face.landmarks = lm2;
                face.presence = p2;
            }
            out.push(face);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_match_the_model_outputs() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], (1.0 / 32.0, 1.0 / 32.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], (1.0 / 16.0, 1.0 / 16.0));
        assert_eq!(a[895], (15.0 / 16.0, 15.0 / 16.0));
    }

    #[test]
    fn roi_maps_the_crop_centre_to_its_centre_and_rotates() {
        let r = Roi {
            cx: 100.0,
            cy: 50.0,
            side: 40.0,
            angle: std::f32::consts::FRAC_PI_2,
        };
        let (x, y) = r.to_image(0.5, 0.5);
        assert!((x - 100.0).abs() < 1e-4 && (y - 50.0).abs() < 1e-4);
        // The crop's +x axis points down the image when rotated by 90°.
        let (x, y) = r.to_image(1.0, 0.5);
        assert!(
            (x - 100.0).abs() < 1e-3 && (y - 70.0).abs() < 1e-3,
            "{x} {y}"
        );
    }

    #[test]
    fn nms_merges_overlapping_boxes_by_score() {
        let d = |x0: f32, s: f32| Detection {
            x0,
            y0: 0.0,
            x1: x0 + 10.0,
            y1: 10.0,
            score: s,
            keypoints: [(x0, 0.0); 6],
        };
        let out = weighted_nms(vec![d(0.0, 0.9), d(1.0, 0.9), d(50.0, 0.6)]);
        assert_eq!(out.len(), 2);
        assert!((out[0].x0 - 0.5).abs() < 1e-4);
        assert_eq!(out[1].x0, 50.0);
    }
}
